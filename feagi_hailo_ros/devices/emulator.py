"""Emulated Hailo: the exported ONNX graph on onnxruntime, quantised as the manifest says.

Inputs are rounded to their uint8/16 grids, outputs to their 8/16-bit grids (weights are
integers and stay exact), so the emulator returns what a HEF compiled with the manifest's
scales returns. Tensors the manifest marks exact (integers on a unit grid, within range by
the export's bound) are not re-rounded: there quantisation is the identity.
`latency_ms` is the modelled device round trip (PCIe transfers, queueing), added to the
graph's compute: the calling thread sleeps that long after computing, so the latency costs
no host CPU and the host's other work overlaps it. onnxruntime runs sequentially on
`threads` intra-op threads (default 1, not spinning). An exact graph whose convolutions fit
is first fused into one grouped Conv (emulator_fuse; full optimisation, where onnxruntime's
NCHWc depthwise kernel runs it); other graphs run as exported with basic optimisation (the
NCHWc layout costs ~2.5x on one-channel convolutions run one by one). `optimization`
overrides the level; `fuse=False` keeps the exported graph.
Faults can be injected for tests: fail on given inferences, hang, or disconnect until
reopened. Health values are marked emulated.
"""

from dataclasses import dataclass, field
import threading
import time
from typing import Dict, Optional, Set

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceHealth, DeviceUnavailable
from feagi_hailo_ros.devices.emulator_fuse import fuse_convolutions
from feagi_hailo_ros.devices.host_io import from_onnx_layout, quantize, to_onnx_layout
import numpy as np


@dataclass
class FaultPlan:
    """Faults to inject, counted in inferences of the device object.

    1 is the first call; reopening does not restart the count.
    """

    fail_on: Set[int] = field(default_factory=set)     # raise DeviceError on these calls
    hang_on: Set[int] = field(default_factory=set)     # block for `hang_s` on these calls
    hang_s: float = 2.0
    disconnect_on: Optional[int] = None                # from this call on: disconnected
    reconnect_after_s: Optional[float] = None          # reopen succeeds after this time


_LEVELS = {'disable': 'ORT_DISABLE_ALL', 'basic': 'ORT_ENABLE_BASIC',
           'extended': 'ORT_ENABLE_EXTENDED', 'all': 'ORT_ENABLE_ALL'}


class EmulatedHailo(Device):
    """A Hailo-8 stand-in running the partition graph with onnxruntime."""

    kind = 'emulator'

    def __init__(self, name: str = 'emulator0', latency_ms: float = 0.0,
                 quantized: bool = True, faults: Optional[FaultPlan] = None,
                 threads: int = 1, optimization: str = 'auto', fuse: bool = True):
        self.name = name
        self.latency_s = max(0.0, float(latency_ms)) / 1000.0
        self.quantized = quantized
        self.faults = faults or FaultPlan()
        self.threads = threads
        if optimization not in _LEVELS and optimization != 'auto':
            raise ValueError(f'optimization {optimization!r}: use auto or one of '
                             f'{sorted(_LEVELS)}')
        self.optimization = optimization
        self.fuse = fuse
        self.fused = False
        self._session = None
        self._manifest: Optional[dict] = None
        self._calls = 0
        self._open = False
        self._disconnected_at: Optional[float] = None
        self._busy_s = 0.0
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def open(self) -> None:  # noqa: A003
        """Check onnxruntime is present and (after an injected disconnect) reconnect."""
        if self._disconnected_at is not None:
            wait = self.faults.reconnect_after_s
            if wait is None or time.monotonic() - self._disconnected_at < wait:
                raise DeviceError(f'{self.name}: emulated device disconnected',
                                  reason='device disconnected (emulated)')
            self._disconnected_at = None
            self.faults.disconnect_on = None
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise DeviceUnavailable('the emulator needs onnxruntime: pip install onnxruntime',
                                    reason='onnxruntime missing') from None
        self._open = True

    def upload(self, partition) -> None:
        """Create the onnxruntime session of an ExportedPartition."""
        if not self._open:
            raise DeviceError(f'{self.name}: upload before open')
        import onnxruntime as ort
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
        self._manifest = partition.manifest
        self._inputs = {s['name']: s for s in partition.manifest['inputs']}
        self._outputs = list(partition.manifest['outputs'])
        self._output_names = [spec['name'] for spec in self._outputs]

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Quantise inputs, run the graph, quantise outputs; grids in (X, Y, Z) order."""
        if self._session is None or not self._open:
            raise DeviceError(f'{self.name}: no partition loaded (open and upload first)')
        start = time.monotonic()
        with self._lock:
            self._calls += 1
            call = self._calls
        f = self.faults
        if self._disconnected_at is not None or (f.disconnect_on is not None
                                                 and call >= f.disconnect_on):
            if self._disconnected_at is None:
                self._disconnected_at = time.monotonic()
            self._open = False
            raise DeviceError(f'{self.name}: emulated device disconnected at inference {call}',
                              reason='device disconnected (emulated)')
        if call in f.fail_on:
            raise DeviceError(f'{self.name}: injected failure at inference {call}',
                              reason='injected failure (emulated)')
        if call in f.hang_on:
            time.sleep(f.hang_s)
        feed = {}
        for name, grid in inputs.items():
            spec = self._inputs[name]
            if self.quantized and not spec['exact']:
                grid = quantize(grid, spec['bits'], spec['scale'], signed=False)
            feed[name] = to_onnx_layout(grid)
        results = self._session.run(self._output_names, feed)
        out = {}
        for spec, value in zip(self._outputs, results):
            grid = from_onnx_layout(value)
            if self.quantized and not spec['exact']:
                grid = quantize(grid, spec['bits'], spec['scale'],
                                signed=spec['kind'] == 'current')
            out[spec['name']] = grid
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        self._busy_s += time.monotonic() - start
        return out

    def describe(self) -> DeviceHealth:
        """Health of the emulator: marked emulated; utilisation = busy share since last call."""
        now = time.monotonic()
        span = max(1e-9, now - self._since)
        utilization = min(1.0, self._busy_s / span)
        self._busy_s, self._since = 0.0, now
        notes = ['emulated: onnxruntime on the host CPU, no temperature or power sensor']
        if self._manifest is not None:
            notes.append(f'precision {self._manifest["precision_mode"]}, '
                         f'exact={self._manifest["exact"]}')
        if self._open:
            status = 'open'
        else:
            status = 'disconnected' if self._disconnected_at is not None else 'closed'
        return DeviceHealth(
            name=self.name, kind=self.kind, device_id=self.name, architecture='HAILO8 (emulated)',
            capacity_weights=20_000_000, utilization=utilization, emulated=True,
            status=status, notes=notes)

    def close(self) -> None:
        """Drop the session."""
        self._session = None
        self._open = False
