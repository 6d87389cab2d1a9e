"""Event-driven execution of an exported partition graph: only the nonzero inputs do work.

The graph is linear in its inputs (Slice, Conv, Reshape, MatMul with constant weights,
Transpose, Add; a final Clip on reach outputs), so `SparseGraph.compile` composes it, node by
node (COO arrays, numpy), into one sparse matrix per output: rows are the concatenated input
elements, columns the output's elements, both in the host order (X, Y, Z)
(`voxel = (x*Y + y)*Z + z`); `matrix(name)` gives that CSR. For running, the rows of all
outputs' matrices (columns index the concatenated, 1024-aligned output buffers) are stored
as (pattern, base): rows equal up to a shift of their columns share one pattern, so a
convolution is a few hundred cached patterns instead of a matrix larger than the caches.
`run` scans each input for nonzero elements (64 at a time) and scatters value x weight
(numba), so a burst costs its spikes times the fan-out instead of the whole dense graph;
outputs are cleared (only the chunks the last run wrote), written, clipped and quantised
one after the other while they are in cache.

Sums are accumulated in float32 in the order of the nonzero inputs (input by input, element
by element). Integer graphs (manifest `exact`) are exact in any order: every partial sum is
an integer bounded by the export's sum of |weight x input| (<= 32767 < 2**24), so the result
equals onnxruntime's. Other graphs agree within float32 rounding, as two summation orders
do. float32 rather than a float64 accumulator plus a rounding pass: that pass and the second
buffer cost about as much as the scatter itself.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple, Union

from feagi_hailo_ros.devices.layout import host_dims, onnx_to_host_index
import numba
from numba import types
from numba.typed import Dict as NumbaDict
import numpy as np
import onnx
from onnx import helper, numpy_helper

_CHUNK_SHIFT = 10         # outputs are cleared, clipped and quantised in chunks of 1024

# one tensor of the graph as a linear map: COO (element of the tensor, C order) <- input
_Coo = Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, ...]]


class _Compiler:
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
                    'Clip': self._clip}
        for node in nodes:
            handler = handlers.get(node.op_type)
            if handler is None:
                raise _error(node, 'operator not supported by the sparse emulator (it runs '
                             'Slice, Conv, Reshape, MatMul, Transpose, Add and a final Clip)')
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
        if attrs.get('group', 1) != 1:
            raise _error(node, f'group {attrs["group"]} (only 1 is supported)')
        if attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
            raise _error(node, f'auto_pad {attrs["auto_pad"]!r} (give explicit pads)')
        if len(shape) != 4 or weight.ndim != 4 or weight.shape[1] != shape[1]:
            raise _error(node, f'input {shape} and weight {weight.shape} are not a 2-D conv')
        if any(s != 1 for s in attrs.get('strides', [1, 1])) or \
                any(d != 1 for d in attrs.get('dilations', [1, 1])):
            raise _error(node, 'strides and dilations other than 1')
        pads = list(attrs.get('pads', [0, 0, 0, 0]))
        m_out, c_in, kh, kw = weight.shape
        _, _, h, w = shape
        ho, wo = h + pads[0] + pads[2] - kh + 1, w + pads[1] + pads[3] - kw + 1
        if ho < 1 or wo < 1:
            raise _error(node, f'empty output {ho}x{wo}')
        tm, tc, ta, tb = np.nonzero(weight)
        tval = weight[tm, tc, ta, tb].astype(np.float64)
        _, c, i, j = np.unravel_index(rows, shape)
        entry, tap = _pairs(c, tc, c_in)
        oi = i[entry] - ta[tap] + pads[0]
        oj = j[entry] - tb[tap] + pads[1]
        keep = (oi >= 0) & (oi < ho) & (oj >= 0) & (oj < wo)
        entry, tap, oi, oj = entry[keep], tap[keep], oi[keep], oj[keep]
        out_rows = (tm[tap].astype(np.int64) * ho + oi) * wo + oj
        return out_rows, cols[entry], vals[entry] * tval[tap], (1, m_out, ho, wo)

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


@numba.njit(nogil=True, cache=True)
def _csr_by_row(n_rows, rows, cols, vals):
    """COO -> CSR (int64 indptr, int32 cols sorted per row, float32 values).

    Duplicate (row, col) entries are summed (float64), zeros dropped; stable counting sort.
    """
    indptr = np.zeros(n_rows + 1, np.int64)
    for i in range(rows.size):
        indptr[rows[i] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    pos = indptr[:-1].copy()
    sorted_cols = np.empty(rows.size, np.int64)
    sorted_vals = np.empty(rows.size, np.float64)
    for i in range(rows.size):
        p = pos[rows[i]]
        sorted_cols[p] = cols[i]
        sorted_vals[p] = vals[i]
        pos[rows[i]] += 1
    out_ptr = np.zeros(n_rows + 1, np.int64)
    out_cols = np.empty(rows.size, np.int32)
    out_vals = np.empty(rows.size, np.float32)
    n = 0
    for r in range(n_rows):
        a, b = indptr[r], indptr[r + 1]
        if b - a > 32:
            order = a + np.argsort(sorted_cols[a:b], kind='mergesort')
            sorted_cols[a:b] = sorted_cols[order]
            sorted_vals[a:b] = sorted_vals[order]
        else:                                   # insertion sort (stable) of a short row
            for i in range(a + 1, b):
                col, val = sorted_cols[i], sorted_vals[i]
                j = i - 1
                while j >= a and sorted_cols[j] > col:
                    sorted_cols[j + 1] = sorted_cols[j]
                    sorted_vals[j + 1] = sorted_vals[j]
                    j -= 1
                sorted_cols[j + 1] = col
                sorted_vals[j + 1] = val
        i = a
        while i < b:
            col = sorted_cols[i]
            total = 0.0
            while i < b and sorted_cols[i] == col:
                total += sorted_vals[i]
                i += 1
            value = np.float32(total)
            if value != 0:
                out_cols[n] = col
                out_vals[n] = value
                n += 1
        out_ptr[r + 1] = n
    return out_ptr, out_cols[:n].copy(), out_vals[:n].copy()


@numba.njit(nogil=True, cache=True)
def _patterns(indptr, cols, vals):
    """Share the rows of a CSR that are the same (relative columns, values) up to a shift.

    Returns (row_pattern int32 (-1: empty row), row_base int64: the row's first column,
    pattern_ptr int64, pattern_cols int32 relative to the base, pattern_vals float32). A
    convolution's rows are one pattern per border case, so the run reads a few cached
    patterns instead of the whole matrix.
    """
    n_rows = indptr.size - 1
    row_pattern = np.full(n_rows, -1, np.int32)
    row_base = np.zeros(n_rows, np.int64)
    first = NumbaDict.empty(key_type=types.int64, value_type=types.int64)
    chain = np.full(n_rows + 1, -1, np.int64)
    pattern_ptr = np.zeros(n_rows + 1, np.int64)
    pattern_cols = np.empty(cols.size, np.int32)
    pattern_vals = np.empty(cols.size, np.float32)
    n_patterns = 0
    for r in range(n_rows):
        a, b = indptr[r], indptr[r + 1]
        if b == a:
            continue
        base = np.int64(cols[a])
        h = np.int64(b - a)
        for j in range(a, b):
            h = h * 1000003 + (cols[j] - base)
            h = h * 1000003 + np.int64(vals[j:j + 1].view(np.int32)[0])
        p = first[h] if h in first else np.int64(-1)
        while p >= 0:
            p0, p1 = pattern_ptr[p], pattern_ptr[p + 1]
            if p1 - p0 == b - a:
                same = True
                for t in range(b - a):
                    if pattern_cols[p0 + t] != cols[a + t] - base or \
                            pattern_vals[p0 + t] != vals[a + t]:
                        same = False
                        break
                if same:
                    break
            p = chain[p]
        if p < 0:
            p = n_patterns
            p0 = pattern_ptr[p]
            for t in range(b - a):
                pattern_cols[p0 + t] = cols[a + t] - base
                pattern_vals[p0 + t] = vals[a + t]
            pattern_ptr[p + 1] = p0 + b - a
            chain[p] = first[h] if h in first else np.int64(-1)
            first[h] = p
            n_patterns += 1
        row_pattern[r] = p
        row_base[r] = base
    end = pattern_ptr[n_patterns]
    return (row_pattern, row_base, pattern_ptr[:n_patterns + 1].copy(),
            pattern_cols[:end].copy(), pattern_vals[:end].copy())


@numba.njit(nogil=True, cache=True)
def _quantize1(v, lo, hi, scale):
    """host_io.quantize of one float32: rint(v / scale) saturated to [lo, hi], times scale."""
    q = np.rint(np.float32(v) / scale)
    if q < lo:
        q = lo
    elif q > hi:
        q = hi
    return np.float32(q * scale)


@numba.njit(nogil=True, cache=True)
def _collect(x, offset, rows, values):
    """Write the nonzero elements of one input (global row, value) to rows/values.

    Scans 64 elements at a time: a bit mask of the nonzero ones, then its set bits, so the
    zeros cost no branch each. Returns how many were written.
    """
    n = 0
    whole = x.size - x.size % 64
    for o in range(0, whole, 64):
        mask = np.uint64(0)
        for t in range(64):
            mask |= np.uint64(x[o + t] != 0) << np.uint64(t)
        while mask != 0:
            low = mask & (~mask + np.uint64(1))
            mask ^= low
            i = o + ((np.float64(low).view(np.int64) >> 52) - 1023)   # log2(low)
            rows[n] = offset + i
            values[n] = x[i]
            n += 1
    for i in range(whole, x.size):
        if x[i] != 0:
            rows[n] = offset + i
            values[n] = x[i]
            n += 1
    return n


@numba.njit(nogil=True, cache=True)
def _collect_listed(x, listed, offset, rows, values):
    """`_collect` of the elements at `listed` only (ascending; the others are zero)."""
    n = 0
    for i in listed:
        v = x[i]
        if v != 0:
            rows[n] = offset + i
            values[n] = v
            n += 1
    return n


@numba.njit(nogil=True, cache=True)
def _scatter(n, rows, values, row_pattern, row_base, pattern_ptr, pattern_cols, pattern_vals,
             pattern_span, out, intervals):
    """Add value x weight of each listed row to `out` (float32, in row order).

    The output chunks a row can write (an entry at base + rel lies in chunk
    (base >> S) + (rel >> S) or the next) are merged into runs in registers and stored in
    `intervals` when a run ends. Returns the number of runs, -1 if `intervals` overflowed.
    """
    n_runs = 0
    lo, hi = 0, -2                          # the current run of chunks (empty)
    for t in range(n):
        r = rows[t]
        p = row_pattern[r]
        if p < 0:
            continue
        v = values[t]
        base = row_base[r]
        first = base >> _CHUNK_SHIFT
        last = first + pattern_span[p] - 1
        if lo <= first <= hi + 1:
            hi = max(hi, last)
        else:
            if hi >= lo:
                if n_runs == intervals.shape[0]:
                    return -1
                intervals[n_runs, 0] = lo
                intervals[n_runs, 1] = hi
                n_runs += 1
            lo, hi = first, last
        for j in range(pattern_ptr[p], pattern_ptr[p + 1]):
            out[base + pattern_cols[j]] += v * pattern_vals[j]
    if hi >= lo:
        if n_runs == intervals.shape[0]:
            return -1
        intervals[n_runs, 0] = lo
        intervals[n_runs, 1] = hi
        n_runs += 1
    return n_runs


@numba.njit(nogil=True, cache=True)
def _finish(out, c0, c1, dirty, written, clip, lo, hi, quantize, q_lo, q_hi, q_scale):
    """Clip and quantise the chunks [c0, c1) of one output that this run wrote."""
    size = 1 << _CHUNK_SHIFT
    for c in range(c0, c1):
        if not dirty[c]:
            continue
        dirty[c] = False
        written[c] = True
        if clip:
            for k in range(c * size, (c + 1) * size):
                value = out[k]                  # selects, not min/max: vectorised
                value = lo if value < lo else value
                out[k] = hi if value > hi else value
        if quantize:
            for k in range(c * size, (c + 1) * size):
                out[k] = _quantize1(out[k], q_lo, q_hi, q_scale)


@numba.njit(nogil=True, cache=True)
def _run(inputs, listed, use_listed, in_offset, in_quant, in_lo, in_hi, in_scale, rows,
         values, row_pattern,
         row_base, pattern_ptr, pattern_cols, pattern_vals, pattern_span, out, intervals,
         dirty, written, out_chunks, first_input, last_input, clip, clip_lo, clip_hi,
         out_quant, out_lo, out_hi, out_scale):
    """Run the graph input by input; each output is cleared, written and finished in turn.

    An output's chunks written last run are zeroed just before its first input is
    scattered and it is clipped and quantised right after its last one, so its part of
    `out` stays in cache. Only chunks flagged `written` (last run) and `dirty` (this run)
    are touched; an overflow of `intervals` counts every chunk as written.
    """
    size = 1 << _CHUNK_SHIFT
    for s in range(len(inputs)):
        for g in range(first_input.size):
            if first_input[g] == s:
                for c in range(out_chunks[g], out_chunks[g + 1]):
                    if written[c]:
                        written[c] = False
                        out[c * size:(c + 1) * size] = 0.0
        if use_listed:
            n = _collect_listed(inputs[s], listed[s], in_offset[s], rows, values)
        else:
            n = _collect(inputs[s], in_offset[s], rows, values)
        if in_quant[s]:
            for t in range(n):
                values[t] = _quantize1(values[t], in_lo[s], in_hi[s], in_scale[s])
        n_runs = _scatter(n, rows, values, row_pattern, row_base, pattern_ptr, pattern_cols,
                          pattern_vals, pattern_span, out, intervals)
        if n_runs < 0:
            dirty[:] = True
        for i in range(n_runs):
            dirty[intervals[i, 0]:min(intervals[i, 1] + 1, dirty.size)] = True
        for g in range(last_input.size):
            if last_input[g] == s:
                _finish(out, out_chunks[g], out_chunks[g + 1], dirty, written, clip[g],
                        clip_lo[g], clip_hi[g], out_quant[g], out_lo[g], out_hi[g],
                        out_scale[g])


@numba.njit(nogil=True, cache=True)
def _feeds(indptr, cols, input_offset, output_chunks):
    """bool[inputs, outputs]: which output each input's matrix rows reach."""
    n_in, n_out = input_offset.size - 1, output_chunks.size - 1
    owner = np.zeros(output_chunks[-1], np.int64)
    for g in range(n_out):
        owner[output_chunks[g]:output_chunks[g + 1]] = g
    feeds = np.zeros((n_in, n_out), np.bool_)
    for s in range(n_in):
        for r in range(input_offset[s], input_offset[s + 1]):
            for j in range(indptr[r], indptr[r + 1]):
                feeds[s, owner[cols[j] >> _CHUNK_SHIFT]] = True
    return feeds


