"""Sparse emulator backend: the compiled graph gives onnxruntime's outputs on every op form.

Exported partitions of small brains (every operator form: centred conv with padded sources
and z > 1, strided (block downscale) conv, grouped conv, dense Flatten -> MatMul, stacked
inputs and outputs with count channels, several sources per target, several neurons per
voxel, non-exact manifests) are run through one SparseGraph several times in a
row (its buffers are cleared between runs) and compared with onnxruntime.
"""

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.devices.base import DeviceError
from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.devices.export import export_partition
from feagi_hailo_ros.devices.host_io import PartitionIO
from feagi_hailo_ros.devices.layout import from_onnx_layout, to_onnx_layout
from feagi_hailo_ros.devices.operators import analyse
from feagi_hailo_ros.devices.planner import DevicePartition, plan_partitions
from feagi_hailo_ros.devices.sparse_graph import SparseGraph
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import pytest
from test_devices_conftest_helpers import ESSENTIAL, PROBE, small_synthetic
from test_devices_operators import _brain, _vector_pairs


def _one_pair(c):
    """The export of a two-area brain's only operator (area 1 is the target)."""
    return export_partition(c, DevicePartition('t', [1], analyse(c)))


def _vectors(src_dims, dst_dims, vectors, weight=3, **kw):
    pairs = _vector_pairs(src_dims, dst_dims, vectors)
    return _one_pair(_brain(src_dims, dst_dims, pairs, [weight] * len(pairs), **kw))


def _irregular():
    rng = np.random.default_rng(0)
    pairs = sorted({(int(s), int(d)) for s, d in rng.integers(0, 36, (60, 2))})
    return _one_pair(_brain((6, 6, 1), (6, 6, 1), pairs, rng.integers(-4, 9, len(pairs))))


def _partitions(path, spec='auto'):
    c = build_connectome(str(path))
    return [export_partition(c, p) for p in plan_partitions(c, spec).partitions]


CASES = {
    'conv': lambda: _vectors((6, 5, 2), (6, 5, 2), [(0, 0, 0), (1, -1, 0), (-2, 0, 1)]),
    'conv_crop_pad_z': lambda: _vectors((7, 4, 3), (5, 6, 2), [(2, 1, -1), (-1, 3, 0)]),
    'conv_negative': lambda: _vectors((5, 5, 1), (5, 5, 1), [(-1, -2, 0)]),
    'conv_neurons_per_voxel': lambda: _vectors((4, 4, 1), (4, 4, 1), [(1, 0, 0)], weight=-7,
                                               n_src=2, n_dst=3),
    'dense': _irregular,
    'essential_add': lambda: _partitions(ESSENTIAL, 'c__bac,c__for,omot00')[0],
    'probe_separable_slice_clip_inexact': lambda: _partitions(PROBE)[0],
    'synthetic_conv_reach': lambda: _partitions_of(small_synthetic(neurons=6000)),
    'strided': lambda: _one_pair(_strided_brain()),
}


def _strided_brain():
    """8 x 6 x 2 -> 4 x 2 x 1: target (x // 2, y // 3) gets its block, weight 2."""
    src, dst = (8, 6, 2), (4, 2, 1)
    pairs = [((x * 6 + y) * 2 + z, (x // 2) * 2 + y // 3)
             for x in range(8) for y in range(6) for z in range(2)]
    return _brain(src, dst, pairs, [2] * len(pairs))


def _partitions_of(c):
    return export_partition(c, plan_partitions(c, 'auto', 1).partitions[0])


def _onnxruntime(exported, feed):
    import onnxruntime as ort
    session = ort.InferenceSession(exported.model, providers=['CPUExecutionProvider'])
    names = [o['name'] for o in exported.manifest['outputs']]
    results = session.run(names, {n: to_onnx_layout(g) for n, g in feed.items()})
    return {n: from_onnx_layout(r) for n, r in zip(names, results)}


def _random_inputs(manifest, rng, density, integral=True):
    """Sparse input grids (X, Y, Z): spikes 1, values integers 1..9 or floats in (0, 9]."""
    out = {}
    for spec in manifest['inputs']:
        fire = rng.random(spec['dims']) < density
        if spec['kind'] == 'spike':
            value = np.ones(spec['dims'])
        elif integral and spec['exact']:
            value = rng.integers(1, 10, spec['dims'])
        else:
            value = 9 * (1 - rng.random(spec['dims']))
        out[spec['name']] = np.where(fire, value, 0).astype(np.float32)
    return out


def _assert_same(got, want, exact, context=''):
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        if exact:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f'{context} {name}')
        else:
            scale = max(1.0, float(np.abs(want[name]).max()))
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-6 * scale,
                                       err_msg=f'{context} {name}')


