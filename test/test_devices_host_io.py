"""Host side of a device burst: the numba grid fill and output scan against plain numpy.

The grids persist between calls (only the voxels set last time are cleared), so each test
runs several different fired sets in a row through one PartitionIO.
"""

from feagi_hailo_ros.brain.connectome import Connectome
from feagi_hailo_ros.brain.genome import AreaSpec
from feagi_hailo_ros.devices.base import DeviceError
from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.devices.export import source_factors
from feagi_hailo_ros.devices.host_io import driven_psp, PartitionIO
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid import HybridEngine
import numpy as np
import pytest
from test_devices_conftest_helpers import random_vision_injections, run_bursts, small_synthetic


def _area(name, dims, per_voxel=1, **kw):
    return AreaSpec(id=name, name=name, role='custom', unit=None, index_in_unit=0, dims=dims,
                    neurons_per_voxel=per_voxel, **kw)


def _brain():
    """Three sources (3 neurons/voxel, mp_driven_psp; psp_uniform; plain) and a target."""
    areas = [_area('a', (4, 3, 2), 3, psp=7.0, mp_driven_psp=True),
             _area('b', (5, 2, 1), 1, psp=9.0, psp_uniform=True),
             _area('c', (3, 3, 3), 2, psp=5.0),
             _area('t', (4, 4, 2), 2)]
    c_sizes = [a.neurons for a in areas]
    starts = np.concatenate([[0], np.cumsum(c_sizes)])
    rng = np.random.default_rng(0)
    src = rng.integers(0, starts[3], 400)
    tgt = rng.integers(starts[3], starts[4], 400)
    weight = rng.integers(-5, 6, 400)
    return Connectome.from_synapse_list(areas, src, tgt, weight), starts


# the sources stacked on one 5 x 4 canvas (a smaller area sits at its origin, zeros around)
MEMBERS = [(0, 'value', 0), (0, 'spike', 2), (1, 'value', 4), (2, 'value', 5), (2, 'spike', 8)]


def _manifest(starts, target_voxels):
    """One stacked input; the target's current in two parts (a grid and a flat output)."""
    dims = {0: [4, 3, 2], 1: [5, 2, 1], 2: [3, 3, 3], 3: [4, 4, 2]}
    inputs = [{'name': 'in_5x4', 'dims': [5, 4, 11], 'kind': 'input', 'members': [
        {'area_index': a, 'kind': kind, 'offset': off, 'dims': dims[a]}
        for a, kind, off in MEMBERS]}]
    outputs = [{'name': 'cur_4x4', 'dims': [4, 4, 4], 'kind': 'current', 'bits': 8,
                'scale': 0.5, 'bound': 30.0, 'count_bound': 60.0, 'members': [
                    {'area_index': 3, 'kind': 'current', 'offset': 0, 'dims': dims[3]},
                    {'area_index': 3, 'kind': 'count', 'offset': 2, 'dims': dims[3]}]},
               {'name': 'dense_5x4', 'dims': [40], 'kind': 'current', 'bits': 8,
                'scale': 1.0, 'bound': 5.0, 'members': [
                    {'area_index': 3, 'kind': 'current', 'offset': 8, 'dims': dims[3]}]}]
    return {'inputs': inputs, 'outputs': outputs}, target_voxels


def _outputs(current, reach, dense_part=None):
    """The device outputs holding a target's current (cur + dense parts) and counts."""
    grid = np.zeros((4, 4, 4), np.float32)
    grid[:, :, 0:2] = current.reshape(4, 4, 2)
    grid[:, :, 2:4] = reach.reshape(4, 4, 2)
    flat = np.zeros(40, np.float32)
    if dense_part is not None:
        flat[8:40] = dense_part
        grid[:, :, 0:2] -= dense_part.reshape(4, 4, 2)
    return {'cur_4x4': grid, 'dense_5x4': flat}


