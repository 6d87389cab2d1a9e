"""Replay devices: record a device's outputs, then give them back without computing.

`Recording` wraps a device and keeps each inference's outputs (sparse); `ReplayDevice`
returns them in order within a modelled latency: a device that costs the host (almost)
nothing, to measure the hybrid engine's own overhead (benchmarks.hybrid).
"""

import time
from typing import Dict, Optional

from feagi_hailo_ros.devices.base import DeviceHealth, wait_out
from feagi_hailo_ros.devices.host_kernels import refill
import numpy as np


class Recording:
    """Wraps a device and keeps each inference's outputs as (shape, nonzero idx, values)."""

    def __init__(self, device, store: list):
        self.device, self.store = device, store
        self.kind = device.kind

    def __getattr__(self, name):
        return getattr(self.device, name)

    def infer(self, inputs):
        out = self.device.infer(inputs)
        frame = {}
        for name, grid in out.items():
            flat = grid.reshape(-1)
            idx = np.flatnonzero(flat).astype(np.int32)
            frame[name] = (grid.shape, idx, flat[idx].copy())
        self.store.append(frame)
        return out


class ReplayDevice:
    """A device returning recorded outputs in order: no compute but a refill, given latency."""

    kind = 'replay'

    def __init__(self, frames: list, latency_ms: float = 0.0, name: str = 'replay0',
                 dense: bool = False):
        self.frames, self.latency_s, self.name = frames, latency_ms / 1000.0, name
        self.calls = 0
        self._buffers: Dict[str, tuple] = {}
        self._dense: Optional[list] = None
        if dense:               # every frame's grids built up front: infer costs nothing
            self._dense = []
            for frame in frames:
                grids = {}
                for name, (shape, idx, values) in frame.items():
                    grid = np.zeros(int(np.prod(shape)), dtype=np.float32)
                    grid[idx] = values
                    grids[name] = grid.reshape(shape)
                self._dense.append(grids)

    def open(self) -> None:  # noqa: A003
        """Nothing to open."""

    def upload(self, partition) -> None:
        """Nothing to load."""

    def infer(self, inputs):
        """Return the next recorded frame (dense grids) `latency` after the call.

        As the emulator's, the latency is the round trip with the refill inside it. The
        grids are this device's buffers (valid until the next call, as a driver's output
        buffers are): only the entries the previous frame set are cleared. Frames are
        replayed in a cycle (a prefetched inference after the last burst gets the first).
        """
        start = time.monotonic()
        k = self.calls % len(self.frames)
        self.calls += 1
        if self._dense is not None:
            out = self._dense[k]
        else:
            out = {}
            for name, (shape, idx, values) in self.frames[k].items():
                grid, last = self._buffers.get(name, (None, idx[:0]))
                if grid is None:
                    grid = np.zeros(int(np.prod(shape)), dtype=np.float32)
                refill(grid, last, idx, values)
                self._buffers[name] = (grid, idx)
                out[name] = grid.reshape(shape)
        wait_out(start, self.latency_s)
        return out

    def warm_up(self, inputs):
        """The inference at open: zero grids of the recorded shapes (no frame is used)."""
        return {name: np.zeros(shape, np.float32) for name, (shape, _, _)
                in self.frames[0].items()}

    def describe(self):
        """Health of the replay device."""
        return DeviceHealth(name=self.name, kind=self.kind, emulated=True, status='open')

    def close(self) -> None:
        """Nothing to close."""
