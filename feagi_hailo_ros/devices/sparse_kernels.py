"""The sparse emulator's numba kernels (nogil, cached): building the matrices and running them.

`csr_by_row` and `row_patterns` store the rows of all outputs' matrices (columns index the
concatenated, 1024-aligned output buffers) as (pattern, base): rows equal up to a shift of
their columns share one pattern, so a convolution is a few hundred cached patterns instead
of a matrix larger than the caches. `run_graph` scans each input for nonzero elements (64
at a time) and scatters value x weight, so a burst costs its spikes times the fan-out
instead of the whole dense graph; outputs are cleared (only the chunks the last run
wrote), written, clipped and quantised one after the other while they are in cache.
"""

import numba
from numba import types
from numba.typed import Dict as NumbaDict
import numpy as np

CHUNK_SHIFT = 10          # outputs are cleared, clipped and quantised in chunks of 1024


@numba.njit(nogil=True, cache=True)
def csr_by_row(n_rows, rows, cols, vals):
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
def row_patterns(indptr, cols, vals):
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
    """host_io.quantize_grid of one float32: rint(v / scale) saturated to [lo, hi], x scale."""
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
    `intervals` when a run ends. Returns the number of runs, -1 if `intervals` overflowed
    (every row is still added: the caller then counts every chunk as written).
    """
    n_runs = 0
    overflow = False
    lo, hi = 0, -2                          # the current run of chunks (empty)
    for t in range(n):
        r = rows[t]
        p = row_pattern[r]
        if p < 0:
            continue
        v = values[t]
        base = row_base[r]
        first = base >> CHUNK_SHIFT
        last = first + pattern_span[p] - 1
        if lo <= first <= hi + 1:
            hi = max(hi, last)
        elif not overflow:
            if hi >= lo:
                if n_runs == intervals.shape[0]:
                    overflow = True
                else:
                    intervals[n_runs, 0] = lo
                    intervals[n_runs, 1] = hi
                    n_runs += 1
            lo, hi = first, last
        for j in range(pattern_ptr[p], pattern_ptr[p + 1]):
            out[base + pattern_cols[j]] += v * pattern_vals[j]
    if overflow:
        return -1
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
    size = 1 << CHUNK_SHIFT
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
def run_graph(inputs, listed, use_listed, in_offset, in_quant, in_lo, in_hi, in_scale, rows,
              values, row_pattern, row_base, pattern_ptr, pattern_cols, pattern_vals,
              pattern_span, out, intervals, dirty, written, out_chunks, first_input,
              last_input, clip, clip_lo, clip_hi, out_quant, out_lo, out_hi, out_scale):
    """Run the graph input by input; each output is cleared, written and finished in turn.

    An output's chunks written last run are zeroed just before its first input is
    scattered and it is clipped and quantised right after its last one, so its part of
    `out` stays in cache. Only chunks flagged `written` (last run) and `dirty` (this run)
    are touched; an overflow of `intervals` counts every chunk as written.
    """
    size = 1 << CHUNK_SHIFT
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
def output_feeds(indptr, cols, input_offset, output_chunks):
    """bool[inputs, outputs]: which output each input's matrix rows reach."""
    n_in, n_out = input_offset.size - 1, output_chunks.size - 1
    owner = np.zeros(output_chunks[-1], np.int64)
    for g in range(n_out):
        owner[output_chunks[g]:output_chunks[g + 1]] = g
    feeds = np.zeros((n_in, n_out), np.bool_)
    for s in range(n_in):
        for r in range(input_offset[s], input_offset[s + 1]):
            for j in range(indptr[r], indptr[r + 1]):
                feeds[s, owner[cols[j] >> CHUNK_SHIFT]] = True
    return feeds
