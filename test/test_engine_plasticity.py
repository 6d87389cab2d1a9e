"""FEAGI's plasticity vectors (NEURON_MODEL §4b): fired sets and every weight, 120 bursts.

Replayed through `feagi-hailo run --record --record-weights`, the reference engine, two
partition threads, and a checkpoint at burst 60 restored into a fresh engine (CLI too).
"""

import json
from pathlib import Path

from feagi_hailo_ros.brain.builder import load_brain
from feagi_hailo_ros.cli.main import main
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.reference import ReferenceEngine
from feagi_hailo_ros.engine.replay import FiredRecorder, read_injections, WeightRecorder
from feagi_hailo_ros.engine.state import CheckpointError
import pytest

VECTORS = Path(__file__).parent / 'data' / 'conformance'
NAMES = ['plastic_basic', 'plastic_window']
BURSTS = 120


def expected(name: str, kind: str) -> str:
    """The text of a vector's fired or weights file."""
    return (VECTORS / f'{name}.{kind}.jsonl').read_text()


def model_of(name: str) -> EngineModel:
    return EngineModel.from_connectome(load_brain(str(VECTORS / f'{name}.json'), cache=False))


def replay(engine, model, tmp_path, first=0, last=BURSTS, weights_of=None, tag='run'):
    """Run bursts [first, last) with the vector's injections; return (fired, weights) text."""
    injections = read_injections(VECTORS / f'{tag_name(model)}.inject.jsonl', model.layout)
    fired_out, weight_out = tmp_path / f'{tag}.fired', tmp_path / f'{tag}.weights'
    with FiredRecorder(fired_out, model.layout) as fired:
        weights = WeightRecorder(weight_out, model)
        for burst in range(first, last):
            if burst in injections:
                engine.inject_indices(*injections[burst])
            fired.write(burst, engine.burst())
            weights.write(burst, weights_of(engine))
        weights.close()
    return fired_out.read_text(), weight_out.read_text()


def tag_name(model: EngineModel) -> str:
    return 'plastic_basic' if 'cp01a0' in model.layout.ids else 'plastic_window'


@pytest.mark.parametrize('name', NAMES)
def test_run_records_fired_sets_and_weights(name, tmp_path, capsys):
    """`run --inject --record --record-weights` writes both files exactly."""
    fired, weights = tmp_path / 'fired.jsonl', tmp_path / 'weights.jsonl'
    assert main(['run', '--genome', str(VECTORS / f'{name}.json'), '--bursts', str(BURSTS),
                 '--inject', str(VECTORS / f'{name}.inject.jsonl'), '--record', str(fired),
                 '--record-weights', str(weights), '--no-cache']) == 0
    assert fired.read_text() == expected(name, 'fired')
    assert weights.read_text() == expected(name, 'weights')
    assert 'bursts/s' in capsys.readouterr().out


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('how', ['reference', 'threads'])
def test_reference_and_threads_reproduce_the_vectors(name, how, tmp_path):
    model = model_of(name)
    if how == 'reference':
        engine = ReferenceEngine(model)
        got = replay(engine, model, tmp_path, weights_of=lambda e: e.plastic_weight)
        assert engine.rule_hits['ltp'] and engine.rule_hits['ltd']
        assert engine.rule_hits['ltd_floor'] or name == 'plastic_window'
    else:
        engine = BurstEngine(model, partitions=2, threads=True)
        try:
            got = replay(engine, model, tmp_path, weights_of=lambda e: e.plastic.magnitude)
        finally:
            engine.close()
    assert got == (expected(name, 'fired'), expected(name, 'weights'))


@pytest.mark.parametrize('name', NAMES)
def test_checkpoint_at_burst_60_resumes_learning_exactly(name, tmp_path):
    """A checkpoint carries weights and window history: a restored run learns on the same."""
    model = model_of(name)
    magnitude = lambda e: e.plastic.magnitude     # noqa: E731
    first = BurstEngine(model)
    head = replay(first, model, tmp_path, 0, 60, magnitude, 'head')
    first.checkpoint(tmp_path / 'at60.npz')
    second = BurstEngine(model_of(name))
    second.restore(tmp_path / 'at60.npz')
    tail = replay(second, second.model, tmp_path, 60, BURSTS, magnitude, 'tail')
    assert head[0] + tail[0] == expected(name, 'fired')
    assert head[1] + tail[1] == expected(name, 'weights')


def test_cli_checkpoint_and_restore_at_60(tmp_path):
    name = 'plastic_window'
    base = ['run', '--genome', str(VECTORS / f'{name}.json'), '--inject',
            str(VECTORS / f'{name}.inject.jsonl'), '--no-cache', '--bursts', '60']
    files = {k: tmp_path / k for k in ('f1', 'w1', 'f2', 'w2', 'c.npz')}
    assert main(base + ['--record', str(files['f1']), '--record-weights', str(files['w1']),
                        '--checkpoint', str(files['c.npz'])]) == 0
    assert main(base + ['--record', str(files['f2']), '--record-weights', str(files['w2']),
                        '--restore', str(files['c.npz'])]) == 0
    assert files['f1'].read_text() + files['f2'].read_text() == expected(name, 'fired')
    assert files['w1'].read_text() + files['w2'].read_text() == expected(name, 'weights')


def test_checkpoint_of_other_plastic_pairs_is_refused(tmp_path):
    """Same areas and synapses, other plastic parameters: refused, naming the plastic pairs."""
    genome = json.loads((VECTORS / 'plastic_window.json').read_text())
    genome['blueprint']['_____10c-cw2pre-cx-dstmap-d']['cw2pst'][0][5] = 4    # ltp 5 -> 4
    other = BurstEngine(EngineModel.from_connectome(load_brain(genome, cache=False)))
    engine = BurstEngine(model_of('plastic_window'))
    for _ in range(3):
        other.inject_indices([0, 1, 2], [50.0] * 3)
        other.burst()
    other.checkpoint(tmp_path / 'other.npz')
    before = engine.state
    with pytest.raises(CheckpointError, match='plastic_pairs'):
        engine.restore(tmp_path / 'other.npz')
    after = engine.state
    assert after.burst_count == before.burst_count == 0
    for key, array in before.plastic.items():
        assert (after.plastic[key] == array).all(), key