def _numpy_inputs(c, fired, potential):
    """What the grids must hold: plain numpy, written independently of host_io."""
    factors = source_factors(c)
    degree = c.out_degree().astype(np.float32)
    stacked = np.zeros((5, 4, 11), np.float32)
    for a, kind, offset in MEMBERS:
        area = c.areas[a]
        span = c.area_neurons(a)
        sel = (fired >= span.start) & (fired < span.stop)
        local = fired[sel] - span.start
        vox = local // area.neurons_per_voxel
        if area.mp_driven_psp:
            divisor = 1.0 if area.psp_uniform else np.maximum(degree[span][local], 1)
            value = (driven_psp(potential[sel]) / np.float32(divisor)).astype(np.float32)
        else:
            value = factors[span][local]
        grid = np.bincount(vox, weights=value, minlength=area.voxels).astype(np.float32)
        if kind == 'spike':
            grid = np.zeros(area.voxels, np.float32)
            grid[vox] = 1
        x, y, z = area.dims
        stacked[:x, :y, offset:offset + z] = grid.reshape(area.dims)
    return {'in_5x4': stacked}


def test_inputs_match_numpy_over_consecutive_fired_sets():
    c, starts = _brain()
    manifest, _ = _manifest(starts, c.areas[3].voxels)
    io = PartitionIO(c, manifest)
    rng = np.random.default_rng(1)
    for density in (0.6, 0.05, 0.3, 0.0, 0.9):
        fired = np.flatnonzero(rng.random(c.n_neurons) < density).astype(np.int32)
        potential = rng.uniform(-20, 300, fired.size).astype(np.float32)
        potential[::7] = np.round(potential[::7]) + 0.5        # ties round away from zero
        got = io.inputs(fired, potential)
        want = _numpy_inputs(c, fired.astype(np.int64), potential)
        assert set(got) == set(want)
        for name in want:
            assert got[name].shape == want[name].shape
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert any(np.any(g != 0) for g in io.inputs(np.arange(starts[3]),
                                                 np.full(starts[3], 3.0, np.float32)).values())


def test_inputs_filled_area_by_area_equal_one_full_fill_over_consecutive_fired_sets():
    c, starts = _brain()
    manifest, _ = _manifest(starts, c.areas[3].voxels)
    io = PartitionIO(c, manifest, buffers=2)
    rng = np.random.default_rng(6)
    pieces = [(0, int(starts[1])), (int(starts[1]), int(starts[3])),     # one, then two
              (int(starts[3]), c.n_neurons)]                            # no source: 0
    for density in (0.5, 0.1, 0.0, 0.7):
        fired = np.flatnonzero(rng.random(c.n_neurons) < density).astype(np.int32)
        potential = rng.uniform(-20, 300, fired.size).astype(np.float32)
        full = io.inputs(fired, potential, buffer=0)
        counts = []
        for lo, hi in reversed(pieces):                  # any order, e.g. two threads
            inside = (fired >= lo) & (fired < hi)
            counts.append(io.fill_range(1, lo, hi, fired[inside], potential[inside]))
        assert counts == [0, 2, 1]
        part = io.grids(1)
        for name in full:
            np.testing.assert_array_equal(part[name], full[name], err_msg=name)
            np.testing.assert_array_equal(part.nonzero[name], full.nonzero[name])
    assert io.fill_range(1, 1, c.n_neurons, fired, potential) == 2   # source 0 cut: skipped


def test_nonzero_lists_cover_every_nonzero_input_and_the_emulator_gives_the_same_with_them():
    c = small_synthetic(neurons=6000, hidden=3)
    from feagi_hailo_ros.devices.export import export_partition
    from feagi_hailo_ros.devices.planner import plan_partitions
    exp = export_partition(c, plan_partitions(c, 'auto', 1).partitions[0])
    io = PartitionIO(c, exp.manifest)
    device = EmulatedHailo('e')
    device.open()
    device.upload(exp)
    assert device.backend_used == 'sparse'
    rng = np.random.default_rng(4)
    listed = 0
    for density in (0.3, 0.02, 0.0, 0.5):
        fired = np.flatnonzero(rng.random(c.n_neurons) < density).astype(np.int32)
        inputs = io.inputs(fired, rng.uniform(1, 9, fired.size).astype(np.float32))
        assert set(inputs.nonzero) == set(inputs)
        for name, grid in inputs.items():
            idx = inputs.nonzero[name]
            assert np.unique(idx).size == idx.size          # ascending per area, no repeats
            outside = np.ones(grid.size, bool)
            outside[idx] = False
            assert not np.any(grid.reshape(-1)[outside]), name
            listed += idx.size
        with_lists = {k: v.copy() for k, v in device.infer(inputs).items()}
        without = device.infer(dict(inputs))
        for name in without:
            np.testing.assert_array_equal(with_lists[name], without[name], err_msg=name)
    assert listed > 1000
    device.close()


