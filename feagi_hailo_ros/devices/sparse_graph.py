"""SparseGraph: an exported partition graph run event by event (only nonzero inputs work).

`SparseGraph.compile` composes the graph into sparse matrices (sparse_compile) and runs
them with the kernels of sparse_kernels; `SplitGraph` runs graphs over disjoint outputs in
threads at once. Sums are accumulated in float32 in the order of the nonzero inputs (input
by input, element by element). Integer graphs (manifest `exact`) are exact in any order:
every partial sum is an integer bounded by the export's sum of |weight x input| (<= 32767 <
2**24), so the result equals onnxruntime's. Other graphs agree within float32 rounding, as
two summation orders do. float32 rather than a float64 accumulator plus a rounding pass:
that pass and the second buffer cost about as much as the scatter itself.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple, Union

from feagi_hailo_ros.devices.host_io import quant_grid
from feagi_hailo_ros.devices.sparse_compile import compile_outputs, GraphCompiler
from feagi_hailo_ros.devices.sparse_kernels import (CHUNK_SHIFT, csr_by_row, output_feeds,
                                                    row_patterns, run_graph)
import numpy as np
import onnx


def _quant_params(specs: List[Optional[dict]], manifest: dict):
    """Per tensor: quantise?, lo, hi (float32 integers) and scale (float32): `quant_grid`."""
    n = len(specs)
    flag = np.zeros(n, np.bool_)
    lo, hi = np.zeros(n, np.float32), np.zeros(n, np.float32)
    scale = np.ones(n, np.float32)
    for k, spec in enumerate(specs):
        grid = None if spec is None else quant_grid(spec, manifest)
        if grid is not None:
            flag[k] = True
            lo[k], hi[k], scale[k] = grid
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
         self._pattern_vals) = row_patterns(*csr)
        last = self._pattern_cols[np.maximum(self._pattern_ptr[1:] - 1, 0)].astype(np.int64)
        self._pattern_span = ((last >> CHUNK_SHIFT) + 2).astype(np.int32)
        size = 1 << CHUNK_SHIFT
        n_chunks = int(self.output_offset[-1]) // size
        self._out = np.zeros(n_chunks * size, np.float32)
        self._dirty = np.zeros(n_chunks, np.bool_)
        self._written = np.zeros(n_chunks, np.bool_)
        # a stacked input lists its channels' voxels one area after the other: each area's
        # run of ascending rows can start a new set of output chunk intervals
        runs = max([int(d[2]) for d in self.input_dims if len(d) == 3] + [1])
        self._intervals = np.zeros((n_chunks * runs + 64, 2), np.int64)
        self._rows = np.zeros(max((int(np.prod(d)) for d in self.input_dims), default=0),
                              np.int64)
        self._values = np.zeros(self._rows.size, np.float32)
        self._no_lists = tuple(np.zeros(0, np.int64) for _ in self.input_names)
        self._out_chunks = self.output_offset // size
        feeds = output_feeds(csr[0], csr[1].astype(np.int64), self.input_offset, self._out_chunks)
        fed = feeds.any(axis=0)
        self._first_input = np.where(fed, np.argmax(feeds, axis=0), -1).astype(np.int64)
        self._last_input = np.where(fed, feeds.shape[0] - 1 - np.argmax(feeds[::-1], axis=0),
                                    -1).astype(np.int64)
        self._views: Dict[str, np.ndarray] = {}
        for k, (name, dims) in enumerate(zip(self.output_names, self.output_dims)):
            o0 = int(self.output_offset[k])
            flat = self._out[o0:o0 + int(np.prod(dims))]
            # a grid is stored channel by channel (planar) and seen as (X, Y, C): an area's
            # channels are then one contiguous block (PartitionIO reads them without a copy)
            self._views[name] = flat.reshape(dims) if len(dims) == 1 else \
                flat.reshape(dims[2], dims[0], dims[1]).transpose(1, 2, 0)
        self._clip = np.array([n in self.clips for n in self.output_names], np.bool_)
        self._clip_lo = np.array([self.clips.get(n, (0.0, 0.0))[0] for n in output_names],
                                 np.float32)
        self._clip_hi = np.array([self.clips.get(n, (0.0, 0.0))[1] for n in output_names],
                                 np.float32)
        in_specs = {s['name']: s for s in manifest.get('inputs', [])}
        out_specs = {s['name']: s for s in manifest.get('outputs', [])}
        self._in_q = _quant_params([in_specs.get(n) for n in self.input_names], manifest)
        self._out_q = _quant_params([out_specs.get(n) for n in self.output_names], manifest)
        self._no_in_q = (np.zeros(len(self.input_names), np.bool_),) + self._in_q[1:]
        self._no_out_q = (np.zeros(len(self.output_names), np.bool_),) + self._out_q[1:]

    @classmethod
    def compile(cls, model: Union[onnx.ModelProto, bytes],  # noqa: A003
                manifest: dict) -> 'SparseGraph':
        """Compose the graph into per-output sparse matrices (ValueError if it is not linear).

        `manifest` gives the quantisation `run(..., quantized=True)` applies (inputs and
        outputs are rounded to their `host_io.quant_grid`: the compile report's quantisation
        when the manifest holds one, else the manifest's for tensors not marked exact).
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
        comp, entries = compile_outputs(model)
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
    def _from_entries(cls, comp: GraphCompiler, entries: list, manifest: dict) -> 'SparseGraph':
        """One graph of the given outputs: (name, host dims, input rows, host cols, values)."""
        size = 1 << CHUNK_SHIFT
        names, out_dims, parts, offsets = [], [], [], [0]
        for name, dims, rows, cols, vals in entries:
            names.append(name)
            out_dims.append(dims)
            parts.append((rows, offsets[-1] + cols, vals))
            offsets.append(offsets[-1] + -(-int(np.prod(dims)) // size) * size)  # aligned
        coo = [np.concatenate([p[k] for p in parts] + [np.zeros(0, dtype)])
               for k, dtype in enumerate((np.int64, np.int64, np.float64))]
        del parts
        csr = csr_by_row(comp.n_inputs, *coo)
        del coo
        return cls(comp.input_names, comp.input_dims, names, out_dims,
                   np.array(offsets, np.int64), csr,
                   {n: c for n, c in comp.clips.items() if n in names}, manifest)

    def matrix(self, name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One output's CSR by input row: (int64 indptr, int32 column, float32 value).

        Rows are the concatenated input elements (input k starts at `input_offset[k]`),
        columns the output's elements (planar for a grid: `(c*X + x)*Y + y`).
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
        run_graph(tuple(arrays), listed, use_listed, self.input_offset, *in_q, self._rows,
                  self._values, self._row_pattern, self._row_base, self._pattern_ptr,
                  self._pattern_cols, self._pattern_vals, self._pattern_span, self._out,
                  self._intervals, self._dirty, self._written, self._out_chunks,
                  self._first_input, self._last_input, self._clip, self._clip_lo,
                  self._clip_hi, *out_q)
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
