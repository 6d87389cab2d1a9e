"""`feagi-hailo run` options and `feagi-hailo bench --json`."""

import json
from pathlib import Path

from feagi_hailo_ros.cli.main import main
import pytest

VECTORS = Path(__file__).parent / 'data' / 'conformance'
PROBE = VECTORS / 'conformance_probe.json'
INJECT = VECTORS / 'conformance_probe.inject.jsonl'


def test_run_checkpoint_then_restore_continues_the_record(tmp_path):
    """60 bursts + checkpoint, then restore + 60 bursts == the first 120 lines of the vector."""
    first, second, state = tmp_path / 'a.jsonl', tmp_path / 'b.jsonl', tmp_path / 's.npz'
    base = ['run', '--genome', str(PROBE), '--inject', str(INJECT), '--no-cache']
    assert main(base + ['--bursts', '60', '--record', str(first),
                        '--checkpoint', str(state)]) == 0
    assert main(base + ['--bursts', '60', '--record', str(second),
                        '--restore', str(state)]) == 0
    lines = first.read_text().splitlines() + second.read_text().splitlines()
    assert lines == (VECTORS / 'conformance_probe.fired.jsonl').read_text().splitlines()
    assert json.loads(lines[60])['burst'] == 60


def test_run_two_threads_matches_the_vector(tmp_path):
    """--threads 2 records the same fired sets."""
    out = tmp_path / 'fired.jsonl'
    assert main(['run', '--genome', str(PROBE), '--inject', str(INJECT), '--bursts', '120',
                 '--record', str(out), '--threads', '2', '--no-cache']) == 0
    assert out.read_text() == (VECTORS / 'conformance_probe.fired.jsonl').read_text()


def test_run_reports_bad_injection_file(tmp_path, capsys):
    """A malformed injection line is an error naming the file and line."""
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"burst": 0, "area": "iin000", "x": 0, "y": 0, "z": 0, "p": 1}\n'
                   '{"burst": 1, "area": "zzz", "x": 0, "y": 0, "z": 0, "p": 1}\n')
    assert main(['run', '--genome', str(PROBE), '--inject', str(bad), '--bursts', '2',
                 '--no-cache']) == 1
    err = capsys.readouterr().err
    assert 'bad.jsonl:2' in err and 'zzz' in err


def test_run_synthetic(capsys):
    """--synthetic N runs the brain helper's synthetic genome."""
    pytest.importorskip('feagi_hailo_ros.brain.synth')
    assert main(['run', '--synthetic', '2000', '--bursts', '5', '--no-cache']) == 0
    assert '5 bursts of' in capsys.readouterr().out


def test_bench_json_report(capsys):
    """The bench command with --json prints one JSON object with the issue's fields."""
    assert main(['bench', '--workload', 'w100k', '--bursts', '5', '--warmup', '2',
                 '--json']) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ('neurons', 'synapses', 'bursts', 'fired_per_burst', 'ms_per_burst_p50',
                'ms_per_burst_p99', 'neuron_updates_per_s', 'synaptic_events_per_s',
                'peak_rss_mb', 'build_s'):
        assert key in report, key
    assert report['neurons'] == 100_000 and report['synapses'] == 1_000_000
    assert report['bursts'] == 5
    assert 0 < report['ms_per_burst_p50'] <= report['ms_per_burst_p99']
