"""Device results in the engine: add_current_grid (dense grids) against host propagation."""

from feagi_hailo_ros.engine.core import BurstEngine, split_range
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.params import NeuronParams
from feagi_hailo_ros.testing.oracles import synaptic_currents
from feagi_hailo_ros.testing.workloads import random_brain
import numpy as np
import pytest


def integer_brain(seed: int):
    """Return a random rule-exercising brain whose inputs are all integers.

    psp is integer (FEAGI truncates it); with psp_uniform in every area no source divides
    by its out-degree, and the injections are rounded, so any sum order gives the same
    float32 input (the exact case of a device partition).
    """
    brain = random_brain(seed, bursts=50)
    brain.model.params.psp_uniform[:] = 1
    injections = [(idx, np.round(pot)) for idx, pot in brain.injections]
    return brain.model, injections


def device_result(engine: BurstEngine, lo: int, hi: int):
    """Return (indices, currents) of the candidates in [lo, hi): what a device reaches."""
    currents, candidates = synaptic_currents(engine, lo, hi)
    local = np.flatnonzero(candidates)
    return (lo + local).astype(np.uint32), currents[local]


@pytest.mark.parametrize('seed', [3, 11, 21])
@pytest.mark.parametrize('form', ['strided', 'reach_for_zeros', 'grid', 'grid_reach'])
def test_device_currents_fire_exactly_as_propagation(seed, form):
    """Host partition propagated + device partition's currents == one plain engine.

    `grid`: the dense grid of the whole range (add_current_grid, candidates = current != 0:
    zero-current targets are missed unless none occur); `grid_reach`: with the reach grid
    of every reached target as well; `reach_for_zeros`: reach only for the targets whose
    current is 0 (the others are candidates by their current); `strided`: the range as two
    interleaved grids (stride 2) with reach.
    """
    model, injections = integer_brain(seed)
    n = model.n_neurons
    lo, hi = split_range(n, 2)[1]
    plain, hybrid, split = BurstEngine(model), BurstEngine(model), BurstEngine(model)
    reached = zero_current = 0
    for idx, pot in injections:
        for engine in (plain, hybrid, split):
            engine.inject_indices(idx, pot)
        expected = plain.burst().copy()
        split.begin_burst()                 # the candidates host propagation makes
        split.propagate(0, n)
        want_candidates = split.candidates()
        split.update(0, n)
        split.end_burst()
        dev_idx, dev_val = device_result(hybrid, lo, hi)     # before the burst, as a device
        hybrid.begin_burst()
        hybrid.propagate(0, lo)
        hybrid.update(0, lo)
        grid = np.zeros(hi - lo, np.float32)
        grid[dev_idx - lo] = dev_val
        reach = np.zeros(hi - lo, np.float32)
        reach[dev_idx - lo] = 1
        if form == 'reach_for_zeros':
            zeros = np.zeros(hi - lo, np.float32)
            zeros[dev_idx[dev_val == 0] - lo] = 1
            hybrid.add_current_grid(lo, 1, grid, zeros)
        elif form == 'strided':
            for first in (lo, lo + 1):
                hybrid.add_current_grid(first, 2, grid[first - lo::2], reach[first - lo::2])
        else:
            hybrid.add_current_grid(lo, 1, grid, reach if form == 'grid_reach' else None)
        if form != 'grid':                  # every reached target is a candidate, no more
            assert np.array_equal(hybrid.candidates(lo, hi), want_candidates[lo:hi])
        hybrid.update(lo, hi)
        got = hybrid.end_burst()
        missed = form == 'grid' and bool(np.any(dev_val == 0))
        if missed:      # a zero-current target without reach: a candidate lost, by design
            zero_current += int(np.count_nonzero(dev_val == 0))
            break
        assert np.array_equal(got, expected), f'burst {hybrid.burst_count - 1} differs'
        assert np.array_equal(hybrid.state_arrays.potential, plain.state_arrays.potential)
        reached += dev_idx.size
        zero_current += int(np.count_nonzero(dev_val == 0))
    assert reached > 0, 'no spike reached the device partition: the test proves nothing'
    if seed == 3 and form != 'grid':
        assert zero_current > 0, 'no zero-current candidate: the reach is not exercised'


