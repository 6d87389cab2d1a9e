"""The sparse emulator's compiler: an exported partition graph as one linear map per output.

The graph is linear in its inputs (Conv, also grouped and strided, Add, Flatten, MatMul with
constant weights; older exports also Slice, Reshape, Transpose and a final Clip), so
`compile_outputs` composes it, node by node (COO arrays, numpy), into one map per output:
rows are the concatenated input elements in the host order ((X, Y, C) for a (1, C, X, Y)
grid: `(x*Y + y)*C + c`), columns the output's elements channel by channel (planar: the
graph's own order `(c*X + x)*Y + y`, so that each area's channels of a stacked output are
contiguous on the host), or (N,) for a flat (1, N) output. `sparse_graph.SparseGraph` stores
and runs these maps.
"""

from typing import Dict, List, Optional, Tuple, Union

from feagi_hailo_ros.devices.layout import host_dims, onnx_to_host_index
import numpy as np
import onnx
from onnx import helper, numpy_helper

# one tensor of the graph as a linear map: COO (element of the tensor, C order) <- input
_Coo = Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, ...]]
# one output's map: (name, host dims (X, Y, Z), input rows, host columns, values)
OutputMap = Tuple[str, Tuple[int, int, int], np.ndarray, np.ndarray, np.ndarray]


def compile_outputs(model: Union[onnx.ModelProto, bytes]
                    ) -> Tuple['GraphCompiler', List[OutputMap]]:
    """Compose a graph into one map per output (ValueError if it is not linear).

    Returns the compiler (its inputs, sizes and clips) and the outputs' maps in the
    graph's output order.
    """
    if isinstance(model, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(model))
    comp = GraphCompiler(model)
    comp.run(model.graph.node)
    entries = []
    for value in model.graph.output:
        declared = tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
        rows, cols, vals, shape = comp.maps[value.name]
        if len(shape) not in (2, 4) or shape[0] != 1 or (declared and declared != tuple(shape)):
            raise ValueError(f'sparse emulator: output {value.name!r} has shape {shape}, '
                             f'declared {declared}; expected (1, C, X, Y) or (1, N)')
        if len(shape) == 2:
            entries.append((value.name, (int(shape[1]),), cols, rows, vals))
            continue
        entries.append((value.name, host_dims(shape), cols, rows, vals))   # planar (C, X, Y)
    comp.maps.clear()
    return comp, entries


