"""A device wrapper that fails, hangs or disconnects on a plan: faults for tests and soaks.

It wraps any Device (usually the emulator). Inferences are counted from 1 over the wrapper's
life (reopening does not restart the count); the inference a runner makes at open
(`warm_up`) is not counted, so a plan names burst inferences.
"""

from dataclasses import dataclass, field
import threading
import time
from typing import Dict, Optional, Set

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceHealth
import numpy as np


@dataclass
class FaultPlan:
    """Faults to inject, counted in inferences of the wrapper."""

    fail_on: Set[int] = field(default_factory=set)     # raise DeviceError on these calls
    hang_on: Set[int] = field(default_factory=set)     # block for `hang_s` on these calls
    hang_s: float = 2.0
    disconnect_on: Optional[int] = None                # from this call on: disconnected
    reconnect_after_s: Optional[float] = None          # reopen succeeds after this time


class FaultyDevice(Device):
    """A device that fails, hangs and disconnects as its FaultPlan says."""

    def __init__(self, device: Device, faults: Optional[FaultPlan] = None):
        """Wrap `device`; `faults` may be replaced (or edited) at any time."""
        self.device = device
        self.faults = faults or FaultPlan()
        self.kind = device.kind
        self.name = getattr(device, 'name', device.kind)
        self.calls = 0
        self._lock = threading.Lock()
        self._disconnected_at: Optional[float] = None

    def open(self) -> None:  # noqa: A003
        """Open the device, unless disconnected and not yet reconnected."""
        if self._disconnected_at is not None:
            wait = self.faults.reconnect_after_s
            if wait is None or time.monotonic() - self._disconnected_at < wait:
                raise DeviceError(f'{self.name}: emulated device disconnected',
                                  reason='device disconnected (emulated)')
            self._disconnected_at = None
            self.faults.disconnect_on = None
        self.device.open()

    def upload(self, partition) -> None:
        """Load the partition onto the wrapped device."""
        self.device.upload(partition)

    def warm_up(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """The inference at open: the wrapped device's, not counted."""
        return self.device.warm_up(inputs)

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Count the call; fail, hang or disconnect as planned; else infer."""
        with self._lock:
            self.calls += 1
            call = self.calls
        f = self.faults
        if self._disconnected_at is not None or (f.disconnect_on is not None
                                                 and call >= f.disconnect_on):
            if self._disconnected_at is None:
                self._disconnected_at = time.monotonic()
            self.device.close()
            raise DeviceError(f'{self.name}: emulated device disconnected at inference {call}',
                              reason='device disconnected (emulated)')
        if call in f.fail_on:
            raise DeviceError(f'{self.name}: injected failure at inference {call}',
                              reason='injected failure (emulated)')
        if call in f.hang_on:
            time.sleep(f.hang_s)
        return self.device.infer(inputs)

    def describe(self) -> DeviceHealth:
        """The wrapped device's health; status 'disconnected' while disconnected."""
        health = self.device.describe()
        if self._disconnected_at is not None:
            health.status = 'disconnected'
        return health

    def close(self) -> None:
        """Close the wrapped device."""
        self.device.close()
