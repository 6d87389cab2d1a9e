"""The numba learning step against a plain numpy statement of NEURON_MODEL §4b steps 6-8."""

from feagi_hailo_ros.brain import build_connectome, load_genome
from feagi_hailo_ros.brain.synth import synthetic_genome
from feagi_hailo_ros.engine.core import BurstEngine
import numpy as np
import pytest


def expected_update(engine: BurstEngine, before: np.ndarray, history: list) -> np.ndarray:
    """The weights after burst T's update (T = burst_count; history[i]: burst i+1's fired)."""
    syn, t = engine.model.plastic, engine.burst_count
    pairs = syn.pair_arrays()
    window = pairs['window'][syn.pair]
    last = np.full(engine.n_neurons, -10 ** 9, np.int64)
    for burst, fired in enumerate(history, 1):
        last[fired] = burst
    active = last[:, None] >= t - np.unique(window)[None, :] + 1     # per neuron, per window
    column = np.searchsorted(np.unique(window), window)
    src = active[syn.source, column]
    dst = active[np.asarray(syn.target, np.int64), column]
    learns = pairs['learns'][syn.pair] & (t >= window)
    d_plus, d_minus = pairs['d_plus'][syn.pair], pairs['d_minus'][syn.pair]
    after = before.copy()
    both = learns & src & dst
    one = learns & (src != dst)
    after[both] = np.minimum(before[both] + d_plus[both], pairs['max_weight'][syn.pair][both])
    after[one] = np.maximum(np.float32(0), before[one] - d_minus[one])
    return after


@pytest.mark.parametrize('share, params', [(0.5, (1, 2, 1, 3)), (1.0, (2, 1, 1, 1)),
                                           (1.0, (1, 3, 2, 4))])
def test_learning_equals_the_numpy_statement_and_lags_one_burst(share, params):
    genome = synthetic_genome(8000, 8, hidden_areas=3, seed=2, plastic_share=share,
                              plastic_params=params)
    brain = build_connectome(load_genome(genome))
    engine = BurstEngine(brain)
    lo, hi = int(brain.area_start[0]), int(brain.area_start[1])
    history = []
    for burst in range(80):
        rng = np.random.default_rng([5, burst])
        engine.inject_indices(lo + np.flatnonzero(rng.random(hi - lo) < rng.uniform(0.1, 0.6)),
                              np.float32(2.0))
        before = engine.plastic.magnitude.copy()
        history.append(engine.burst().copy())
        state = engine.plastic
        assert np.array_equal(state.magnitude.view(np.uint32),
                              expected_update(engine, before, history).view(np.uint32))
        # the spikes of the next burst go out with the weights of the update before this one
        assert np.array_equal(np.abs(state.delivered).view(np.uint32), before.view(np.uint32))
        recent = state.recent[:state.n_recent]
        assert np.all(np.diff(recent) > 0)                       # kept ascending
    assert np.any(engine.plastic.magnitude != engine.model.plastic.initial)
