"""Emulator compile step: the partition graph's convolutions as one grouped Conv.

A partition graph holds one small Conv per area pair (often one channel in, one out), which
onnxruntime runs one after another, each with its own im2col and GEMM. When every Conv of
the graph reads a graph input directly, keeps its spatial size, and all have the same
channel counts and grid, they are the groups of one grouped Conv: Concat the inputs, run
one Conv (group = number of pairs; each kernel embedded in a common window with zeros), and
Split the result back into the original Conv outputs; the Add and Clip nodes stay. Exact for
integer graphs (manifest `exact`): integer sums below 2**24 do not depend on their order.
Anything else (Slice, MatMul, other shapes) leaves the graph as it is (returns None).
"""

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

_ALLOWED = {'Conv', 'Add', 'Clip'}


def _attrs(node) -> Dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def fuse_convolutions(model: onnx.ModelProto) -> Optional[onnx.ModelProto]:
    """Return the graph with its Convs as one grouped Conv, or None when it does not fit."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    shapes = {}
    for value in graph.input:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        shapes[value.name] = dims
    convs = [n for n in graph.node if n.op_type == 'Conv']
    if len(convs) < 2 or any(n.op_type not in _ALLOWED for n in graph.node):
        return None
    kernels: List[np.ndarray] = []
    pads: List[List[int]] = []
    common = None
    for node in convs:
        attrs = _attrs(node)
        if (len(node.input) != 2 or node.input[0] not in shapes or node.input[1] not in inits
                or attrs.get('group', 1) != 1 or list(attrs.get('strides', [1, 1])) != [1, 1]
                or any(d != 1 for d in attrs.get('dilations', [1, 1]))):
            return None
        w = numpy_helper.to_array(inits[node.input[1]])
        shape = shapes[node.input[0]]
        p = list(attrs.get('pads', [0, 0, 0, 0]))
        if w.ndim != 4 or len(shape) != 4 or shape[0] != 1 or w.shape[1] != shape[1]:
            return None
        if any(shape[2 + a] + p[a] + p[a + 2] - w.shape[2 + a] + 1 != shape[2 + a]
               for a in (0, 1)):
            return None                         # output grid differs from the input grid
        key = (w.shape[0], w.shape[1], shape[2], shape[3])
        if common is None:
            common = key
        elif key != common:
            return None
        kernels.append(w.astype(np.float32))
        pads.append(p)
    zd, zs = common[0], common[1]
    begin = [max(p[a] for p in pads) for a in (0, 1)]
    size = [max(begin[a] - p[a] + w.shape[2 + a] for p, w in zip(pads, kernels))
            for a in (0, 1)]
    weight = np.zeros((len(convs) * zd, zs, size[0], size[1]), np.float32)
    for g, (p, w) in enumerate(zip(pads, kernels)):
        o0, o1 = begin[0] - p[0], begin[1] - p[1]
        weight[g * zd:(g + 1) * zd, :, o0:o0 + w.shape[2], o1:o1 + w.shape[3]] = w
    end = [size[a] - 1 - begin[a] for a in (0, 1)]
    nodes = [
        helper.make_node('Concat', [n.input[0] for n in convs], ['fused_in'], axis=1,
                         name='fused_concat'),
        helper.make_node('Conv', ['fused_in', 'fused_w'], ['fused_out'], name='fused_conv',
                         kernel_shape=size, pads=begin + end, group=len(convs)),
        helper.make_node('Split', ['fused_out', 'fused_split'], [n.output[0] for n in convs],
                         axis=1, name='fused_split')]
    nodes += [n for n in graph.node if n.op_type != 'Conv']
    new_inits = [t for t in graph.initializer if t.name not in {n.input[1] for n in convs}]
    new_inits += [numpy_helper.from_array(weight, 'fused_w'),
                  numpy_helper.from_array(np.full(len(convs), zd, np.int64), 'fused_split')]
    fused = helper.make_graph(nodes, graph.name + '_fused', list(graph.input),
                              list(graph.output), new_inits)
    out = helper.make_model(fused, opset_imports=list(model.opset_import),
                            producer_name='feagi_hailo_ros emulator')
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out
