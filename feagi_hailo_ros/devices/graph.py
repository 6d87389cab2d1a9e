"""Build one device partition's synaptic integration as an ONNX graph of Hailo-friendly ops.

Inputs, per source area `a` feeding the partition: `in_a` (per-voxel input value: psp,
1/out-degree and mp_driven_psp folded in by the host) and `spk_a` (1 where a voxel fired),
both NCHW (1, Z, X, Y); the Hailo parser turns them into NHWC (X, Y, Z), the host's natural
order. Outputs, per target area `b`: `cur_b` (input current per voxel) and `reach_b` (1 where
some synapse reached the voxel: FEAGI's candidacy, even when the net input is 0). Ops used:
Conv, MatMul with constant weights, Reshape, Transpose, Slice, Add, Clip (DFC-supported list in
HAILORT.md; three-dimensional batched MatMul of the separable form is marked (check)). The node
producing an output bears the output's name: a HEF's output streams name their ONNX nodes
(original names), and the device finds its streams through them.
"""

from typing import Dict, List, Optional, Set, Tuple

from feagi_hailo_ros.devices.layout import onnx_shape
from feagi_hailo_ros.devices.operators import Operator
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

OPSET = 13


def input_names(area_index: int) -> Tuple[str, str]:
    """Names of a source area's value and spike inputs."""
    return f'in_{area_index}', f'spk_{area_index}'


def output_names(area_index: int) -> Tuple[str, str]:
    """Names of a target area's current and reach outputs."""
    return f'cur_{area_index}', f'reach_{area_index}'


class _Builder:
    """Accumulates nodes and constant initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: List[onnx.NodeProto] = []
        self.inits: List[onnx.TensorProto] = []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f'{stem}_{self._n}'

    def const(self, array: np.ndarray, stem: str) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: List[str], stem: str, **attrs) -> str:
        out = self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _conv(b: _Builder, x: str, kernel: np.ndarray, op: Operator, sdims, ddims) -> str:
    """Conv2D whose tap (kx, ky) = (dx_max - dx, dy_max - dy) adds in[s] to out[s + d]."""
    kx, ky = kernel.shape[2], kernel.shape[3]
    starts, ends, pads_begin, pads_end = [], [], [], []
    for axis, k, off in ((0, kx, op.offset_max[0]), (1, ky, op.offset_max[1])):
        n_src, n_dst = int(sdims[axis]), int(ddims[axis])
        before = off
        after = n_dst + k - 1 - n_src - before
        starts.append(max(0, -before))
        ends.append(n_src - max(0, -after))
        pads_begin.append(max(0, before))
        pads_end.append(max(0, after))
    if starts != [0, 0] or ends != [int(sdims[0]), int(sdims[1])]:
        x = b.node('Slice', [x, b.const(np.array(starts, np.int64), 'starts'),
                             b.const(np.array(ends, np.int64), 'ends'),
                             b.const(np.array([2, 3], np.int64), 'axes')], 'crop')
    w = b.const(kernel.astype(np.float32), 'kernel')
    return b.node('Conv', [x, w], 'conv', kernel_shape=[kx, ky],
                  pads=pads_begin + pads_end, strides=[1, 1])


def _separable(b: _Builder, x: str, axes, scale: float, sdims, ddims) -> str:
    """Apply Mx (x) My (x) Mz: one MatMul per axis (x, y, z relations src -> dst)."""
    mx, my, mz = axes
    h = b.node('Reshape', [x, b.const(np.array(onnx_shape(sdims)[1:], np.int64), 'shape')],
               'flat')                                                            # zs,xs,ys
    h = b.node('MatMul', [h, b.const(my.astype(np.float32), 'my')], 'along_y')   # zs,xs,yd
    h = b.node('Transpose', [h], 'tr', perm=[0, 2, 1])                            # zs,yd,xs
    h = b.node('MatMul', [h, b.const(mx.astype(np.float32), 'mx')], 'along_x')   # zs,yd,xd
    h = b.node('Transpose', [h], 'tr', perm=[1, 2, 0])                            # yd,xd,zs
    mz = (mz * np.float32(scale)).astype(np.float32)
    h = b.node('MatMul', [h, b.const(mz, 'mz')], 'along_z')                       # yd,xd,zd
    h = b.node('Transpose', [h], 'tr', perm=[2, 1, 0])                            # zd,xd,yd
    return b.node('Reshape', [h, b.const(np.array(onnx_shape(ddims), np.int64), 'shape')],
                  'grid')


def _dense(b: _Builder, x: str, matrix: np.ndarray, sdims, ddims) -> str:
    n_src = int(np.prod(sdims))
    h = b.node('Reshape', [x, b.const(np.array([1, n_src], np.int64), 'shape')], 'flat')
    h = b.node('MatMul', [h, b.const(matrix.astype(np.float32), 'dense')], 'dense_mm')
    shape = np.array(onnx_shape(ddims), np.int64)
    return b.node('Reshape', [h, b.const(shape, 'shape')], 'grid')


def _apply(b: _Builder, op: Operator, x: str, reach: bool, sdims, ddims) -> str:
    if op.form == 'conv':
        return _conv(b, x, op.reach_kernel if reach else op.kernel, op, sdims, ddims)
    if op.form == 'separable':
        scale = op.scalar_count if reach else op.scalar_weight
        return _separable(b, x, op.axes, float(scale), sdims, ddims)
    if op.form == 'dense':
        return _dense(b, x, op.reach_matrix if reach else op.matrix, sdims, ddims)
    raise ValueError(f'operator {op.src_id} -> {op.dst_id} runs on the CPU ({op.reason})')


def build_graph(areas, operators: List[Operator], name: str,
                reach_targets: Optional[Set[int]] = None) -> onnx.ModelProto:
    """Return the ONNX model of all device operators, grouped by target area.

    Only the targets in `reach_targets` (default: all) get a reach output.
    """
    b = _Builder()
    sources = sorted({op.src for op in operators})
    targets = sorted({op.dst for op in operators})
    need_spikes = {op.src for op in operators
                   if reach_targets is None or op.dst in reach_targets}
    inputs = []
    for a in sources:
        shape = list(onnx_shape(areas[a].dims))
        value_name, spike_name = input_names(a)
        for n in ([value_name, spike_name] if a in need_spikes else [value_name]):
            inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, shape))
    outputs = []
    by_target: Dict[int, List[Operator]] = {t: [] for t in targets}
    for op in operators:
        by_target[op.dst].append(op)
    for t in targets:
        ddims = areas[t].dims
        cur_name, reach_name = output_names(t)
        wanted = [(False, cur_name)]
        if reach_targets is None or t in reach_targets:
            wanted.append((True, reach_name))
        for reach, out_name in wanted:
            terms = []
            for op in by_target[t]:
                x = input_names(op.src)[1 if reach else 0]
                terms.append(_apply(b, op, x, reach, areas[op.src].dims, ddims))
            total = terms[0]
            for term in terms[1:]:
                total = b.node('Add', [total, term], 'sum')
            if reach:
                total = b.node('Clip', [total, b.const(np.array(0, np.float32), 'lo'),
                                        b.const(np.array(1, np.float32), 'hi')], 'clip')
            last = b.nodes[-1]
            if last.output[0] != total:
                raise AssertionError('graph builder: the last node must produce the sum')
            last.output[0] = out_name
            last.name = out_name        # the HEF's original names are ONNX node names
            shape = list(onnx_shape(ddims))
            outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(b.nodes, name, inputs, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='feagi_hailo_ros')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
