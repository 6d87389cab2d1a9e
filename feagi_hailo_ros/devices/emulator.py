"""Emulated Hailo: the exported ONNX graph run on the host, quantised as the manifest says.

Two backends. `sparse` (default) compiles the graph into sparse matrices (sparse_graph)
and does work only for the nonzero inputs (event-driven: spikes are sparse), its outputs
split over `threads` graphs run at once; a graph it cannot compile runs on onnxruntime
instead (`backend_used`, describe() notes say so). At upload it checks itself against
onnxruntime on a seeded random probe (`check`; skipped, with a note, when onnxruntime is
missing). With the sparse backend the returned grids are the device's buffers, valid
until the next inference (as a driver's output buffers are).
`onnxruntime` runs the graph with onnxruntime, as follows.

Inputs and outputs are rounded as HailoRT and the chip do (bankers rounding, saturation to
the tensor's range; host_io.quant_grid): with the scale and zero point of the compiled HEF
when the manifest holds its compile report (`hef_quant`, from compile_hef.py), else with the
manifest's own (weights are integers and stay exact). Tensors the manifest marks exact
(integers on a unit grid, within range by the export's bound) and without a compile report
are not re-rounded: there quantisation is the identity. describe() lists the outputs a
compile report makes inexact.
`latency_ms` is the modelled device's inference latency, round trip (transfers, queueing
and the chip's compute, as `hailortcli run --measure-latency` reports it): an inference
returns no sooner than that after it was called. The emulation's own host compute stands
in for the chip's and runs inside that window; the calling thread sleeps the rest (no host
CPU), so the host's other work overlaps it. When the emulation takes longer than the
latency, the inference takes that long, and describe() counts how often.
onnxruntime runs sequentially on `threads` intra-op threads (not spinning). An
exact graph whose convolutions fit is first fused into one grouped Conv (emulator_fuse;
full optimisation, where onnxruntime's NCHWc depthwise kernel runs it); other graphs run as
exported with basic optimisation (the NCHWc layout is slower on one-channel convolutions
run one by one: bench/README.md). `optimization` overrides the level; `fuse=False` keeps
the exported graph.
Health values are marked emulated (faults for tests: testing.faulty.FaultyDevice).
"""

import os
import threading
import time
from typing import Dict, List, Optional, Union

from feagi_hailo_ros.devices.base import (Device, DeviceError, DeviceHealth,
                                          DeviceUnavailable, wait_out)
from feagi_hailo_ros.devices.emulator_fuse import fuse_convolutions
from feagi_hailo_ros.devices.host_io import inexact_reason, quant_grid, quantize_grid
from feagi_hailo_ros.devices.layout import from_onnx_layout, to_onnx_layout
from feagi_hailo_ros.devices.sparse_graph import SparseGraph, SplitGraph
import numpy as np


SPLIT_MIN_WEIGHTS = 1_000_000   # sparse backend: weights per thread worth a thread's cost
_LEVELS = {'disable': 'ORT_DISABLE_ALL', 'basic': 'ORT_ENABLE_BASIC',
           'extended': 'ORT_ENABLE_EXTENDED', 'all': 'ORT_ENABLE_ALL'}
BACKENDS = ('sparse', 'onnxruntime')
CHECK_DENSITY = 0.1             # share of nonzero input elements in the upload self-check


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise DeviceUnavailable('the emulator needs onnxruntime: pip install onnxruntime',
                                reason='onnxruntime missing') from None
    return onnxruntime


def probe_inputs(graph, manifest: dict, seed: int = 0,
                 density: float = CHECK_DENSITY) -> Dict[str, np.ndarray]:
    """Seeded random sparse input grids (X, Y, Z) for a SparseGraph.

    Spike inputs are 1; value inputs integers 1..max where the manifest marks them exact,
    else uniform in (0, max].
    """
    rng = np.random.default_rng(seed)
    specs = {s['name']: s for s in manifest.get('inputs', [])}
    out = {}
    for name, dims in zip(graph.input_names, graph.input_dims):
        spec = specs.get(name, {})
        fire = rng.random(dims) < density
        top = float(spec.get('max', 5.0)) or 1.0
        if spec.get('kind') == 'spike':
            value = np.ones(dims)
        elif spec.get('exact', True):
            value = rng.integers(1, max(1, int(top)) + 1, dims)
        else:
            value = top * (1.0 - rng.random(dims))
        out[name] = np.where(fire, value, 0).astype(np.float32)
    return out


