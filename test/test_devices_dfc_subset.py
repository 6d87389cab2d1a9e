"""Every exported device graph stays inside the Hailo DFC's safe subset (issue 16, item 1).

`subset_problems` walks an ONNX model and lists every break of the rules of ../shared/
HAILORT.md ("Compiling a graph into a HEF"): allowed ops only (Conv, Add, Concat on channels,
Flatten -> MatMul with a constant weight); every value 4-D with batch 1 but a Flatten's
output and the MatMul reading it; Conv kernels odd and centred ("same": pads (k-1)/2 on both
sides), constant, undilated; at most 8 inputs and 8 outputs; each output produced by a node
of its own name. It runs on the exports of the fixture genomes, a synthetic 100k brain and
the vision genome, and on hand-made graphs that break one rule each.
"""

from pathlib import Path

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.brain.connectome import Connectome
from feagi_hailo_ros.brain.genome import AreaSpec
from feagi_hailo_ros.brain.synth import synthetic_genome
from feagi_hailo_ros.devices.export import export_partition
from feagi_hailo_ros.devices.operators import analyse
from feagi_hailo_ros.devices.planner import plan_partitions
import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference, TensorProto
import pytest
from test_devices_conftest_helpers import DATA_DIR, PROBE

ALLOWED = {'Conv', 'Add', 'Concat', 'Flatten', 'MatMul'}
MAX_STREAMS = 8
GENOMES = sorted(p.name for p in Path(DATA_DIR).glob('*.json')) + ['conformance_probe.json']


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _shapes(model: onnx.ModelProto) -> dict:
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    g = inferred.graph
    return {v.name: [d.dim_value if d.HasField('dim_value') else None
                     for d in v.type.tensor_type.shape.dim]
            for v in list(g.input) + list(g.value_info) + list(g.output)}


