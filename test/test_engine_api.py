"""BurstEngine API: injections by voxel, fired coordinates, state, checkpoints, partitions."""

from pathlib import Path

from feagi_hailo_ros.brain import Connectome, make_area
from feagi_hailo_ros.brain.builder import load_brain
from feagi_hailo_ros.brain.ids import io_v2_id, text_v2_id
from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.core import BurstEngine, split_range
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.replay import read_injections
from feagi_hailo_ros.testing.oracles import synaptic_currents
from feagi_hailo_ros.testing.workloads import bench_workload, random_brain
import numpy as np
import pytest

VECTORS = Path(__file__).parent / 'data' / 'conformance'
PROBE = VECTORS / 'conformance_probe.json'


@pytest.fixture(scope='module')
def probe():
    """The conformance probe's connectome and injections."""
    connectome = load_brain(str(PROBE), cache=False)
    model = EngineModel.from_connectome(connectome)
    return connectome, read_injections(VECTORS / 'conformance_probe.inject.jsonl',
                                       model.layout)


def run(engine, injections, bursts):
    """Run bursts with the conformance injections; return the fired lists."""
    out = []
    for _ in range(bursts):
        burst = engine.burst_count
        if burst in injections:
            engine.inject_indices(*injections[burst])
        out.append(engine.burst().tolist())
    return out


def test_engine_accepts_a_connectome_and_injects_by_voxel(probe):
    """inject(area, x, y, z, p) reaches the voxel's receiving neuron."""
    connectome, _ = probe
    engine = BurstEngine(connectome)
    area = 'iin000'
    a = connectome.area_index(area)
    engine.inject(area, [0, 4], [1, 3], [0, 0], 50.0)
    fired = engine.burst()
    ids, x, y, z, potential = engine.fired_coords()
    picked = [(i, xx, yy, zz) for i, xx, yy, zz in zip(ids, x, y, z) if i == area]
    assert picked == [(area, 0, 1, 0), (area, 4, 3, 0)]
    expected = connectome.voxel_neuron(a, np.array([0, 4]), np.array([1, 3]),
                                       np.array([0, 0]))
    assert set(np.atleast_1d(expected).tolist()) <= set(fired.tolist())
    assert potential[np.array(ids) == area].tolist() == [50.0, 50.0]
    with pytest.raises(ValueError, match='outside'):
        engine.inject(area, 5, 0, 0, 1.0)
    with pytest.raises(KeyError, match='no area'):
        engine.inject('nope00', 0, 0, 0, 1.0)
    with pytest.raises(ValueError, match='outside'):
        engine.inject_indices([connectome.n_neurons], [1.0])


def test_checkpoint_restore_resumes_identically(probe, tmp_path):
    """A restored engine (with a queued injection) continues exactly as an unbroken run."""
    connectome, injections = probe
    unbroken = BurstEngine(connectome)
    first = run(unbroken, injections, 40)
    unbroken.inject_indices([5, 6], [3.0, 0.5])
    rest = run(unbroken, injections, 80)

    engine = BurstEngine(connectome)
    assert run(engine, injections, 40) == first
    engine.inject_indices([5, 6], [3.0, 0.5])
    path = tmp_path / 'state.npz'
    engine.checkpoint(path)
    resumed = BurstEngine(connectome)
    resumed.restore(path)
    assert resumed.burst_count == 40
    assert run(resumed, injections, 80) == rest
    other = BurstEngine(random_brain(1).model)
    with pytest.raises(ValueError, match='another brain'):
        other.restore(path)


def test_state_roundtrip_and_copy(probe):
    """`state` returns a copy; setting it back rewinds the engine."""
    connectome, injections = probe
    engine = BurstEngine(connectome)
    run(engine, injections, 10)
    saved = engine.state
    after = run(engine, injections, 20)
    assert engine.state.burst_count == 30 and saved.burst_count == 10
    engine.state = saved
    assert run(engine, injections, 20) == after
    bad = saved.copy()
    bad.potential = bad.potential[:-1]
    with pytest.raises(ValueError, match='potential'):
        engine.state = bad


def test_partitions_threads_match_one_partition():
    """Two threaded partitions (and uneven ranges) fire exactly as one engine."""
    model = bench_workload('w100k', seed=3)
    engines = [BurstEngine(model), BurstEngine(model, 2, threads=True),
               BurstEngine(model, [(0, 1234), (1234, 99_000), (99_000, 100_000)])]
    try:
        for engine in engines:
            kernel.add_bench_injections(9, 0, 0, model.n_neurons, engine.fcl_input)
            engine.fill_seed = 9
        total = 0
        for _ in range(25):
            fired = [engine.burst().copy() for engine in engines]
            total += fired[0].size
            assert all(np.array_equal(fired[0], f) for f in fired[1:])
        assert total > 1000
    finally:
        for engine in engines:
            engine.close()


