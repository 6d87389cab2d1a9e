"""Predicted per-burst time of a placement: where a mapping pays on a Hailo-8 (estimates).

Model (every constant an estimate, from ../shared/HAILORT.md, labelled so in every output):
- CPU, per mapping: synaptic events per burst (source activity x the pair's synapses) x the
  host's seconds per event (measured by `calibrate_cpu`, else `CPU_EVENT_S`), times the
  profile's CPU factor (a Pi 5's Cortex-A76 against this host).
- Device, per partition: the per-inference overhead + bytes in and out / link bandwidth +
  multiply-adds / throughput; plus host work per input and output voxel (grid fill, value
  check, apply). Inputs are uint8, one value and one spike channel per source voxel;
  outputs a 16-bit current and an 8-bit reach per target voxel.
- A burst overlaps the device with the CPU's own propagation: time = neuron update + CPU
  mappings + host I/O + max(0, device - CPU mappings).
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

CPU_EVENT_S = 7e-9           # s per synaptic event (w1m, random targets, this host), uncalibrated
UPDATE_S = 1e-9              # seconds per neuron update (the vectorised kernel)
HOST_VOXEL_S = 1.5e-9        # host seconds per device input or output voxel
IN_BYTES_PER_VOXEL = 2       # value + spike, uint8
OUT_BYTES_PER_VOXEL = 3      # 16-bit current + 8-bit reach


@dataclass(frozen=True)
class DeviceProfile:
    """A host and link for a Hailo-8 (estimates: HAILORT.md, not measured here)."""

    name: str
    label: str
    bandwidth: float          # bytes/s each way, effective
    overhead_s: float         # per inference: driver, vstreams, Python
    macs_per_s: float         # sustained multiply-adds/s on small-channel convs
    cpu_factor: float         # host CPU time x this = the robot CPU's time


PROFILES: Dict[str, DeviceProfile] = {p.name: p for p in (
    DeviceProfile('pi5-gen2', 'Raspberry Pi 5, PCIe Gen 2 x1', 0.4e9, 1.5e-3, 1.3e12, 2.5),
    DeviceProfile('pi5-gen3', 'Raspberry Pi 5, PCIe Gen 3 x1', 0.8e9, 1.0e-3, 1.3e12, 2.5),
    DeviceProfile('x86-gen3x4', 'x86 host, PCIe Gen 3 x4', 3.2e9, 0.3e-3, 1.3e12, 1.0),
)}
DEFAULT_PROFILE = 'pi5-gen3'
# where planned device partitions run: always there, where the model predicts a gain, none
PLACEMENTS = ('device', 'auto', 'cpu')


def profile(name: str) -> DeviceProfile:
    """The profile of a name; ValueError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f'device profile {name!r}: known are {", ".join(PROFILES)}') from None


def op_macs(op, dst_dims: Sequence[int]) -> int:
    """Multiply-adds of one device operator per inference (value and reach passes)."""
    plane = max(1, int(dst_dims[0]) * int(dst_dims[1]))
    if op.form == 'conv' and op.kernel is not None:
        return 2 * int(op.kernel.size) * plane
    if op.form == 'dense' and op.matrix is not None:
        return 2 * int(op.matrix.size)
    return 0


@dataclass
class Prediction:
    """Predicted seconds per burst of one placement, with its parts."""

    placement: str
    total_s: float
    cpu_mappings_s: float
    update_s: float
    host_io_s: float
    device_s: float

    def line(self) -> str:
        """Return the prediction as one readable sentence, marked as model output."""
        return (f'{self.placement}: {self.total_s * 1e3:.2f} ms/burst predicted (CPU '
                f'mappings {self.cpu_mappings_s * 1e3:.2f}, update {self.update_s * 1e3:.2f}, '
                f'host I/O {self.host_io_s * 1e3:.2f}, device {self.device_s * 1e3:.2f}; '
                'model estimate, not a measurement)')


