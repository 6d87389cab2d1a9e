"""Fast engine = reference on random plastic brains, burst by burst (NEURON_MODEL §4b)."""

from collections import Counter
import warnings

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.reference import ReferenceEngine
from feagi_hailo_ros.testing.plastic_genomes import random_plastic_genome
import numpy as np
import pytest

SEEDS = range(30)
HITS: Counter = Counter()


def injections(model, bursts):
    """Per burst (indices, potentials) of the generator's injections."""
    out = []
    for items in bursts:
        idx = [int(model.layout.voxel_neuron(model.layout.area_index(i['area']), i['x'],
                                             i['y'], i['z'])) for i in items]
        out.append((np.array(idx, np.int64), np.array([i['p'] for i in items], np.float32)))
    return out


@pytest.mark.parametrize('seed', SEEDS)
def test_fast_engine_equals_reference_on_random_plastic_brains(seed):
    raw, bursts = random_plastic_genome(seed)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        connectome = build_connectome(raw)
    model = EngineModel.from_connectome(connectome)
    ref = ReferenceEngine(model)
    engines = [BurstEngine(model), BurstEngine(model, partitions=2, threads=True)]
    try:
        for step, (idx, pot) in enumerate(injections(model, bursts)):
            ref.inject_indices(idx, pot)
            expected = ref.burst()
            for engine in engines:
                engine.inject_indices(idx, pot)
                got = engine.burst()
                assert np.array_equal(got, expected), f'seed {seed} burst {step}: fired'
                np.testing.assert_array_equal(engine.state.potential, ref.potential)
                if model.plastic is not None:
                    np.testing.assert_array_equal(engine.plastic.magnitude,
                                                  ref.plastic_weight,
                                                  err_msg=f'seed {seed} burst {step}')
    finally:
        for engine in engines:
            engine.close()
    HITS.update(ref.rule_hits)
    HITS['plastic_brains'] += model.plastic is not None
    HITS['failing_rules'] += sum('fails to register' in w for w in connectome.warnings)
    HITS['n_per_voxel'] += any(a.neurons_per_voxel > 1 for a in connectome.areas)


def test_random_brains_exercise_every_plasticity_rule():
    """Runs after the seeds (file order): together they exercise each §4b branch."""
    if HITS['plastic_brains'] == 0:
        pytest.skip('run with the seeded tests of this file')
    for rule in ('ltp', 'ltd', 'ltd_floor', 'ltp_max_weight', 'plastic_unchanged',
                 'plastic_delivery', 'static_delivery', 'failing_rules', 'n_per_voxel'):
        assert HITS[rule] > 0, rule


@pytest.mark.parametrize('share', [0, 10 ** 9])
def test_sparse_and_dense_learning_passes_agree(share, monkeypatch):
    """Only the rows of active neurons (share 0), or every plastic synapse: same weights."""
    from feagi_hailo_ros.engine import plastic
    monkeypatch.setattr(plastic, 'DENSE_SHARE', share)
    for seed in range(8):
        raw, bursts = random_plastic_genome(seed)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model = EngineModel.from_connectome(build_connectome(raw))
        if model.plastic is None:
            continue
        ref, engine = ReferenceEngine(model), BurstEngine(model)
        for step, (idx, pot) in enumerate(injections(model, bursts)):
            ref.inject_indices(idx, pot)
            engine.inject_indices(idx, pot)
            assert np.array_equal(engine.burst(), ref.burst()), f'seed {seed} burst {step}'
            np.testing.assert_array_equal(engine.plastic.magnitude, ref.plastic_weight)