def _conv_problems(node, consts, where) -> list:
    attrs = _attrs(node)
    if len(node.input) < 2 or node.input[1] not in consts:
        return [f'{where}: weight is not a constant']
    weight = consts[node.input[1]]
    kernel = list(weight.shape[2:])
    problems = []
    if len(kernel) != 2 or any(k % 2 == 0 for k in kernel):
        problems.append(f'{where}: kernel {kernel} is not odd')
    pads = list(attrs.get('pads', [0] * 2 * len(kernel)))
    half = [(k - 1) // 2 for k in kernel]
    if pads[:len(kernel)] != pads[len(kernel):]:
        problems.append(f'{where}: pads {pads} are not symmetric')
    elif pads[:len(kernel)] != half:
        problems.append(f'{where}: pads {pads} are not (k-1)/2 = {half} (not centred)')
    if attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        problems.append(f'{where}: auto_pad {attrs["auto_pad"]}')
    if any(d != 1 for d in attrs.get('dilations', [1, 1])):
        problems.append(f'{where}: dilations {attrs["dilations"]}')
    if len(node.input) > 2 and node.input[2] and node.input[2] not in consts:
        problems.append(f'{where}: bias is not a constant')
    return problems


def subset_problems(model: onnx.ModelProto) -> list:
    """Every break of the DFC-safe subset in `model` ([] when it is inside)."""
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = [v for v in g.input if v.name not in consts]
    problems = []
    if len(inputs) > MAX_STREAMS:
        problems.append(f'{len(inputs)} inputs (more than {MAX_STREAMS})')
    if len(g.output) > MAX_STREAMS:
        problems.append(f'{len(g.output)} outputs (more than {MAX_STREAMS})')
    try:
        shapes = _shapes(model)
    except Exception as exc:                  # noqa: BLE001 - reported as a problem
        return problems + [f'shape inference failed: {exc}']
    producer = {out: node for node in g.node for out in node.output}
    users = {}
    for node in g.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    flat_ok = set()                 # 2-D values allowed: Flatten outputs read by MatMul only
    for node in g.node:
        where = f'node {node.name!r} ({node.op_type})'
        if node.op_type not in ALLOWED:
            problems.append(f'{where}: op not in the subset')
            continue
        if node.op_type == 'Conv':
            problems += _conv_problems(node, consts, where)
        elif node.op_type == 'Concat' and _attrs(node).get('axis') != 1:
            problems.append(f'{where}: axis {_attrs(node).get("axis")} is not the channels')
        elif node.op_type == 'Flatten':
            readers = users.get(node.output[0], [])
            if _attrs(node).get('axis', 1) != 1 or not readers or \
                    any(r.op_type != 'MatMul' for r in readers):
                problems.append(f'{where}: a Flatten must be axis 1 and feed MatMuls only')
            flat_ok.add(node.output[0])
        elif node.op_type == 'MatMul':
            source = producer.get(node.input[0])
            weight = consts.get(node.input[1])
            if source is None or source.op_type != 'Flatten' or weight is None \
                    or weight.ndim != 2:
                problems.append(f'{where}: not Flatten -> MatMul with a constant 2-D weight')
            flat_ok.add(node.output[0])
        elif node.op_type == 'Add' and any(name in consts for name in node.input):
            problems.append(f'{where}: adds a constant (a bias, not a sum of paths)')
    for name, shape in shapes.items():
        if name in consts:
            continue
        if name in flat_ok:
            if len(shape) != 2 or shape[0] != 1:
                problems.append(f'value {name!r}: shape {shape}, expected (1, N)')
        elif len(shape) != 4 or shape[0] != 1:
            problems.append(f'value {name!r}: shape {shape} is not 4-D with batch 1')
    for out in g.output:
        node = producer.get(out.name)
        if node is None or node.name != out.name:
            problems.append(f'output {out.name!r}: produced by node '
                            f'{getattr(node, "name", None)!r}, not a node of its name')
        elif node.op_type == 'MatMul' and out.name not in flat_ok:
            problems.append(f'output {out.name!r}: a MatMul not fed by Flatten')
    return problems


def _exports(c, spec='auto'):
    plan = plan_partitions(c, spec)
    return plan, [export_partition(c, part) for part in plan.partitions]


def _every_device_target(c) -> str:
    """All areas some device mapping reaches: the planner must keep to the stream limit."""
    return ','.join(sorted({op.dst_id for op in analyse(c) if op.on_device}))


@pytest.mark.parametrize('genome', GENOMES)
def test_fixture_genomes_export_inside_the_subset(genome):
    path = PROBE if genome == 'conformance_probe.json' else Path(DATA_DIR) / genome
    c = build_connectome(str(path))
    specs = ['auto'] + ([_every_device_target(c)] if _every_device_target(c) else [])
    for spec in specs:
        _, exported = _exports(c, spec)
        for exp in exported:
            model = onnx.load_from_string(exp.model)
            assert subset_problems(model) == [], (genome, spec)


def test_the_vision_genome_and_a_synthetic_100k_brain_keep_mappings_on_the_device():
    for c in (build_connectome(str(Path(DATA_DIR) / 'vision_genome.json')),
              build_connectome(synthetic_genome(100_000))):
        plan, exported = _exports(c)
        assert exported and sum(len(p.operators) for p in plan.partitions) >= 8
        for exp in exported:
            model = onnx.load_from_string(exp.model)
            assert subset_problems(model) == []
            assert len(model.graph.input) <= 2 and len(model.graph.output) <= 2   # stacked
        forms = {op.form for p in plan.partitions for op in p.operators}
        assert forms & {'conv', 'dense'}


def _many_sizes(n_areas: int) -> Connectome:
    """Sources and targets of `n_areas` different sizes, each pair joined by a small kernel."""
    areas, src, dst, weight = [], [], [], []
    start = 0
    for k in range(n_areas):
        dims = (3 + k, 4, 1)
        for name in (f's{k:02d}', f't{k:02d}'):
            areas.append(AreaSpec(id=name, name=name, role='custom', unit=None,
                                  index_in_unit=0, dims=dims, psp=1.0, psp_uniform=True))
        n = dims[0] * dims[1]
        for v in range(n):
            x, y = divmod(v, dims[1])
            for dx, dy in ((0, 0), (1, 0), (0, -1)):
                if 0 <= x + dx < dims[0] and 0 <= y + dy < dims[1]:
                    src.append(start + v)
                    dst.append(start + n + (x + dx) * dims[1] + y + dy)
                    weight.append(2)
        start += 2 * n
    return Connectome.from_synapse_list(areas, np.array(src), np.array(dst), np.array(weight))


def test_more_grid_sizes_than_streams_leave_the_extra_areas_on_the_cpu_with_the_reason():
    c = _many_sizes(10)
    plan, exported = _exports(c, 'auto')
    (part,) = plan.partitions
    assert len(part.targets) == MAX_STREAMS
    assert sum('more than 8 streams' in note and 'kept on the CPU' in note
               for note in plan.notes) == 2
    model = onnx.load_from_string(exported[0].model)
    assert subset_problems(model) == []
    assert len(model.graph.input) == len(model.graph.output) == MAX_STREAMS


# ---- the walker catches each break of the rules ------------------------------------------
def _model(nodes, inits, inputs, outputs):
    info = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, 'g', [info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])


def _conv(name, x, w, **kw):
    return helper.make_node('Conv', [x, w], [name], name=name, **kw)


