"""Engine memory: fired buffers grown on demand, synapses read in place, bytes reported."""

from pathlib import Path

from feagi_hailo_ros.brain.builder import load_brain
from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.params import NeuronParams
from feagi_hailo_ros.engine.reference import ReferenceEngine
from feagi_hailo_ros.testing.workloads import bench_workload, random_brain
import numpy as np
import pytest

PROBE = Path(__file__).parent / 'data' / 'conformance' / 'conformance_probe.json'


class TinyBuffers(BurstEngine):
    """An engine whose output buffers start at one entry, so every update must grow them."""

    first_output_size = 1


class FullBuffers(BurstEngine):
    """An engine whose output buffers hold N entries from the start (they never grow)."""

    first_output_size = 1 << 40


def manual_burst(engine: BurstEngine, cuts):
    """Run one burst through propagate/update over ranges given out of order."""
    engine.begin_burst()
    n = engine.n_neurons
    engine.propagate(0, n)
    ranges = list(zip(cuts[:-1], cuts[1:]))
    for lo, hi in ranges[::-1]:
        engine.update(lo, hi)
    return engine.end_burst()


def test_growing_outputs_fire_exactly_as_full_size_buffers():
    """Output buffers grown mid-update (kernel resumed) give the same bursts, all paths."""
    model = bench_workload('w100k', seed=4)
    n = model.n_neurons
    full = FullBuffers(model)
    tiny = [TinyBuffers(model), TinyBuffers(model, 2, threads=True),
            TinyBuffers(model, [(0, 777), (777, 60_000), (60_000, n)]), TinyBuffers(model)]
    cuts = [0, 5, 4000, 4001, n]
    try:
        for engine in [full] + tiny:
            kernel.add_bench_injections(9, 0, 0, n, engine.fcl_input)
            engine.fill_seed = 9
        most = 0
        for _ in range(40):
            expected = full.burst().copy()
            most = max(most, expected.size)
            for engine in tiny[:-1]:
                assert np.array_equal(engine.burst(), expected)
            assert np.array_equal(manual_burst(tiny[-1], cuts), expected)
            for engine in tiny:
                assert np.array_equal(engine.state_arrays.potential,
                                      full.state_arrays.potential)
                assert np.array_equal(engine.previous_fired()[1], full.previous_fired()[1])
        assert most > 4 * kernel.BLOCK, 'too few fired to make the buffers grow'
        held = tiny[0].memory()
        # the int32 buffers grew to what fired (doubling): under 1 byte per neuron here
        fired_bytes = held['state']['fired'] + held['scratch']['out_fired']
        assert most * 4 <= fired_bytes < n
    finally:
        for engine in tiny:
            engine.close()


@pytest.mark.parametrize('seed', [1, 6, 13])
def test_general_areas_resume_per_neuron_like_the_reference(seed):
    """One-entry buffers in per-neuron (general) areas still equal the reference engine."""
    brain = random_brain(seed, bursts=40)
    fast, ref = TinyBuffers(brain.model), ReferenceEngine(brain.model)
    fired = 0
    for idx, pot in brain.injections:
        fast.inject_indices(idx, pot)
        ref.inject_indices(idx, pot)
        got = fast.burst()
        assert got.tolist() == ref.burst().tolist()
        fired += got.size
    assert fired > 0


def test_connectome_arrays_are_read_in_place_and_bytes_reported():
    """A Connectome's uint32 indptr / targets and neuron_area are used, not copied."""
    connectome = load_brain(str(PROBE), cache=False)
    engine = BurstEngine(connectome)
    syn = engine.model.synapses
    assert connectome.syn_target.dtype == np.uint32
    assert np.shares_memory(syn.target, connectome.syn_target)
    assert np.shares_memory(syn.indptr, connectome.syn_indptr)
    assert np.shares_memory(syn.neuron_area, connectome.neuron_area)
    assert engine.burst().dtype == np.int32
    held = engine.memory()
    n = connectome.n_neurons
    assert held['connectome_synapses']['target'] == connectome.syn_target.nbytes
    assert held['state']['potential'] == 4 * n
    assert held['inputs']['fcl_input'] == 4 * n
    assert held['partition_synapses'] == {}
    model = EngineModel.from_arrays(engine.model.params, connectome.syn_indptr.astype(np.int64),
                                    connectome.syn_target.astype(np.int64),
                                    connectome.syn_weight)
    assert model.synapses.indptr.dtype == np.uint32     # compacted like a Connectome's
    assert model.synapses.target.dtype == np.uint32
    assert np.array_equal(model.out_degree, np.diff(connectome.syn_indptr).astype(np.float32))


def small_engine(refractory: int, consecutive_limit: int) -> BurstEngine:
    """Return an engine of 4 unconnected neurons (threshold 1) with the given genes."""
    params = NeuronParams.from_arrays([0, 4], fire_threshold=1.0, refractory=refractory,
                                      consecutive_limit=consecutive_limit, snooze=1)
    return BurstEngine(EngineModel.from_arrays(params, np.zeros(5, np.int64),
                                               np.zeros(0, np.int32), np.zeros(0, np.int16)))


@pytest.mark.parametrize('refractory, limit, countdown, counts', [
    (3, 0, np.uint8, 0), (254, 2, np.uint8, 4), (255, 0, np.uint16, 0), (300, 1, np.uint16, 4)])
def test_counters_are_as_small_as_the_genes_allow(refractory, limit, countdown, counts):
    """Countdowns are uint8 when refractory + snooze fit; counts only with a limit."""
    engine = small_engine(refractory, limit)
    s = engine.state_arrays
    assert s.refractory_countdown.dtype == countdown
    assert s.consecutive_fires.shape == (counts,)
    engine.inject_indices([1, 2], [5.0, 5.0])
    assert engine.burst().tolist() == [1, 2]
    state = engine.state               # widened to what a checkpoint holds
    assert state.refractory_countdown.dtype == np.uint16
    longest = refractory + (1 if limit == 1 else 0)   # the limit reached: + snooze
    assert state.refractory_countdown.tolist() == [0, longest, longest, 0]
    expected_counts = [0, 1, 1, 0] if limit else [0, 0, 0, 0]
    assert state.consecutive_fires.tolist() == expected_counts
    engine.state = state
    assert engine.state.refractory_countdown.tolist() == state.refractory_countdown.tolist()
    if countdown == np.uint8:
        too_long = state.copy()
        too_long.refractory_countdown[0] = 256
        with pytest.raises(ValueError, match='refractory_countdown holds 256'):
            engine.state = too_long


def test_memory_counts_each_buffer_once_after_manual_and_fused_bursts():
    """memory() matches the distinct buffers held, whichever path ran the last burst."""
    model = bench_workload('w100k', seed=4)
    engine = BurstEngine(model)
    kernel.add_bench_injections(9, 0, 0, model.n_neurons, engine.fcl_input)
    engine.fill_seed = 9
    for step in range(40):
        if step % 3:
            engine.burst()
        else:
            # one range (the output becomes the fired list) or two (copied into it)
            manual_burst(engine, [0, model.n_neurons] if step % 2 else
                         [0, 50_000, model.n_neurons])
        buffers = {id(a): a.nbytes for a in engine._out + [engine._fired]}
        held = engine.memory()
        assert held['scratch']['out_fired'] + held['state']['fired'] == sum(buffers.values())
        assert engine.fired.size <= engine._fired.size