@pytest.mark.parametrize('seed', [4, 9])
def test_propagate_over_source_ranges_equals_all_spikes_on_a_source_restricted_csr(seed):
    """`sources=` skips fired rows outside the ranges.

    On a CSR whose other rows are empty (restricted to those sources) that is the same
    input as reading every spike.
    """
    from feagi_hailo_ros.engine.hybrid.ranges import restrict_synapses
    model, injections = integer_brain(seed)
    n = model.n_neurons
    cut = n // 3
    syn = model.synapses
    source = np.repeat(np.arange(n), np.diff(np.asarray(syn.indptr, np.int64)))
    kept = restrict_synapses(syn, (source >= cut) & (source < 2 * cut))
    a, b = BurstEngine(model), BurstEngine(model)
    compared = 0
    for idx, pot in injections:
        for engine in (a, b):
            engine.inject_indices(idx, pot)
            engine.begin_burst()
        a.propagate(0, n, kept)
        b.propagate(0, n, kept, sources=[(cut, 2 * cut)])
        np.testing.assert_array_equal(a.fcl_input, b.fcl_input)
        assert np.array_equal(np.signbit(a.fcl_input), np.signbit(b.fcl_input))
        compared += int(np.count_nonzero(a.candidates()))
        for engine in (a, b):
            engine.update(0, n)
            engine.end_burst()
    assert compared > 0


def one_leaky_neuron_engine():
    """Return an engine of 3 unconnected neurons (threshold 10, leak 0.5) after one burst."""
    params = NeuronParams.from_arrays([0, 3], fire_threshold=10.0, leak=0.5,
                                      mp_charge_accumulation=True)
    model = EngineModel.from_arrays(params, np.zeros(4, np.int64), np.zeros(0, np.int32),
                                    np.zeros(0, np.int16))
    engine = BurstEngine(model)
    engine.inject_indices([0, 1, 2], [4.0, 4.0, 4.0])
    engine.burst()                         # each now holds 4 * 0.5 = 2
    return engine


def test_zero_current_with_reach_makes_candidates_that_leak():
    """A neuron given current 0 (or -0.0) with reach is a candidate: its potential leaks."""
    engine = one_leaky_neuron_engine()
    assert engine.state_arrays.potential.tolist() == [2.0, 2.0, 2.0]
    engine.begin_burst()
    engine.add_current_grid(0, 1, np.array([0.0, -0.0, 0.0], np.float32),
                            np.array([1.0, 1.0, 0.0], np.float32))
    engine.add_current_grid(0, 1, np.zeros(0, np.float32))          # an empty grid
    engine.update(0, 3)
    engine.end_burst()
    # candidates 0 and 1 leak to 1.0; neuron 2 got nothing and keeps 2.0
    assert engine.state_arrays.potential.tolist() == [1.0, 1.0, 2.0]
    engine.begin_burst()
    engine.add_current_grid(2, 1, np.zeros(1, np.float32), np.ones(1, np.float32))
    engine.add_current_grid(1, 1, np.array([4.0], np.float32))
    engine.add_current_grid(1, 1, np.array([5.0], np.float32))    # add up: 1 + 9 = 10 fires
    engine.update(0, 3)
    assert engine.end_burst().tolist() == [1]
    assert engine.state_arrays.potential.tolist() == [1.0, 0.0, 1.0]


def test_current_grid_checks_its_arguments():
    """Outside a burst, neurons out of range and mismatched reach are refused clearly."""
    engine = one_leaky_neuron_engine()
    one = np.ones(1, np.float32)
    with pytest.raises(RuntimeError, match='begin_burst'):
        engine.add_current_grid(0, 1, one)
    engine.begin_burst()
    with pytest.raises(ValueError, match=r'neurons 0\.\.3 \(stride 1\) are outside 0\.\.2'):
        engine.add_current_grid(0, 1, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r'neurons 1\.\.3 \(stride 2\)'):
        engine.add_current_grid(1, 2, np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r'neurons -1\.\.-1'):
        engine.add_current_grid(-1, 1, one)
    with pytest.raises(ValueError, match='stride 0'):
        engine.add_current_grid(0, 0, np.ones(2, np.float32))
    with pytest.raises(ValueError, match='2 currents but 1 reach'):
        engine.add_current_grid(0, 1, np.ones(2, np.float32), one)
    # nothing was applied by the refused calls
    assert not engine.candidates().any()
