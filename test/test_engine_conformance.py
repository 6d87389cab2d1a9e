"""Replays of FEAGI's conformance vectors: `feagi-hailo run` and the reference must match."""

from pathlib import Path

from feagi_hailo_ros.brain.builder import load_brain
from feagi_hailo_ros.cli.main import main
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.reference import ReferenceEngine
from feagi_hailo_ros.engine.replay import FiredRecorder, read_injections
import pytest

DATA = Path(__file__).parent / 'data'
VECTORS = DATA / 'conformance'
GENOMES = ['barebones_genome', 'conformance_probe', 'essential_genome',
           'pioneer2_basic_genome']


def genome_path(name: str) -> Path:
    """Return the genome file of a conformance vector."""
    for folder in (DATA, VECTORS):
        if (folder / f'{name}.json').exists():
            return folder / f'{name}.json'
    raise FileNotFoundError(name)


@pytest.mark.parametrize('name', GENOMES)
def test_run_records_the_conformance_vector(name, tmp_path, capsys):
    """`run --genome G --bursts 120 --inject I --record OUT` writes G.fired.jsonl exactly."""
    out = tmp_path / 'fired.jsonl'
    code = main(['run', '--genome', str(genome_path(name)), '--bursts', '120', '--inject',
                 str(VECTORS / f'{name}.inject.jsonl'), '--record', str(out), '--no-cache'])
    assert code == 0
    expected = (VECTORS / f'{name}.fired.jsonl').read_text().splitlines()
    got = out.read_text().splitlines()
    assert len(got) == len(expected) == 120
    for line, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f'{name}: burst {line} differs'
    assert 'bursts/s' in capsys.readouterr().out


@pytest.mark.parametrize('name', GENOMES)
def test_reference_reproduces_the_conformance_vector(name, tmp_path):
    """The per-neuron reference reproduces the same vectors (it is the oracle)."""
    model = EngineModel.from_connectome(load_brain(str(genome_path(name)), cache=False))
    injections = read_injections(VECTORS / f'{name}.inject.jsonl', model.layout)
    engine = ReferenceEngine(model)
    out = tmp_path / 'ref.jsonl'
    with FiredRecorder(out, model.layout) as recorder:
        for burst in range(120):
            if burst in injections:
                engine.inject_indices(*injections[burst])
            recorder.write(burst, engine.burst())
    assert out.read_text() == (VECTORS / f'{name}.fired.jsonl').read_text()
