"""The device interface: what a CPU, an emulated Hailo or a real Hailo-8 partition offers.

A device runs the synaptic integration of one partition (spikes of burst b-1 -> input
currents and candidacy of the partition's target neurons); the neuron state and update stay
on the host, so a device that fails loses nothing (NEURON_MODEL §6).
"""

from abc import ABC, abstractmethod
import ctypes
from dataclasses import asdict, dataclass, field
import sys
import threading
import time
from typing import Dict, Optional

import numpy as np


_PR_SET_TIMERSLACK = 29
_slack = threading.local()


def wait_out(start: float, latency_s: float) -> bool:
    """Sleep until `latency_s` after `start` (time.monotonic); False if that had passed.

    An emulated device's modelled latency is a round trip: its own compute runs inside it.
    On Linux the calling thread's timer slack is set to 1 us first (once per thread), so a
    modelled latency overshoots by less than with the default 50 us slack (bench/README.md).
    """
    if latency_s <= 0:
        return True
    remaining = latency_s - (time.monotonic() - start)
    if remaining <= 0:
        return False
    if not getattr(_slack, 'set', False):
        _slack.set = True
        if sys.platform.startswith('linux'):
            try:
                ctypes.CDLL(None).prctl(_PR_SET_TIMERSLACK, 1000, 0, 0, 0)
            except (OSError, AttributeError):
                pass
    time.sleep(remaining)
    return True


class DeviceError(RuntimeError):
    """A device failed (open, load, inference, timeout); `reason` is a short, readable cause."""

    def __init__(self, message: str, reason: str = '', status: str = ''):
        super().__init__(message)
        self.reason = reason or message
        self.status = status


class DeviceUnavailable(DeviceError):
    """A device cannot be used at all here (library or hardware missing, wrong version)."""


class DeviceTimeout(DeviceError):
    """An inference did not complete within the device's timeout."""


@dataclass
class DeviceHealth:
    """What `describe()` reports: identity, capacity and telemetry (None = not available)."""

    name: str
    kind: str
    device_id: str = ''
    architecture: str = ''
    firmware: str = ''
    library_version: str = ''
    capacity_weights: Optional[int] = None
    temperature_c: Optional[float] = None
    power_w: Optional[float] = None
    utilization: Optional[float] = None
    emulated: bool = False
    status: str = 'closed'
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return the health values as a plain dict (for diagnostics and JSON)."""
        return asdict(self)


class Device(ABC):
    """One accelerator: open, describe, upload a partition graph, infer per burst, close."""

    kind = 'device'
    # outputs the device computes wrongly (its self-check at upload): name -> reason; the
    # host integrates the targets they feed itself
    distrusted: Dict[str, str] = {}

    @abstractmethod
    def open(self) -> None:  # noqa: A003
        """Claim the device; raise DeviceUnavailable/DeviceError with a readable reason."""

    @abstractmethod
    def upload(self, partition) -> None:
        """Load an exported partition (devices.export.ExportedPartition) onto the device."""

    @abstractmethod
    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run one burst's integration: grids (X, Y, Z) per input name -> grids per output."""

    def warm_up(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the inference made at open, before any burst (compiles and loads lazily).

        An inference like `infer`; a device whose test hooks count inferences does not
        count this one.
        """
        return self.infer(inputs)

    @abstractmethod
    def describe(self) -> DeviceHealth:
        """Return identity and telemetry (temperature, power, utilisation where available)."""

    def download_state(self) -> dict:
        """Return device-held neuron state: none, the state lives on the host (NEURON_MODEL §6)."""
        return {}

    @abstractmethod
    def close(self) -> None:
        """Release the device (idempotent)."""

    def __enter__(self) -> 'Device':
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