class EmulatedHailo(Device):
    """A Hailo-8 stand-in running the partition graph event-driven or with onnxruntime."""

    kind = 'emulator'

    def __init__(self, name: str = 'emulator0', latency_ms: float = 0.0,
                 quantized: bool = True,
                 threads: Optional[int] = None, optimization: str = 'auto', fuse: bool = True,
                 backend: str = 'sparse', check: bool = True):
        self.name = name
        self.latency_s = max(0.0, float(latency_ms)) / 1000.0
        self.quantized = quantized
        # host threads of one inference: the sparse backend's output groups run at once, or
        # onnxruntime's intra-op threads; default 2 where there are 2 cores (the host's
        # main thread waits for the device meanwhile)
        self.threads = max(1, int(threads)) if threads else min(2, os.cpu_count() or 1)
        if optimization not in _LEVELS and optimization != 'auto':
            raise ValueError(f'optimization {optimization!r}: use auto or one of '
                             f'{sorted(_LEVELS)}')
        self.optimization = optimization
        if backend not in BACKENDS:
            raise ValueError(f'backend {backend!r}: use one of {list(BACKENDS)}')
        self.backend = backend
        self.check = check
        self.backend_used: Optional[str] = None
        self._backend_notes: List[str] = []
        self.fuse = fuse
        self.fused = False
        self._session = None
        self._graph: Optional[Union[SparseGraph, SplitGraph]] = None
        self._compiled: Optional[tuple] = None     # (model bytes, graph, notes)
        self._manifest: Optional[dict] = None
        self._calls = 0
        self._open = False
        self._busy_s = 0.0
        self._over_latency = 0
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def open(self) -> None:  # noqa: A003
        """Check the libraries are present.

        onnx is always needed (the graph is parsed); onnxruntime by the onnxruntime backend.
        """
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise DeviceUnavailable('the emulator needs onnx: pip install onnx',
                                    reason='onnx missing') from None
        if self.backend == 'onnxruntime':
            _import_onnxruntime()
        self._open = True

    def upload(self, partition) -> None:
        """Load an ExportedPartition: compile it (sparse) or create its onnxruntime session.

        A graph the sparse backend cannot compile runs on onnxruntime (noted); a sparse
        graph that disagrees with onnxruntime on the self-check probe raises DeviceError.
        The compiled graph is kept across close/open: uploading the same model again (a
        reopen after a fault) reuses it.
        """
        if not self._open:
            raise DeviceError(f'{self.name}: upload before open')
        self._session, self._graph, self.fused = None, None, False
        self._backend_notes = []
        self._manifest = partition.manifest
        self._inputs = {s['name']: s for s in partition.manifest['inputs']}
        self._outputs = list(partition.manifest['outputs'])
        self._output_names = [spec['name'] for spec in self._outputs]
        if self.backend == 'sparse':
            if self._compiled is not None and self._compiled[0] == partition.model:
                self._graph, self._backend_notes = self._compiled[1], self._compiled[2]
                self.backend_used = 'sparse'            # a reopen: same graph, compiled
                return
            try:
                graphs = SparseGraph.compile_groups(partition.model, partition.manifest,
                                                    self.threads, SPLIT_MIN_WEIGHTS)
                graph = graphs[0] if len(graphs) == 1 else SplitGraph(graphs)
            except ValueError as exc:
                self._backend_notes.append(f'sparse backend cannot run this graph ({exc}): '
                                           'onnxruntime runs it')
            else:
                if self.check:
                    self._self_check(graph, partition)
                self._graph = graph
                self._compiled = (partition.model, graph, list(self._backend_notes))
                self.backend_used = 'sparse'
                return
        self._create_session(partition)
        self.backend_used = 'onnxruntime'

    def _self_check(self, graph, partition) -> None:
        """Run a seeded random probe through the sparse graph and onnxruntime; compare.

        Exact outputs must be equal; others equal within float32 rounding (before
        quantisation).
        """
        try:
            ort = _import_onnxruntime()
        except DeviceUnavailable:
            self._backend_notes.append('upload self-check skipped: onnxruntime missing')
            return
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(partition.model, options,
                                       providers=['CPUExecutionProvider'])
        probe = probe_inputs(graph, partition.manifest)
        want = session.run(graph.output_names,
                           {n: to_onnx_layout(g) for n, g in probe.items()})
        got = graph.run(probe)
        specs = {s['name']: s for s in partition.manifest['outputs']}
        for name, value in zip(graph.output_names, want):
            value = from_onnx_layout(value)
            exact = specs.get(name, {}).get('exact', False)
            top = float(np.max(np.abs(value))) if value.size else 0.0
            error = float(np.max(np.abs(got[name] - value))) if value.size else 0.0
            if (exact and error > 0) or error > 1e-5 * max(top, 1e-30):
                raise DeviceError(
                    f'{self.name}: sparse backend self-check failed: output {name!r} differs '
                    f'from onnxruntime by up to {error:g} (largest value {top:g}'
                    f'{", exact graph" if exact else ""}); use backend=\'onnxruntime\'',
                    reason='sparse backend self-check failed')
        self._backend_notes.append('upload self-check: sparse = onnxruntime on a random probe')

    def _create_session(self, partition) -> None:
        """Create the onnxruntime session (fused convolutions where the graph allows)."""
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # idle pool threads must sleep, not spin: the host's own threads need the cores
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        model = partition.model
        fused = None
        if self.fuse and partition.manifest.get('exact'):
            import onnx
            fused = fuse_convolutions(onnx.load_from_string(partition.model))
        if fused is not None:
            model = fused.SerializeToString()
        self.fused = fused is not None
        level = self.optimization
        if level == 'auto':
            level = 'all' if self.fused else 'basic'
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
        self._session = ort.InferenceSession(model, options,
                                             providers=['CPUExecutionProvider'])

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Quantise inputs, run the graph, quantise outputs; grids in (X, Y, Z) order.

        With the sparse backend the grids returned are valid until the next call.
        """
        if (self._session is None and self._graph is None) or not self._open:
            raise DeviceError(f'{self.name}: no partition loaded (open and upload first)')
        with self._lock:
            self._calls += 1
        return self._run(inputs, time.monotonic())

    def warm_up(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """The inference made at open: like `infer`, not counted among the inferences."""
        if (self._session is None and self._graph is None) or not self._open:
            raise DeviceError(f'{self.name}: no partition loaded (open and upload first)')
        return self._run(inputs, time.monotonic())

    def _run(self, inputs: Dict[str, np.ndarray], start: float) -> Dict[str, np.ndarray]:
        """Run the graph on the backend, then wait out the modelled latency."""
        if self._graph is not None:
            out = self._graph.run(inputs, quantized=self.quantized,
                                  nonzero=getattr(inputs, 'nonzero', None))
        else:
            out = self._run_session(inputs)
        if not wait_out(start, self.latency_s):
            self._over_latency += 1
        self._busy_s += time.monotonic() - start
        return out

    def _run_session(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        feed = {}
        for name, grid in inputs.items():
            spec = self._inputs[name]
            q = quant_grid(spec, self._manifest) if self.quantized else None
            if q is not None:
                grid = quantize_grid(grid, q)
            feed[name] = to_onnx_layout(grid)
        results = self._session.run(self._output_names, feed)
        out = {}
        for spec, value in zip(self._outputs, results):
            grid = from_onnx_layout(value)
            q = quant_grid(spec, self._manifest) if self.quantized else None
            if q is not None:
                grid = quantize_grid(grid, q)
            out[spec['name']] = grid
        return out

    def describe(self) -> DeviceHealth:
        """Health of the emulator: marked emulated; utilisation = busy share since last call."""
        now = time.monotonic()
        span = max(1e-9, now - self._since)
        utilization = min(1.0, self._busy_s / span)
        self._busy_s, self._since = 0.0, now
        if (self.backend_used or self.backend) == 'sparse':
            runs = 'event-driven execution of the exported graph on the host CPU (sparse)'
        else:
            runs = 'onnxruntime on the host CPU' + (' (fused convolutions)' if self.fused
                                                    else '')
        notes = [f'emulated: {runs}, no temperature or power sensor'] + self._backend_notes
        if self._manifest is not None:
            notes.append(f'precision {self._manifest["precision_mode"]}, '
                         f'exact={self._manifest["exact"]}')
            if self._manifest.get('hef_quant'):
                inexact = [f'{spec["name"]}: {why}' for spec, why in
                           ((s, inexact_reason(s, self._manifest)) for s in self._outputs)
                           if why]
                notes.append('quantised as the compile report says: ' + (
                    'every output exact' if not inexact else
                    'inexact outputs ' + '; '.join(inexact)))
        if self.latency_s > 0:
            notes.append(f'modelled latency {self.latency_s * 1000:g} ms per inference '
                         f'(compute included); {self._over_latency} of {self._calls} '
                         'inferences took longer (the emulation was slower)')
        status = 'open' if self._open else 'closed'
        return DeviceHealth(
            name=self.name, kind=self.kind, device_id=self.name, architecture='HAILO8 (emulated)',
            capacity_weights=20_000_000, utilization=utilization, emulated=True,
            status=status, notes=notes)

    def close(self) -> None:
        """Drop the session or compiled graph."""
        self._session = None
        self._graph = None
        self._open = False