def _quant_params(specs: List[Optional[dict]], signed_kind: str):
    """Per tensor: quantise? (not exact), lo, hi (float32 integers) and scale (float32)."""
    n = len(specs)
    flag = np.zeros(n, np.bool_)
    lo, hi = np.zeros(n, np.float32), np.zeros(n, np.float32)
    scale = np.ones(n, np.float32)
    for k, spec in enumerate(specs):
        if spec is None or spec.get('exact', True):
            continue
        bits = int(spec['bits'])
        signed = spec.get('kind') == signed_kind
        flag[k] = True
        lo[k] = -(2 ** (bits - 1)) if signed else 0
        hi[k] = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        scale[k] = np.float32(spec['scale'])
    return flag, lo, hi, scale


class SparseGraph:
    """An exported partition graph compiled to sparse matrices, run event by event.

    Not thread-safe: one `run` at a time (a device has one worker).
    """

    def __init__(self, input_names: List[str], input_dims: List[Tuple[int, int, int]],
                 output_names: List[str], output_dims: List[Tuple[int, int, int]],
                 output_offset: np.ndarray, csr: Tuple[np.ndarray, np.ndarray, np.ndarray],
                 clips: Dict[str, Tuple[float, float]], manifest: dict):
        self.input_names = list(input_names)
        self.input_dims = [tuple(d) for d in input_dims]
        self.output_names = list(output_names)
        self.output_dims = [tuple(d) for d in output_dims]
        self.clips = dict(clips)
        sizes = [int(np.prod(d)) for d in self.input_dims]
        self.input_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.output_offset = np.asarray(output_offset, dtype=np.int64)
        self.nnz = int(csr[1].size)
        (self._row_pattern, self._row_base, self._pattern_ptr, self._pattern_cols,
         self._pattern_vals) = _patterns(*csr)
        last = self._pattern_cols[np.maximum(self._pattern_ptr[1:] - 1, 0)].astype(np.int64)
        self._pattern_span = ((last >> _CHUNK_SHIFT) + 2).astype(np.int32)
        size = 1 << _CHUNK_SHIFT
        n_chunks = int(self.output_offset[-1]) // size
        self._out = np.zeros(n_chunks * size, np.float32)
        self._dirty = np.zeros(n_chunks, np.bool_)
        self._written = np.zeros(n_chunks, np.bool_)
        self._intervals = np.zeros((n_chunks + 64, 2), np.int64)
        self._rows = np.zeros(max((int(np.prod(d)) for d in self.input_dims), default=0),
                              np.int64)
        self._values = np.zeros(self._rows.size, np.float32)
        self._no_lists = tuple(np.zeros(0, np.int64) for _ in self.input_names)
        self._out_chunks = self.output_offset // size
        feeds = _feeds(csr[0], csr[1].astype(np.int64), self.input_offset, self._out_chunks)
        fed = feeds.any(axis=0)
        self._first_input = np.where(fed, np.argmax(feeds, axis=0), -1).astype(np.int64)
        self._last_input = np.where(fed, feeds.shape[0] - 1 - np.argmax(feeds[::-1], axis=0),
                                    -1).astype(np.int64)
        self._views: Dict[str, np.ndarray] = {}
        for k, (name, dims) in enumerate(zip(self.output_names, self.output_dims)):
            o0 = int(self.output_offset[k])
            self._views[name] = self._out[o0:o0 + int(np.prod(dims))].reshape(dims)
        self._clip = np.array([n in self.clips for n in self.output_names], np.bool_)
        self._clip_lo = np.array([self.clips.get(n, (0.0, 0.0))[0] for n in output_names],
                                 np.float32)
        self._clip_hi = np.array([self.clips.get(n, (0.0, 0.0))[1] for n in output_names],
                                 np.float32)
        in_specs = {s['name']: s for s in manifest.get('inputs', [])}
        out_specs = {s['name']: s for s in manifest.get('outputs', [])}
        self._in_q = _quant_params([in_specs.get(n) for n in self.input_names], '')
        self._out_q = _quant_params([out_specs.get(n) for n in self.output_names], 'current')
        self._no_in_q = (np.zeros(len(self.input_names), np.bool_),) + self._in_q[1:]
        self._no_out_q = (np.zeros(len(self.output_names), np.bool_),) + self._out_q[1:]

    @classmethod
    def compile(cls, model: Union[onnx.ModelProto, bytes],  # noqa: A003
                manifest: dict) -> 'SparseGraph':
        """Compose the graph into per-output sparse matrices (ValueError if it is not linear).

        `manifest` gives the quantisation `run(..., quantized=True)` applies (inputs and
        outputs not marked exact are rounded as host_io.quantize does).
        """
        return cls.compile_groups(model, manifest, 1)[0]

    @classmethod
    def compile_groups(cls, model: Union[onnx.ModelProto, bytes], manifest: dict,
                       groups: int, min_weights: int = 0) -> List['SparseGraph']:
        """`compile`, with the outputs split into up to `groups` graphs of similar work.

        Each graph holds whole outputs (about the same number of weights each), so the
        graphs can run at the same time on different cores (`SplitGraph`); each gets at
        least `min_weights` weights (a small graph stays whole: threads would cost more
        than they save).
        """
        if isinstance(model, (bytes, bytearray)):
            model = onnx.load_from_string(bytes(model))
        comp = _Compiler(model)
        comp.run(model.graph.node)
        entries = []
        for value in model.graph.output:
            declared = tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
            rows, cols, vals, shape = comp.maps[value.name]
            if len(shape) != 4 or shape[0] != 1 or (declared and declared != tuple(shape)):
                raise ValueError(f'sparse emulator: output {value.name!r} has shape {shape}, '
                                 f'declared {declared}; expected (1, Z, X, Y)')
            dims = host_dims(shape)
            entries.append((value.name, dims, cols, onnx_to_host_index(rows, dims), vals))
        comp.maps.clear()
        total = sum(e[2].size for e in entries)
        if min_weights > 0:
            groups = min(int(groups), max(1, total // int(min_weights)))
        loads = np.zeros(max(1, int(groups)), np.int64)
        group_of = {}
        for k in sorted(range(len(entries)), key=lambda k: -entries[k][2].size):
            group_of[k] = int(np.argmin(loads))
            loads[group_of[k]] += entries[k][2].size
        graphs = []
        for g in range(loads.size):
            chosen = [e for k, e in enumerate(entries) if group_of[k] == g]
            if chosen or not graphs and g == loads.size - 1:
                graphs.append(cls._from_entries(comp, chosen, manifest))
        return graphs

    @classmethod
    def _from_entries(cls, comp: '_Compiler', entries: list, manifest: dict) -> 'SparseGraph':
        """One graph of the given outputs: (name, host dims, input rows, host cols, values)."""
        size = 1 << _CHUNK_SHIFT
        names, out_dims, parts, offsets = [], [], [], [0]
        for name, dims, rows, cols, vals in entries:
            names.append(name)
            out_dims.append(dims)
            parts.append((rows, offsets[-1] + cols, vals))
            offsets.append(offsets[-1] + -(-int(np.prod(dims)) // size) * size)  # aligned
        coo = [np.concatenate([p[k] for p in parts] + [np.zeros(0, dtype)])
               for k, dtype in enumerate((np.int64, np.int64, np.float64))]
        del parts
        csr = _csr_by_row(comp.n_inputs, *coo)
        del coo
        return cls(comp.input_names, comp.input_dims, names, out_dims,
                   np.array(offsets, np.int64), csr,
                   {n: c for n, c in comp.clips.items() if n in names}, manifest)

    def matrix(self, name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One output's CSR by input row: (int64 indptr, int32 column, float32 value).

        Rows are the concatenated input elements (input k starts at `input_offset[k]`),
        columns the output's elements, both in the host order (X, Y, Z).
        """
        k = self.output_names.index(name)
        o0, o1 = int(self.output_offset[k]), int(self.output_offset[k + 1])
        pattern = self._row_pattern.astype(np.int64)
        lengths = np.where(pattern >= 0, np.diff(self._pattern_ptr)[pattern], 0)
        row = np.repeat(np.arange(pattern.size), lengths)
        start = np.repeat(self._pattern_ptr[np.maximum(pattern, 0)] - np.cumsum(lengths)
                          + lengths, lengths)
        entry = start + np.arange(row.size)
        cols = self._row_base[row] + self._pattern_cols[entry]
        keep = (cols >= o0) & (cols < o1)
        counts = np.bincount(row[keep], minlength=pattern.size)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return indptr, (cols[keep] - o0).astype(np.int32), self._pattern_vals[entry[keep]]

    def run(self, inputs: Dict[str, np.ndarray], quantized: bool = False,
            nonzero: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
        """Outputs (X, Y, Z) float32 of input grids (X, Y, Z); only nonzero inputs cost.

        The returned grids are views of this object's buffers, valid until the next `run`
        (only the chunks the previous run wrote are cleared). `quantized` applies the
        manifest's quantisation to the inputs and outputs not marked exact. `nonzero`
        (every input name -> ascending flat indices outside which its grid is zero, as
        `PartitionIO.inputs` knows them) replaces the scan for nonzero elements.
        """
        if len(inputs) != len(self.input_names) or any(n not in inputs
                                                       for n in self.input_names):
            raise ValueError(f'sparse graph inputs: got {sorted(inputs)}, expected '
                             f'{sorted(self.input_names)}')
        arrays = []
        for name, dims in zip(self.input_names, self.input_dims):
            grid = inputs[name]
            if tuple(np.shape(grid)) != dims:
                raise ValueError(f'input {name!r}: shape {np.shape(grid)}, expected {dims} '
                                 '(X, Y, Z)')
            arrays.append(np.ascontiguousarray(grid, dtype=np.float32).reshape(-1))
        in_q = self._in_q if quantized else self._no_in_q
        out_q = self._out_q if quantized else self._no_out_q
        use_listed = nonzero is not None
        if use_listed:
            missing = [n for n in self.input_names if n not in nonzero]
            if missing:
                raise ValueError(f'sparse graph: no nonzero list for inputs {missing}')
            listed = tuple(np.ascontiguousarray(nonzero[n], dtype=np.int64).reshape(-1)
                           for n in self.input_names)
        else:
            listed = self._no_lists
        _run(tuple(arrays), listed, use_listed, self.input_offset, *in_q, self._rows,
             self._values,
             self._row_pattern, self._row_base, self._pattern_ptr, self._pattern_cols,
             self._pattern_vals, self._pattern_span, self._out, self._intervals, self._dirty,
             self._written, self._out_chunks, self._first_input, self._last_input,
             self._clip, self._clip_lo, self._clip_hi, *out_q)
        return dict(self._views)


class SplitGraph:
    """Graphs over disjoint outputs of one partition (`compile_groups`), run at once.

    The first runs in the calling thread, the others in a small pool (numba releases the
    GIL), so an emulated inference uses that many cores. Same `run` and `matrix` as one
    SparseGraph; the grids are the graphs' buffers, valid until the next `run`.
    """

    def __init__(self, graphs: List[SparseGraph]):
        self.graphs = list(graphs)
        self.input_names = self.graphs[0].input_names
        self.input_dims = self.graphs[0].input_dims
        self.output_names = [n for g in self.graphs for n in g.output_names]
        self.nnz = sum(g.nnz for g in self.graphs)
        self._pool = ThreadPoolExecutor(max(1, len(self.graphs) - 1),
                                        thread_name_prefix='sparse-graph')

    def run(self, inputs: Dict[str, np.ndarray], quantized: bool = False,
            nonzero: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
        """Every graph's outputs of the same inputs (see SparseGraph.run)."""
        others = [self._pool.submit(g.run, inputs, quantized, nonzero)
                  for g in self.graphs[1:]]
        out = dict(self.graphs[0].run(inputs, quantized, nonzero))
        for future in others:
            out.update(future.result())
        return out

    def matrix(self, name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One output's CSR (see SparseGraph.matrix)."""
        for graph in self.graphs:
            if name in graph.output_names:
                return graph.matrix(name)
        raise KeyError(name)

    def close(self) -> None:
        """Stop the pool's threads."""
        self._pool.shutdown(wait=False)