@pytest.mark.parametrize('case', sorted(CASES))
def test_sparse_graph_equals_onnxruntime_over_consecutive_runs(case):
    exported = CASES[case]()
    graph = SparseGraph.compile(exported.model, exported.manifest)
    rng = np.random.default_rng(7)
    nonzero = 0
    for density in (0.3, 0.02, 0.9, 0.0, 0.5):
        for integral in (True, False):
            feed = _random_inputs(exported.manifest, rng, density, integral)
            got = graph.run(feed)
            want = _onnxruntime(exported, feed)
            exact = integral and all(i['exact'] for i in exported.manifest['inputs'])
            _assert_same(got, want, exact, f'{case} density {density}')
            nonzero += sum(int(np.count_nonzero(w)) for w in want.values())
            if density == 0.0:
                assert all(not np.any(g) for g in got.values())
    assert nonzero > 20


def test_the_compiled_cases_cover_every_operator_the_graph_builder_emits():
    ops = set()
    for make in CASES.values():
        ops |= {n.op_type for n in onnx.load_from_string(make().model).graph.node}
    assert ops == {'Conv', 'Add', 'Flatten', 'MatMul'}
    forms, strides, groups = set(), set(), set()
    for c in (build_connectome(str(PROBE)), build_connectome(str(ESSENTIAL)),
              _strided_brain()):
        forms |= {op.form for op in analyse(c)}
        strides |= {op.stride for op in analyse(c) if op.form == 'conv'}
    for make in CASES.values():
        groups |= {a.i for n in onnx.load_from_string(make().model).graph.node
                   for a in n.attribute if a.name == 'group'}
    assert {'conv', 'dense'} <= forms and len(strides) > 1 and max(groups) > 1
    assert _irregular().manifest['operators'][0]['form'] == 'dense'


def test_matrix_rows_are_the_responses_to_single_inputs():
    exported = _irregular()
    graph = SparseGraph.compile(onnx.load_from_string(exported.model), exported.manifest)
    assert len(graph.input_names) == 2          # fractional values and the spikes apart
    for name in graph.output_names:
        indptr, cols, vals = graph.matrix(name)
        assert indptr.dtype == np.int64 and cols.dtype == np.int32 and vals.dtype == np.float32
        n_out = int(np.prod(graph.output_dims[graph.output_names.index(name)]))
        for k, (input_name, dims) in enumerate(zip(graph.input_names, graph.input_dims)):
            for row in range(int(np.prod(dims))):
                feed = {n: np.zeros(d, np.float32)
                        for n, d in zip(graph.input_names, graph.input_dims)}
                feed[input_name].reshape(-1)[row] = 1.0
                want = _onnxruntime(exported, feed)[name].reshape(-1)
                at = int(graph.input_offset[k]) + row
                dense = np.zeros(n_out, np.float32)
                dense[cols[indptr[at]:indptr[at + 1]]] = vals[indptr[at]:indptr[at + 1]]
                np.testing.assert_array_equal(dense, want, err_msg=f'{name} row {at}')
    assert graph.nnz == sum(graph.matrix(n)[2].size for n in graph.output_names)