def test_target_grids_go_into_the_engine_as_numpy_says_over_consecutive_outputs():
    """add_current_grid: voxel v's current goes to its last neuron.

    Zero-current reached voxels become candidates; other neurons keep their queued input
    (or non-candidacy).
    """
    c, starts = _brain()
    manifest, voxels = _manifest(starts, c.areas[3].voxels)
    io = PartitionIO(c, manifest)
    (target,) = io.targets
    rng = np.random.default_rng(2)
    engine = BurstEngine(c)
    last = starts[3] + 1 + 2 * np.arange(voxels)          # the last neuron of a voxel
    for _ in range(4):
        current = (rng.integers(-3, 4, voxels) * (rng.random(voxels) < 0.5)).astype(np.float32)
        reach = ((current != 0) | (rng.random(voxels) < 0.3)).astype(np.float32)
        queued = np.flatnonzero(rng.random(c.n_neurons) < 0.2)
        engine.inject_indices(queued, np.full(queued.size, 0.25, np.float32))
        engine.begin_burst()
        before = engine.fcl_input.copy()
        dense = rng.integers(-2, 3, voxels).astype(np.float32)
        base, stride, cur, rch = io.target_grid(_outputs(current, reach, dense), target)
        assert (base, stride) == (last[0], 2)
        engine.add_current_grid(base, stride, cur, rch)
        want = before.copy()
        hit = (current != 0) | (reach > 0.5)
        want[last[hit]] = (before[last[hit]] + current[hit]) + np.float32(0.0)
        np.testing.assert_array_equal(engine.fcl_input, want)
        np.testing.assert_array_equal(np.signbit(engine.fcl_input), np.signbit(want))
        assert engine.candidates()[last[hit]].all()
        engine.update(0, c.n_neurons)
        engine.end_burst()


def test_malformed_device_grids_are_refused_with_the_output_name():
    c, starts = _brain()
    manifest, voxels = _manifest(starts, c.areas[3].voxels)
    io = PartitionIO(c, manifest)
    (target,) = io.targets
    good = np.zeros(voxels, np.float32)
    outputs = _outputs(good, good)
    io.target_grid(outputs, target)
    io.target_grid({'cur_4x4': outputs['cur_4x4'].reshape(-1), 'dense_5x4': np.zeros(40)},
                   target)                                           # both forms
    with pytest.raises(DeviceError, match="'dense_5x4': missing"):
        io.target_grid({'cur_4x4': outputs['cur_4x4']}, target)
    with pytest.raises(DeviceError, match=r"'cur_4x4': shape \(5,\), expected .*64 values"):
        io.target_grid(dict(outputs, cur_4x4=good[:5]), target)
    with pytest.raises(DeviceError, match="'cur_4x4': shape"):      # same size, other layout
        io.target_grid(dict(outputs, cur_4x4=outputs['cur_4x4'].reshape(4, 16)), target)
    with pytest.raises(DeviceError, match="'dense_5x4': dtype uint8"):
        io.target_grid(dict(outputs, dense_5x4=np.zeros(40, np.uint8)), target)
    # the current's range: cur_4x4 (8 bits signed at scale 0.5: -64 .. 63.5, widened to the
    # count bound 60) plus dense_5x4 (-128 .. 127): -192 .. 190.5; counts -64 .. 63.5
    for bad, why in ((np.nan, 'value nan'), (np.inf, 'value inf'), (-192.5, 'value -192.5'),
                     (191.0, 'value 191')):
        current = good.copy()
        current[7] = bad
        with pytest.raises(DeviceError, match=f"'cur_4x4\\+dense_5x4': current of area 3: "
                                              f'{why} is NaN, infinite or outside'):
            io.checked_grids(_outputs(current, good))
        problem = io.value_problem(0, io.target_grid(_outputs(current, good), target))
        assert problem is not None and problem.reason.startswith('bad result: cur_4x4')
    edge = good.copy()
    edge[[0, 1]] = (-192.0, 190.5)
    io.checked_grids(_outputs(edge, np.full(voxels, 63.5, np.float32), good))
    with pytest.raises(DeviceError, match="'cur_4x4': reach of area 3: value -65"):
        io.checked_grids(_outputs(good, np.full(voxels, -65, np.float32)))
    engine = BurstEngine(c)
    with pytest.raises(RuntimeError, match='outside a burst'):
        engine.add_current_grid(0, 1, good)
    engine.begin_burst()
    with pytest.raises(ValueError, match='outside 0'):
        engine.add_current_grid(c.n_neurons - 3, 1, good)
    with pytest.raises(ValueError, match='32 currents but 5 reach'):
        engine.add_current_grid(0, 1, good, good[:5])


