"""Build one device partition's synaptic integration as an ONNX graph in the DFC-safe subset.

The tensors are stacking.py's: a few inputs (1, C, X, Y) whose channels are the source areas'
values and spikes, outputs (1, C, X, Y) whose channels are the targets' currents and synapse
counts, and flat (1, N) outputs of dense blocks (the Hailo parser turns grids into NHWC
(X, Y, C), the host's order). Ops, all in the subset HAILORT.md lists with its evidence:
- Conv: one per (input, output, stride), kernel odd and centred, pads (k-1)/2 on each side
  ("same"), no bias; grouped when its channels pair off block by block;
- Add of the convs into one output;
- Flatten -> MatMul with a constant weight: a dense block, the MatMul is the flat output.
No Reshape, Transpose, Slice, Clip, Split; every value 4-D with batch 1 but the Flatten ->
MatMul pair's. The node producing an output bears the output's name: a HEF's output streams
name their ONNX nodes (original names), and the device finds its streams through them.
"""

from math import gcd
from typing import List, Tuple

from feagi_hailo_ros.devices.operators import Operator
from feagi_hailo_ros.devices.stacking import Stacking, Tensor
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

OPSET = 13


def onnx_shape_of(tensor: Tensor) -> List[int]:
    """ONNX shape of a tensor: (1, C, X, Y) for a grid, (1, N) for a flat output."""
    if tensor.flat:
        return [1, int(tensor.shape[0])]
    x, y, c = (int(d) for d in tensor.shape)
    return [1, c, x, y]


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

    def node(self, op: str, inputs: List[str], stem: str, out: str = '', **attrs) -> str:
        out = out or self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _pairs(src: Tensor, dst: Tensor, ops: List[Operator]):
    """(op, input member, output member, reach?) for every block the ops put in a weight."""
    for op in ops:
        for kind, out_kind, reach in (('value', 'current', False), ('spike', 'count', True)):
            m_in, m_out = src.find(op.src, kind), dst.find(op.dst, out_kind)
            if m_in is not None and m_out is not None and op.src in m_out.sources:
                yield op, m_in, m_out, reach


def conv_weight(src: Tensor, dst: Tensor, ops: List[Operator]) -> np.ndarray:
    """The (C_out, C_in, kx, ky) weight of the ops from `src` into `dst` (kernels centred)."""
    px = max((op.kernel.shape[2] - 1) // 2 for op in ops)
    py = max((op.kernel.shape[3] - 1) // 2 for op in ops)
    weight = np.zeros((dst.shape[2], src.shape[2], 2 * px + 1, 2 * py + 1), np.float32)
    for op, m_in, m_out, reach in _pairs(src, dst, ops):
        kernel = op.reach_kernel * np.float32(dst.scale) if reach else op.kernel
        zd, zs, kx, ky = kernel.shape
        x0, y0 = px - (kx - 1) // 2, py - (ky - 1) // 2
        weight[m_out.offset:m_out.offset + zd, m_in.offset:m_in.offset + zs,
               x0:x0 + kx, y0:y0 + ky] += kernel
    return weight


def groups_of(weight: np.ndarray) -> int:
    """The most groups G for which the weight is block diagonal (G equal channel blocks)."""
    c_out, c_in = weight.shape[:2]
    used = np.any(weight != 0, axis=(2, 3))
    best = 1
    for g in range(1, gcd(c_out, c_in) + 1):
        if gcd(c_out, c_in) % g:
            continue
        bo, bi = c_out // g, c_in // g
        mask = np.kron(np.eye(g, dtype=bool), np.ones((bo, bi), dtype=bool))
        if not np.any(used & ~mask):
            best = g
    return best


def dense_matrix(src: Tensor, dst: Tensor, ops: List[Operator]) -> np.ndarray:
    """The (C*X*Y, N) MatMul weight: rows the input flattened (NCHW), columns host order."""
    x_c, y_c, c = (int(d) for d in src.shape)
    matrix = np.zeros((c * x_c * y_c, dst.shape[0]), np.float32)
    for op, m_in, m_out, reach in _pairs(src, dst, ops):
        block = op.reach_matrix * np.float32(dst.scale) if reach else op.matrix
        xs, ys, zs = m_in.dims
        v = np.arange(m_in.size)
        x, y, z = v // (ys * zs), (v // zs) % ys, v % zs
        rows = ((m_in.offset + z) * x_c + x) * y_c + y
        cols = m_out.offset + np.arange(m_out.size)
        matrix[np.ix_(rows, cols)] += block
    return matrix


def _conv(b: _Builder, src: Tensor, dst: Tensor, stride: Tuple[int, int],
          ops: List[Operator]) -> str:
    weight = conv_weight(src, dst, ops)
    groups = groups_of(weight)
    if groups > 1:                     # keep each group's own input channels
        bo, bi = weight.shape[0] // groups, weight.shape[1] // groups
        weight = np.concatenate([weight[g * bo:(g + 1) * bo, g * bi:(g + 1) * bi]
                                 for g in range(groups)])
    px, py = (weight.shape[2] - 1) // 2, (weight.shape[3] - 1) // 2
    return b.node('Conv', [src.name, b.const(weight, 'kernel')], 'conv',
                  kernel_shape=list(weight.shape[2:]), pads=[px, py, px, py],
                  strides=list(stride), group=groups)


def build_graph(stacking: Stacking, name: str) -> onnx.ModelProto:
    """Return the ONNX model of a partition's stacked tensors (see the module doc)."""
    b = _Builder()
    tensors = {t.name: t for t in stacking.inputs + stacking.outputs}
    inputs = [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, onnx_shape_of(t))
              for t in stacking.inputs]
    outputs = []
    for out in stacking.outputs:
        if out.flat:
            (src, _, ops), = [d for d in stacking.denses if d[1] == out.name]
            flat = b.node('Flatten', [src], 'flat', axis=1)
            matrix = dense_matrix(tensors[src], out, ops)
            b.node('MatMul', [flat, b.const(matrix, 'dense')], 'dense', out=out.name)
        else:
            terms = [_conv(b, tensors[src], out, stride, ops)
                     for src, dst, stride, ops in stacking.convs if dst == out.name]
            total = terms[0]
            for term in terms[1:]:
                total = b.node('Add', [total, term], 'sum')
            last = b.nodes[-1]
            if last.output[0] != total:
                raise AssertionError('graph builder: the last node must produce the sum')
            last.output[0] = last.name = out.name   # the HEF's original names are node names
        outputs.append(helper.make_tensor_value_info(out.name, TensorProto.FLOAT,
                                                     onnx_shape_of(out)))
    graph = helper.make_graph(b.nodes, name, inputs, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='feagi_hailo_ros')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
