"""`feagi-hailo export` and `feagi-hailo devices`, and `run --device hailo` on the fake."""

import json
import shutil

from feagi_hailo_ros.cli.main import main as cli_main
from feagi_hailo_ros.devices.selfcheck import FRAME_DENSITIES
import numpy as np
import test_devices_conftest_helpers as helpers
from test_devices_conftest_helpers import ESSENTIAL, ESSENTIAL_INJECT, PROBE

fake_hailo = helpers.fake_hailo


def test_export_writes_onnx_manifest_calibration_and_compile_script(tmp_path, capsys):
    out = tmp_path / 'export'
    assert cli_main(['export', '--genome', str(PROBE), '--out', str(out), '--no-cache',
                     '--calibration-samples', '16']) == 0
    text = capsys.readouterr().out
    assert f'python3 {out / "hailo0" / "compile_hef.py"}' in text
    assert 'max error 0 ' in text
    part = out / 'hailo0'
    manifest = json.loads((part / 'manifest.json').read_text())
    assert manifest['format'] == 'feagi-hailo-partition/1'
    assert manifest['targets'] and manifest['target_ranges']
    for spec in manifest['inputs']:
        calib = np.load(part / 'calib' / f'{spec["name"]}.npy')
        assert calib.shape == (16, *spec['hef_shape'])
        assert calib[-1].max() == np.float32(spec['max'])      # one sample reaches the bound
    for spec in manifest['outputs']:
        assert spec['bits'] in (8, 16) and spec['scale'] > 0
        assert {m['area'] for m in spec['members']} <= set(manifest['targets'])
    assert set(np.load(part / 'calib.npz').files) == {s['name'] for s in manifest['inputs']}
    assert all(spec['onnx_node'] for spec in manifest['outputs'])
    assert 'ClientRunner' in (part / 'compile_hef.py').read_text()
    assert 'compile_hef.py' in (part / 'compile.sh').read_text()
    assert manifest['selfcheck']['frames'] == len(FRAME_DENSITIES)
    frames = np.load(part / 'selfcheck.npz')          # recorded frames for the device at open
    for spec in manifest['outputs']:
        assert frames[f'expected.{spec["name"]}'].shape == (len(FRAME_DENSITIES), *spec['dims'])
        assert spec['error_bound'] == 0 if spec['exact'] else spec['error_bound'] > 0
    plan = json.loads((out / 'plan.json').read_text())
    assert plan['partitions'][0]['name'] == 'hailo0' and plan['report']


def test_export_with_nothing_for_a_device_says_so(tmp_path, capsys):
    rc = cli_main(['export', '--genome', str(ESSENTIAL), '--out', str(tmp_path),
                   '--partition', 'none', '--no-cache'])
    assert rc == 1 and 'nothing to export' in capsys.readouterr().out


def test_devices_without_hailort(capsys):
    assert cli_main(['devices']) == 0
    text = capsys.readouterr().out
    assert 'emulator: onnxruntime' in text and 'not installed' in text
    assert cli_main(['devices', '--json']) == 0
    info = json.loads(capsys.readouterr().out)
    assert info['hailo']['devices'] == [] and info['emulator']['available'] is True


def test_devices_and_run_on_fake_hailo(fake_hailo, tmp_path, capsys):
    assert cli_main(['devices']) == 0
    assert 'HAILO8' in capsys.readouterr().out
    out = tmp_path / 'exp'
    spec = 'c__bac,c__for,omot00'
    assert cli_main(['export', '--genome', str(ESSENTIAL), '--out', str(out), '--partition',
                     spec, '--no-cache']) == 0
    shutil.copy(out / 'hailo0' / 'model.onnx', out / 'hailo0' / 'model.hef')
    records = {}
    for device in ('cpu', 'hailo'):
        rec = tmp_path / f'{device}.jsonl'
        assert cli_main(['run', '--genome', str(ESSENTIAL), '--bursts', '60', '--inject',
                         str(ESSENTIAL_INJECT), '--record', str(rec), '--device', device,
                         '--partition', spec, '--hef-dir', str(out), '--no-cache']) == 0
        records[device] = rec.read_text()
    # the self-check frames and the inference at open, 60 bursts; the next burst's job may
    # already have run (prefetch) when the run ends
    frames = len(FRAME_DENSITIES)
    assert records['cpu'] == records['hailo'] and fake_hailo.runs - frames in (61, 62)
    capsys.readouterr()
    rc = cli_main(['run', '--genome', str(ESSENTIAL), '--bursts', '1', '--device', 'hailo',
                   '--partition', 'c__bac', '--hef-dir', str(out), '--no-cache'])
    assert rc == 1 and 'export and compile again' in capsys.readouterr().err


def test_bench_device_emulator_reports_the_time_split(capsys):
    assert cli_main(['bench', '--device', 'emulator', '--synthetic', '3000', '--bursts', '10',
                     '--warmup', '2', '--repeats', '1', '--latency-ms', '2', '--json']) == 0
    report = json.loads(capsys.readouterr().out)
    hybrid = report['results']['emulator_2ms']
    assert hybrid['identical_fired_sets'] is True
    assert hybrid['device_ms'] >= 1.9                 # each inference lasts the latency
    assert {'host_ms', 'transfer_ms', 'wait_ms'} <= set(hybrid)
    assert report['results']['cpu']['ms_p50'] > 0