class CostModel:
    """Per-burst time of placements of a brain's operators under a device profile."""

    def __init__(self, connectome, operators: Sequence, device: DeviceProfile,
                 cpu_event_s: float = CPU_EVENT_S):
        self.connectome = connectome
        self.operators = list(operators)
        self.device = device
        self.cpu_event_s = cpu_event_s

    def events(self, op, activity: np.ndarray) -> float:
        """Synaptic events per burst of a mapping: source activity x its synapses."""
        return float(activity[op.src]) * op.synapses

    def cpu_s(self, op, activity: np.ndarray) -> float:
        """Predicted CPU seconds per burst of one mapping."""
        return self.events(op, activity) * self.cpu_event_s * self.device.cpu_factor

    def device_s(self, ops: Iterable) -> float:
        """Predicted device round trip of one partition's operators."""
        ops = list(ops)
        if not ops:
            return 0.0
        moved = self.io_bytes(ops)
        macs = sum(op_macs(op, self.connectome.areas[op.dst].dims) for op in ops)
        return self.device.overhead_s + moved / self.device.bandwidth + \
            macs / self.device.macs_per_s

    def io_voxels(self, ops: Iterable) -> Tuple[int, int]:
        """Voxels in and out per inference: each source and target area once."""
        ops = list(ops)
        areas = self.connectome.areas
        return (sum(areas[a].voxels for a in {op.src for op in ops}),
                sum(areas[b].voxels for b in {op.dst for op in ops}))

    def io_bytes(self, ops: Iterable) -> int:
        """Bytes in and out per inference."""
        sources, targets = self.io_voxels(ops)
        return sources * IN_BYTES_PER_VOXEL + targets * OUT_BYTES_PER_VOXEL

    def host_io_s(self, ops: Iterable) -> float:
        """Host seconds per burst to fill the inputs and apply the outputs."""
        return sum(self.io_voxels(ops)) * HOST_VOXEL_S * self.device.cpu_factor

    def predict(self, on_device: Sequence[Sequence], activity: np.ndarray,
                placement: str) -> Prediction:
        """Time per burst when the operator groups `on_device` (one per device) run there."""
        moved = {id(op) for group in on_device for op in group}
        cpu = sum(self.cpu_s(op, activity) for op in self.operators if id(op) not in moved)
        host = sum(self.host_io_s(group) for group in on_device)
        device = max((self.device_s(group) for group in on_device), default=0.0)
        update = self.connectome.n_neurons * UPDATE_S * self.device.cpu_factor
        total = update + cpu + host + max(0.0, device - cpu)
        return Prediction(placement, total, cpu, update, host, device)

    def gain_s(self, group: Sequence, activity: np.ndarray, other_cpu_s: float = 0.0) -> float:
        """Seconds per burst a group saves on the device (negative: the CPU is faster)."""
        cpu = sum(self.cpu_s(op, activity) for op in group)
        device = self.device_s(group)
        return cpu - self.host_io_s(group) - max(0.0, device - other_cpu_s)


def expected_activity(connectome, default: float = 0.02,
                      measured: Optional[Dict[str, float]] = None) -> np.ndarray:
    """Fraction of each area's neurons firing per burst: measured where given, else default."""
    activity = np.full(len(connectome.areas), float(default))
    for area_id, value in (measured or {}).items():
        activity[connectome.area_index(area_id)] = float(value)
    return activity


def calibrate_cpu(engine, bursts: int = 50) -> float:
    """Seconds per synaptic event of this host: a few bursts of the engine, timed."""
    import time
    degree = np.diff(np.asarray(engine.model.degree_indptr, np.int64))
    events = 0
    started = time.perf_counter()
    for _ in range(bursts):
        events += int(degree[engine.burst()].sum())
    elapsed = time.perf_counter() - started
    update = engine.model.n_neurons * UPDATE_S * bursts
    return max(1e-10, (elapsed - update) / events) if events else CPU_EVENT_S


def table(rows: List[Prediction]) -> List[str]:
    """Lines of predictions, one per placement."""
    return [p.line() for p in rows]


def placement_lines(connectome, plan, activity: np.ndarray,
                    profiles: Sequence[str] = tuple(PROFILES)) -> List[str]:
    """Predicted per-burst time, all on the CPU and as planned, for each device profile."""
    lines = []
    groups = [p.operators for p in plan.partitions]
    for name in profiles:
        model = CostModel(connectome, plan.operators, profile(name))
        cpu = model.predict([], activity, 'all on the CPU')
        planned = model.predict(groups, activity, 'as planned')
        lines.append(f'{model.device.label} (estimate): all on the CPU '
                     f'{cpu.total_s * 1e3:.2f} ms/burst, as planned '
                     f'{planned.total_s * 1e3:.2f} ms/burst (device round trip '
                     f'{planned.device_s * 1e3:.2f} ms)')
    return lines