def _model(nodes, inits, inputs=('x',), outputs=('y',), shape=(1, 1, 4, 4)):
    info = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, 'g', [info(n, TensorProto.FLOAT, list(shape)) for n in inputs],
        [info(n, TensorProto.FLOAT, list(shape)) for n in outputs],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])


@pytest.mark.parametrize('nodes,inits,message', [
    ([helper.make_node('Relu', ['x'], ['y'], name='relu0')], {}, "'relu0' \\(Relu\\)"),
    ([helper.make_node('Conv', ['x', 'w'], ['y'], name='conv0', dilations=[2, 2],
                       pads=[2, 2, 2, 2])],
     {'w': np.ones((1, 1, 3, 3))}, "'conv0' \\(Conv\\): dilations"),
    ([helper.make_node('Conv', ['x', 'x'], ['y'], name='conv1', pads=[0, 0, 0, 0])], {},
     "'conv1' \\(Conv\\): weight 'x' is not a constant"),
    ([helper.make_node('Clip', ['x', 'lo', 'hi'], ['c'], name='clip0'),
      helper.make_node('Add', ['c', 'x'], ['y'], name='add0')],
     {'lo': np.float32(0), 'hi': np.float32(1)}, "'clip0' \\(Clip\\): .*last node"),
    ([helper.make_node('Add', ['x', 'b'], ['y'], name='bias0')], {'b': np.ones((1, 1, 4, 4))},
     "'bias0' \\(Add\\): input 'b' is a constant"),
])
def test_unsupported_nodes_are_refused_with_their_name_and_op(nodes, inits, message):
    with pytest.raises(ValueError, match=message):
        SparseGraph.compile(_model(nodes, inits), {})


def _devices(exported, **kw):
    sparse, ort = EmulatedHailo('s', **kw), EmulatedHailo('o', backend='onnxruntime', **kw)
    for dev in (sparse, ort):
        dev.open()
        dev.upload(exported)
    return sparse, ort


@pytest.mark.parametrize('brain', ['synthetic', 'probe'])
@pytest.mark.parametrize('quantized', [True, False])
def test_emulator_backends_give_the_same_outputs(brain, quantized):
    if brain == 'synthetic':
        c = small_synthetic(neurons=6000)
        exported = _partitions_of(c)
    else:
        c = build_connectome(str(PROBE))
        exported = export_partition(c, plan_partitions(c, 'auto').partitions[0])
    sparse, ort = _devices(exported, quantized=quantized)
    assert (sparse.backend_used, ort.backend_used) == ('sparse', 'onnxruntime')
    io = PartitionIO(c, exported.manifest)
    rng = np.random.default_rng(3)
    differs_from_plain = 0
    for density in (0.05, 0.4, 0.0, 0.8):
        fired = np.flatnonzero(rng.random(c.n_neurons) < density)
        grids = io.inputs(fired, rng.uniform(0, 300, fired.size).astype(np.float32))
        got, want = sparse.infer(grids), ort.infer(grids)
        _assert_same(got, want, exported.manifest['exact'] or quantized, f'density {density}')
        if quantized and not exported.manifest['exact']:
            plain = SparseGraph.compile(exported.model, exported.manifest).run(grids)
            differs_from_plain += sum(int(np.any(plain[n] != got[n])) for n in got)
    if quantized and not exported.manifest['exact']:
        assert differs_from_plain > 0          # the quantisation is really applied
    notes = sparse.describe().notes
    assert 'event-driven execution of the exported graph' in notes[0]
    assert any('self-check' in n for n in notes)
    assert 'onnxruntime on the host CPU' in ort.describe().notes[0]