def test_fused_bench_injections_equal_explicit_injections():
    """The update pass's fused benchmark draw equals injecting the same values."""
    model = bench_workload('w100k', seed=2)
    fused, explicit = BurstEngine(model), BurstEngine(model)
    n = model.n_neurons
    kernel.add_bench_injections(5, 0, 0, n, fused.fcl_input)
    fused.fill_seed = 5
    for burst in range(6):
        values = np.full(n, kernel.NOT_CANDIDATE, np.float32)
        kernel.add_bench_injections(5, burst, 0, n, values)
        assert np.all((values >= 0.8) & (values <= 2.8))
        explicit.inject_indices(np.arange(n), values)
        assert np.array_equal(fused.burst(), explicit.burst())


def test_device_path_currents_and_candidates_match_propagate():
    """A partition's currents and candidates computed elsewhere, as a grid == propagate.

    The device's result goes in with add_current_grid(lo, 1, currents, reach = candidates)
    before update(lo, hi). Adding a partition's summed currents after the injections can
    round differently from adding each synapse in turn (NEURON_MODEL §6 exactness); on this brain
    the sums coincide.
    """
    brain = random_brain(11, bursts=40)
    model = brain.model
    n = model.n_neurons
    lo, hi = split_range(n, 2)[1]
    plain, split = BurstEngine(model), BurstEngine(model)
    reached = 0
    for idx, pot in brain.injections:
        plain.inject_indices(idx, pot)
        split.inject_indices(idx, pot)
        expected = plain.burst().copy()
        currents, cand = synaptic_currents(split, lo, hi)   # what a device would return
        split.begin_burst()
        split.propagate(0, lo)
        split.update(0, lo)
        split.add_current_grid(lo, 1, currents, cand.astype(np.float32))
        split.update(lo, hi)
        got = split.end_burst()
        assert np.array_equal(got, expected), f'burst {split.burst_count - 1} differs'
        reached += int(cand.sum())
    assert reached > 0, 'no spike reached the device partition: the test proves nothing'


def test_synaptic_currents_are_the_propagated_input():
    """The oracle synaptic_currents == what propagate adds (no injections or power)."""
    brain = random_brain(4, bursts=30)
    engine = BurstEngine(brain.model)
    n = brain.model.n_neurons
    checked = 0
    for idx, pot in brain.injections:
        engine.inject_indices(idx, pot)
        currents, cand = synaptic_currents(engine, 0, n)
        engine.begin_burst()
        engine.propagate(0, n)
        clean = np.ones(n, bool)
        clean[brain.model.params.power_neurons] = False
        clean[idx] = False
        assert np.array_equal(engine.candidates()[clean], cand[clean])
        assert np.array_equal(engine.fcl_input[clean & cand], currents[clean & cand])
        checked += int((clean & cand).sum())
        engine.update(0, n)
        engine.end_burst()
        half = n // 2
        part_currents, part_cand = synaptic_currents(engine, 0, half)
        whole_currents, whole_cand = synaptic_currents(engine, 0, n)
        assert np.array_equal(part_cand, whole_cand[:half])
        assert np.array_equal(part_currents, whole_currents[:half])
    assert checked > 0


def test_end_burst_requires_every_neuron_updated():
    """A burst that skips part of the brain is refused with the ranges named."""
    model = random_brain(2).model
    engine = BurstEngine(model)
    engine.begin_burst()
    engine.propagate(0, 3)
    engine.update(0, 3)
    with pytest.raises(RuntimeError, match='do not cover'):
        engine.end_burst()


def test_split_by_target_keeps_each_rows_order_per_partition():
    """Partition p's part of a row holds exactly its targets, in the original order."""
    model = random_brain(8).model
    syn = model.synapses
    n = model.n_neurons
    bounds = split_range(n, 3)
    split, cuts = syn.split_by_target(bounds)
    assert np.array_equal(split.indptr, syn.indptr)
    for s in range(n):
        row = slice(syn.indptr[s], syn.indptr[s + 1])
        for p, (lo, hi) in enumerate(bounds):
            part = slice(cuts[p][s], cuts[p + 1][s])
            keep = (syn.target[row] >= lo) & (syn.target[row] < hi)
            assert split.target[part].tolist() == syn.target[row][keep].tolist()
            assert split.weight[part].tolist() == syn.weight[row][keep].tolist()
    with pytest.raises(ValueError, match='contiguous'):
        syn.split_by_target([(0, 3), (4, n)])


def test_inject_finds_areas_as_the_connectome_does():
    """inject(alias, ...) resolves an id as connectome.area_index does (2.x <-> legacy)."""
    vision, power = io_v2_id('i', 'svi', 4), text_v2_id('___power')
    areas = [make_area(power, (1, 1, 1)), make_area(vision, (3, 2, 1))]
    connectome = Connectome.from_arrays(areas, np.zeros(1 + 6 + 1, np.int64), [], [])
    engine = BurstEngine(connectome)
    for alias, x in (('iic400', 0), (vision, 2)):
        assert engine.model.layout.area_index(alias) == connectome.area_index(alias) == 1
        engine.inject(alias, x, 1, 0, 5.0)
    engine.burst()
    ids, x, y, z, _ = engine.fired_coords()
    picked = sorted((xx, yy) for i, xx, yy in zip(ids, x.tolist(), y.tolist()) if i == vision)
    assert picked == [(0, 1), (2, 1)]
    assert engine.model.layout is connectome.layout
    with pytest.raises(KeyError, match='no area'):
        engine.inject('iic500', 0, 0, 0, 1.0)