def test_a_malformed_output_mid_run_falls_back_for_the_whole_partition_exactly():
    c = small_synthetic(neurons=6000, hidden=3)
    inject = random_vision_injections(c, 'iic400')
    reference = run_bursts(BurstEngine(c), 30, inject_fn=inject)
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='auto') as hybrid:
        rt = hybrid.runners[0]
        assert len(rt.io.targets) >= 2
        real = rt.io.target_grid
        calls = []

        def flaky(outputs, target):
            calls.append(target)
            if len(calls) == 20 * len(rt.io.targets) + 2:    # 3rd target of the 21st job
                raise RuntimeError('scan failed')
            return real(outputs, target)
        rt.io.target_grid = flaky
        fired = run_bursts(hybrid, 30, inject_fn=inject)
        faults = list(hybrid.faults)
    assert [f['what'] for f in faults] == ['error'] and 'scan failed' in faults[0]['reason']
    assert all(np.array_equal(x, y) for x, y in zip(reference, fired))
    assert sum(f.size for f in fired) > 100


def test_prefetched_device_jobs_are_dropped_when_the_state_is_set():
    c = small_synthetic(neurons=6000, hidden=3)
    inject = random_vision_injections(c, 'iic400')
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='auto') as hybrid:
        assert hybrid.prefetch and hybrid.runners
        run_bursts(hybrid, 15, inject_fn=inject)
        saved = hybrid.state
        first = run_bursts(hybrid, 10, inject_fn=inject)
        assert hybrid.runners[0].pending is not None          # next burst's job started
        hybrid.state = saved
        again = run_bursts(hybrid, 10, inject_fn=inject)
        assert hybrid.faults == []
    assert sum(f.size for f in first) > 100
    assert all(np.array_equal(x, y) for x, y in zip(first, again))