class GraphCompiler:
    """Walks the graph's nodes, keeping every live tensor as a COO map from the inputs."""

    def __init__(self, model: onnx.ModelProto):
        graph = model.graph
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.maps: Dict[str, _Coo] = {}
        self.input_names: List[str] = []
        self.input_dims: List[Tuple[int, int, int]] = []
        offset = 0
        for value in graph.input:
            if value.name in self.consts:
                continue
            shape = tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
            if len(shape) != 4 or shape[0] != 1 or min(shape) < 1:
                raise ValueError(f'graph input {value.name!r}: shape {shape} is not '
                                 '(1, Z, X, Y)')
            dims = host_dims(shape)
            n = int(np.prod(dims))
            rows = np.arange(n, dtype=np.int64)
            self.maps[value.name] = (rows, offset + onnx_to_host_index(rows, dims),
                                     np.ones(n), shape)
            self.input_names.append(value.name)
            self.input_dims.append(dims)
            offset += n
        self.n_inputs = offset
        self.outputs = [o.name for o in graph.output]
        self.clips: Dict[str, Tuple[float, float]] = {}
        self.uses: Dict[str, int] = {}
        for node in graph.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1

    def run(self, nodes) -> None:
        handlers = {'Slice': self._slice, 'Conv': self._conv, 'Reshape': self._reshape,
                    'MatMul': self._matmul, 'Transpose': self._transpose, 'Add': self._add,
                    'Clip': self._clip, 'Flatten': self._flatten}
        for node in nodes:
            handler = handlers.get(node.op_type)
            if handler is None:
                raise _error(node, 'operator not supported by the sparse emulator (it runs '
                             'Conv, Add, Flatten, MatMul, Slice, Reshape, Transpose and a '
                             'final Clip)')
            if len(node.output) != 1:
                raise _error(node, f'{len(node.output)} outputs (expected 1)')
            result = handler(node, _attrs(node))
            for name in node.input:
                self.uses[name] -= 1
                if self.uses[name] == 0 and name not in self.outputs:
                    self.maps.pop(name, None)
            self.maps[node.output[0]] = result

    # ---- operand access ----------------------------------------------------------------
    def _data(self, node, k: int = 0) -> _Coo:
        name = node.input[k] if len(node.input) > k else ''
        if name in self.consts:
            raise _error(node, f'input {name!r} is a constant (only linear maps of the graph '
                         'inputs are supported)')
        if name not in self.maps:
            raise _error(node, f'input {name!r} is not produced before this node')
        return self.maps[name]

    def _const(self, node, k: int, what: str, required: bool = True) -> Optional[np.ndarray]:
        name = node.input[k] if len(node.input) > k else ''
        if not name:
            if required:
                raise _error(node, f'{what} is missing')
            return None
        if name not in self.consts:
            raise _error(node, f'{what} {name!r} is not a constant initializer')
        return self.consts[name]

    # ---- operators ---------------------------------------------------------------------
    def _slice(self, node, attrs) -> _Coo:
        rows, cols, vals, shape = self._data(node)
        starts = self._const(node, 1, 'starts').astype(np.int64).ravel()
        ends = self._const(node, 2, 'ends').astype(np.int64).ravel()
        axes = self._const(node, 3, 'axes', required=False)
        steps = self._const(node, 4, 'steps', required=False)
        axes = np.arange(starts.size) if axes is None else axes.astype(np.int64).ravel()
        if steps is not None and np.any(steps != 1):
            raise _error(node, f'steps {steps.tolist()} (only 1 is supported)')
        index = list(np.unravel_index(rows, shape))
        keep = np.ones(rows.size, dtype=bool)
        new_shape = list(shape)
        for axis, start, end in zip(axes.tolist(), starts.tolist(), ends.tolist()):
            axis = axis + len(shape) if axis < 0 else axis
            n = shape[axis]
            start = min(max(start + n if start < 0 else start, 0), n)
            end = min(max(end + n if end < 0 else end, 0), n)
            end = max(end, start)
            keep &= (index[axis] >= start) & (index[axis] < end)
            index[axis] = index[axis] - start
            new_shape[axis] = end - start
        index = [i[keep] for i in index]
        new_shape = tuple(new_shape)
        return np.ravel_multi_index(index, new_shape), cols[keep], vals[keep], new_shape

    def _conv(self, node, attrs) -> _Coo:
        rows, cols, vals, shape = self._data(node)
        weight = self._const(node, 1, 'weight')
        if len(node.input) > 2 and node.input[2]:
            raise _error(node, 'a bias makes the graph affine, not linear')
        groups = int(attrs.get('group', 1))
        if attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
            raise _error(node, f'auto_pad {attrs["auto_pad"]!r} (give explicit pads)')
        if len(shape) != 4 or weight.ndim != 4 or weight.shape[1] * groups != shape[1] \
                or weight.shape[0] % groups:
            raise _error(node, f'input {shape}, weight {weight.shape} and group {groups} are '
                         'not a 2-D conv')
        if any(d != 1 for d in attrs.get('dilations', [1, 1])):
            raise _error(node, 'dilations other than 1')
        sh, sw = (int(v) for v in attrs.get('strides', [1, 1]))
        pads = list(attrs.get('pads', [0, 0, 0, 0]))
        m_out, c_group, kh, kw = weight.shape
        _, c_in, h, w = shape
        ho = (h + pads[0] + pads[2] - kh) // sh + 1
        wo = (w + pads[1] + pads[3] - kw) // sw + 1
        if ho < 1 or wo < 1:
            raise _error(node, f'empty output {ho}x{wo}')
        tm, tc, ta, tb = np.nonzero(weight)
        tval = weight[tm, tc, ta, tb].astype(np.float64)
        tap_channel = (tm // (m_out // groups)) * c_group + tc   # the input channel it reads
        _, c, i, j = np.unravel_index(rows, shape)
        entry, tap = _pairs(c, tap_channel, c_in)
        ni = i[entry] - ta[tap] + pads[0]          # = output index * stride
        nj = j[entry] - tb[tap] + pads[1]
        oi, oj = ni // sh, nj // sw
        keep = (ni % sh == 0) & (nj % sw == 0) & (ni >= 0) & (oi < ho) & (nj >= 0) & (oj < wo)
        entry, tap, oi, oj = entry[keep], tap[keep], oi[keep], oj[keep]
        out_rows = (tm[tap].astype(np.int64) * ho + oi) * wo + oj
        return out_rows, cols[entry], vals[entry] * tval[tap], (1, m_out, ho, wo)

    def _flatten(self, node, attrs) -> _Coo:
        rows, cols, vals, shape = self._data(node)
        axis = int(attrs.get('axis', 1))
        axis = axis + len(shape) if axis < 0 else axis
        return rows, cols, vals, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))

    def _matmul(self, node, attrs) -> _Coo:
        rows, cols, vals, shape = self._data(node)
        weight = self._const(node, 1, 'second operand')
        if weight.ndim != 2 or len(shape) < 2 or shape[-1] != weight.shape[0]:
            raise _error(node, f'{shape} x {weight.shape}: only (..., M, K) x a constant '
                         '(K, N) is supported')
        k_dim, n_dim = weight.shape
        tk, tn = np.nonzero(weight)
        tval = weight[tk, tn].astype(np.float64)
        entry, tap = _pairs(rows % k_dim, tk, k_dim)
        out_rows = (rows[entry] // k_dim) * n_dim + tn[tap]
        return out_rows, cols[entry], vals[entry] * tval[tap], tuple(shape[:-1]) + (n_dim,)

    def _reshape(self, node, attrs) -> _Coo:
        rows, cols, vals, shape = self._data(node)
        target = [int(v) for v in self._const(node, 1, 'shape').ravel()]
        if not attrs.get('allowzero', 0):
            target = [shape[k] if v == 0 else v for k, v in enumerate(target)]
        if target.count(-1) == 1:
            known = int(np.prod([v for v in target if v != -1]))
            target[target.index(-1)] = int(np.prod(shape)) // max(known, 1)
        if int(np.prod(target)) != int(np.prod(shape)) or min(target, default=0) < 0:
            raise _error(node, f'cannot reshape {shape} to {target}')
        return rows, cols, vals, tuple(target)

    def _transpose(self, node, attrs) -> _Coo:
        rows, cols, vals, shape = self._data(node)
        perm = list(attrs.get('perm', range(len(shape) - 1, -1, -1)))
        index = np.unravel_index(rows, shape)
        new_shape = tuple(shape[p] for p in perm)
        return (np.ravel_multi_index([index[p] for p in perm], new_shape), cols, vals,
                new_shape)

    def _add(self, node, attrs) -> _Coo:
        a, b = self._data(node, 0), self._data(node, 1)
        if a[3] != b[3]:
            raise _error(node, f'shapes {a[3]} and {b[3]} differ (no broadcasting)')
        return (np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]),
                np.concatenate([a[2], b[2]]), a[3])

    def _clip(self, node, attrs) -> _Coo:
        data = self._data(node)
        out = node.output[0]
        if out not in self.outputs or self.uses.get(out, 0):
            raise _error(node, 'Clip is supported only as the last node of a graph output')
        lo = self._const(node, 1, 'min', required=False)
        hi = self._const(node, 2, 'max', required=False)
        bounds = []
        for value, attr, default in ((lo, 'min', -np.inf), (hi, 'max', np.inf)):
            value = np.asarray(attrs.get(attr, default) if value is None else value)
            if value.size != 1:
                raise _error(node, f'{attr} has {value.size} values (expected a scalar)')
            bounds.append(float(value.reshape(-1)[0]))
        lo, hi = bounds
        if not lo <= 0.0 <= hi:
            raise _error(node, f'bounds [{lo}, {hi}] do not contain 0 (untouched outputs '
                         'would not stay 0)')
        self.clips[out] = (lo, hi)
        return data


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _error(node, message: str) -> ValueError:
    return ValueError(f'sparse emulator: node {node.name!r} ({node.op_type}): {message}')


def _pairs(keys: np.ndarray, tap_keys: np.ndarray, n_keys: int) -> Tuple[np.ndarray, ...]:
    """Every (entry, tap) with keys[entry] == tap_keys[tap], vectorised (entry-major)."""
    order = np.argsort(tap_keys, kind='stable')
    counts = np.bincount(tap_keys, minlength=n_keys).astype(np.int64)
    first_tap = np.cumsum(counts) - counts
    per_entry = counts[keys]
    total = int(per_entry.sum())
    entry = np.repeat(np.arange(keys.size, dtype=np.int64), per_entry)
    start = np.cumsum(per_entry) - per_entry
    within = np.arange(total, dtype=np.int64) - np.repeat(start, per_entry)
    tap = order[np.repeat(first_tap[keys], per_entry) + within]
    return entry, tap