def test_graphs_that_do_not_compile_run_on_onnxruntime_and_say_so(monkeypatch):
    exported = _irregular()

    def refuse(model, manifest, groups, min_weights=0):
        raise ValueError("sparse emulator: node 'n' (Foo): not supported")
    monkeypatch.setattr(SparseGraph, 'compile_groups', staticmethod(refuse))
    dev = EmulatedHailo('e', quantized=False)
    dev.open()
    dev.upload(exported)
    assert dev.backend_used == 'onnxruntime'
    notes = dev.describe().notes
    assert 'onnxruntime' in notes[0] and any("'n' (Foo)" in n for n in notes)
    feed = _random_inputs(exported.manifest, np.random.default_rng(1), 0.5)
    _assert_same(dev.infer(feed), _onnxruntime(exported, feed), True)   # the same session


def test_a_sparse_graph_that_disagrees_with_onnxruntime_fails_the_upload(monkeypatch):
    exported = _irregular()
    real = SparseGraph.compile_groups

    def corrupt(model, manifest, groups, min_weights=0):
        graphs = real(model, manifest, groups, min_weights)
        graphs[-1]._pattern_vals += 1
        return graphs
    monkeypatch.setattr(SparseGraph, 'compile_groups', staticmethod(corrupt))
    dev = EmulatedHailo('e')
    dev.open()
    with pytest.raises(DeviceError, match='self-check failed: output'):
        dev.upload(exported)
    unchecked = EmulatedHailo('u', check=False)
    unchecked.open()
    unchecked.upload(exported)
    assert unchecked.backend_used == 'sparse'
    assert not any('self-check' in n for n in unchecked.describe().notes)


def test_backend_is_validated_and_reopen_reuses_the_compiled_graph():
    with pytest.raises(ValueError, match="backend 'gpu'"):
        EmulatedHailo('e', backend='gpu')
    exported = _irregular()
    dev = EmulatedHailo('e')
    dev.open()
    dev.upload(exported)
    graph = dev._graph
    dev.close()
    with pytest.raises(DeviceError, match='no partition loaded'):
        dev.infer({})
    dev.open()
    dev.upload(exported)
    assert dev._graph is graph and dev.backend_used == 'sparse'


@pytest.mark.parametrize('groups', [2, 3])
def test_output_groups_run_at_once_give_the_single_graphs_outputs(groups, monkeypatch):
    """compile_groups splits whole outputs; SplitGraph runs them in threads, same result."""
    from feagi_hailo_ros.devices.sparse_graph import SplitGraph
    exported = _irregular()
    single = SparseGraph.compile(exported.model, exported.manifest)
    parts = SparseGraph.compile_groups(exported.model, exported.manifest, groups)
    names = [n for g in parts for n in g.output_names]
    assert sorted(names) == sorted(single.output_names) and len(set(names)) == len(names)
    assert len(parts) == min(groups, len(single.output_names)) and all(
        g.output_names for g in parts)
    split = SplitGraph(parts)
    rng = np.random.default_rng(3)
    try:
        for density in (0.3, 0.0, 0.6):
            feed = _random_inputs(exported.manifest, rng, density)
            want = {k: v.copy() for k, v in single.run(feed, quantized=True).items()}
            got = split.run(feed, quantized=True)
            assert set(got) == set(want)
            for name in want:
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)
            for name in single.output_names:
                for a, b in zip(split.matrix(name), single.matrix(name)):
                    np.testing.assert_array_equal(a, b)
    finally:
        split.close()
    whole = SparseGraph.compile_groups(exported.model, exported.manifest, groups,
                                       min_weights=single.nnz + 1)
    assert len(whole) == 1                         # too small to be worth a thread
    small = EmulatedHailo('s', threads=groups)
    small.open()
    small.upload(exported)
    assert isinstance(small._graph, SparseGraph)
    import feagi_hailo_ros.devices.emulator as emulator_module
    monkeypatch.setattr(emulator_module, 'SPLIT_MIN_WEIGHTS', 1)
    dev = EmulatedHailo('e', threads=groups)
    dev.open()
    dev.upload(exported)
    assert dev.backend_used == 'sparse' and isinstance(dev._graph, SplitGraph)