def test_the_exported_synthetic_graph_is_already_one_grouped_conv_per_output():
    """Stacked export: one grouped Conv, so the emulator's fusion has nothing left to do."""
    import onnx
    from feagi_hailo_ros.devices.emulator_fuse import fuse_convolutions
    from feagi_hailo_ros.devices.export import export_partition
    from feagi_hailo_ros.devices.planner import plan_partitions
    c = small_synthetic(neurons=6000, hidden=3)
    part = plan_partitions(c, 'auto', 1).partitions[0]
    exp = export_partition(c, part)
    assert exp.manifest['exact'] and all(op.form == 'conv' for op in part.operators)
    model = onnx.load_from_string(exp.model)
    (conv,) = [n for n in model.graph.node if n.op_type == 'Conv']
    group = next(a.i for a in conv.attribute if a.name == 'group')
    assert group == len(part.targets) and len(model.graph.output) == 1
    assert fuse_convolutions(model) is None
    plain = EmulatedHailo('p', backend='onnxruntime')
    sparse = EmulatedHailo('s')
    for dev in (plain, sparse):
        dev.open()
        dev.upload(exp)
    io = PartitionIO(c, exp.manifest)
    rng = np.random.default_rng(5)
    nonzero = 0
    for density in (0.02, 0.3, 0.8):
        fired = np.flatnonzero(rng.random(c.n_neurons) < density)
        grids = io.inputs(fired, rng.uniform(0, 200, fired.size).astype(np.float32))
        got, want = sparse.infer(grids), plain.infer(grids)
        assert set(got) == set(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
            nonzero += int(np.count_nonzero(want[name]))
    assert nonzero > 100


def _two_convs(pads_b):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    info = helper.make_tensor_value_info
    nodes = [helper.make_node('Conv', ['x', 'wa'], ['ya'], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node('Conv', ['x', 'wb'], ['yb'], kernel_shape=[2, 3], pads=pads_b),
             helper.make_node('Add', ['ya', 'yb'], ['y'])]
    rng = np.random.default_rng(6)
    inits = [numpy_helper.from_array(rng.integers(-3, 4, (1, 1) + k).astype(np.float32), n)
             for n, k in (('wa', (3, 3)), ('wb', (2, 3)))]
    graph = helper.make_graph(nodes, 'g', [info('x', TensorProto.FLOAT, [1, 1, 6, 5])],
                              [info('y', TensorProto.FLOAT, [1, 1, 6, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_grouped_conv_fusion_keeps_outputs_and_refuses_a_conv_that_resizes():
    import onnxruntime as ort
    from feagi_hailo_ros.devices.emulator_fuse import fuse_convolutions
    model = _two_convs([0, 1, 1, 1])                    # 2x3 kernel, asymmetric pads
    fused = fuse_convolutions(model)
    assert fused is not None and [n.op_type for n in fused.graph.node] == \
        ['Concat', 'Conv', 'Split', 'Add']
    x = np.random.default_rng(7).integers(0, 5, (1, 1, 6, 5)).astype(np.float32)
    runs = [ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
            .run(None, {'x': x})[0] for m in (model, fused)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert np.count_nonzero(runs[0]) > 5
    assert fuse_convolutions(_two_convs([0, 0, 0, 0])) is None     # output grid shrinks


def test_emulated_latency_is_the_round_trip_with_the_compute_inside_it():
    """An inference lasts the modelled latency, not latency + compute.

    A slower one (here an injected 300 ms hang against 100 ms) lasts as long as it takes
    and is counted. The margins (90 ms) leave room for a slow or loaded machine.
    """
    import time
    from feagi_hailo_ros.devices.export import export_partition
    from feagi_hailo_ros.devices.planner import plan_partitions
    c = small_synthetic(neurons=3000, hidden=1)
    exp = export_partition(c, plan_partitions(c, 'auto', 1).partitions[0])
    device = EmulatedHailo('e', latency_ms=100.0)
    device.open()
    device.upload(exp)
    graph_run, runs = device._graph.run, []

    def slow_third(*args, **kwargs):            # the emulation itself takes 300 ms once
        runs.append(1)
        if len(runs) == 3:
            time.sleep(0.3)
        return graph_run(*args, **kwargs)
    device._graph.run = slow_third
    io = PartitionIO(c, exp.manifest)
    fired = np.arange(0, 3000, 7, dtype=np.int64)
    inputs = io.inputs(fired, np.full(fired.size, 5.0, np.float32))
    took = []
    for _ in range(4):
        t0 = time.perf_counter()
        device.infer(inputs)
        took.append(time.perf_counter() - t0)
    assert all(t >= 0.100 for t in took)
    assert 0.300 <= took[2] < 0.390                  # the hang, with no 100 ms added
    assert min(took[1], took[3]) < 0.190             # compute hidden inside the latency
    notes = ' '.join(device.describe().notes)
    assert 'modelled latency 100 ms' in notes and '1 of 4 inferences took longer' in notes
    device.close()


def test_emulated_latency_is_waited_out_without_host_cpu():
    import time
    c = small_synthetic(neurons=3000, hidden=1)
    inject = random_vision_injections(c, 'iic400')
    with HybridEngine(c, lambda p: EmulatedHailo(p.name, latency_ms=20.0),
                      partition='auto') as hybrid:
        run_bursts(hybrid, 2, inject_fn=inject)               # compile, warm up
        wall, cpu = time.perf_counter(), time.process_time()
        run_bursts(hybrid, 10, inject_fn=inject, start=2)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        device_s = hybrid.last_timing.device_s
    assert wall >= 9 * 0.020 and device_s >= 0.020
    assert cpu < 0.5 * wall                                    # the worker sleeps