GRID = [1, 2, 6, 6]
GOOD = _model([_conv('y', 'x', 'w', pads=[1, 1, 1, 1])], {'w': np.ones((2, 2, 3, 3))},
              [('x', GRID)], [('y', GRID)])


def _int64(value):
    return numpy_helper.from_array(np.asarray(value, np.int64), f'c{len(value)}')


def _with_int64(model, *arrays):
    model.graph.initializer.extend(arrays)
    return model


BAD = {
    'reshape': (_with_int64(_model(
        [helper.make_node('Reshape', ['x', 'c2'], ['y'], name='y')], {},
        [('x', GRID)], [('y', [1, 72])]), _int64([1, 72])), 'op not in the subset'),
    'transpose': (_model([helper.make_node('Transpose', ['x'], ['y'], name='y',
                                           perm=[0, 1, 3, 2])], {},
                         [('x', GRID)], [('y', GRID)]), 'op not in the subset'),
    'clip': (_model([helper.make_node('Clip', ['x'], ['y'], name='y')], {},
                    [('x', GRID)], [('y', GRID)]), 'op not in the subset'),
    'even kernel': (_model([_conv('y', 'x', 'w', pads=[1, 1, 2, 2])],
                           {'w': np.ones((2, 2, 4, 4))}, [('x', GRID)], [('y', GRID)]),
                    'kernel [4, 4] is not odd'),
    'asymmetric pads': (_model([_conv('y', 'x', 'w', pads=[0, 0, 2, 2])],
                               {'w': np.ones((2, 2, 3, 3))}, [('x', GRID)], [('y', GRID)]),
                        'not symmetric'),
    'off-centre pads': (_model([_conv('y', 'x', 'w', pads=[2, 2, 2, 2])],
                               {'w': np.ones((2, 2, 3, 3))}, [('x', GRID)],
                               [('y', [1, 2, 8, 8])]), 'not (k-1)/2'),
    'nine outputs': (_model([_conv(f'y{k}', 'x', 'w', pads=[1, 1, 1, 1]) for k in range(9)],
                            {'w': np.ones((2, 2, 3, 3))}, [('x', GRID)],
                            [(f'y{k}', GRID) for k in range(9)]), '9 outputs'),
    'nine inputs': (_model([_conv(f'y{k}', f'x{k}', 'w', pads=[1, 1, 1, 1])
                            for k in range(9)], {'w': np.ones((2, 2, 3, 3))},
                           [(f'x{k}', GRID) for k in range(9)],
                           [(f'y{k}', GRID) for k in range(1)]), '9 inputs'),
    'concat on width': (_model([helper.make_node('Concat', ['x', 'x'], ['y'], name='y',
                                                 axis=3)], {},
                               [('x', GRID)], [('y', [1, 2, 6, 12])]), 'is not the channels'),
    'three-d value': (_model([helper.make_node('Add', ['x', 'x'], ['y'], name='y')], {},
                             [('x', [1, 2, 6])], [('y', [1, 2, 6])]), 'not 4-D'),
    'batch 2': (_model([_conv('y', 'x', 'w', pads=[1, 1, 1, 1])], {'w': np.ones((2, 2, 3, 3))},
                       [('x', [2, 2, 6, 6])], [('y', [2, 2, 6, 6])]), 'batch 1'),
    'output node named otherwise': (_model(
        [helper.make_node('Conv', ['x', 'w'], ['y'], name='conv_7', pads=[1, 1, 1, 1])],
        {'w': np.ones((2, 2, 3, 3))}, [('x', GRID)], [('y', GRID)]), 'not a node of its name'),
    'matmul without flatten': (_model(
        [helper.make_node('MatMul', ['x', 'm'], ['y'], name='y')], {'m': np.ones((6, 6))},
        [('x', GRID)], [('y', GRID)]), 'not Flatten -> MatMul'),
    'non-constant conv weight': (_model([_conv('y', 'x', 'x2', pads=[1, 1, 1, 1])], {},
                                        [('x', GRID), ('x2', [2, 2, 3, 3])], [('y', GRID)]),
                                 'weight is not a constant'),
}


def test_the_walker_accepts_a_plain_same_conv_and_flatten_matmul():
    assert subset_problems(GOOD) == []
    dense = _model([helper.make_node('Flatten', ['x'], ['f'], name='f', axis=1),
                    helper.make_node('MatMul', ['f', 'm'], ['y'], name='y')],
                   {'m': np.ones((72, 5))}, [('x', GRID)], [('y', [1, 5])])
    assert subset_problems(dense) == []


@pytest.mark.parametrize('case', sorted(BAD))
def test_the_walker_catches_each_break_of_the_rules(case):
    model, expected = BAD[case]
    problems = subset_problems(model)
    assert any(expected in p for p in problems), problems
