"""Which fired neurons the brain view shows: the union of the fired sets between clouds.

Clouds go out at `viz_rate_hz`; between them the fired sets are gathered (at most
VIZ_PENDING_FACTOR x viz_max_points indices) and a cloud shows their union, decimated to
viz_max_points. No ROS here (ros.brain_viz packs the cloud).
"""

import math
from typing import List, Optional, Sequence

import numpy as np

VIZ_PENDING_FACTOR = 4  # gather at most this many times viz_max_points between clouds


def decimate(indices: np.ndarray, max_points: int) -> np.ndarray:
    """Return at most `max_points` of `indices`, evenly spread (deterministic stride)."""
    count = len(indices)
    if count <= max_points:
        return indices
    picks = (np.arange(max_points, dtype=np.int64) * count) // max_points
    return indices[picks]


def union(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Return the sorted union of index arrays (sort + neighbour test: faster than np.unique)."""
    if not arrays:
        return np.zeros(0, dtype=np.int64)
    merged = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays])
    merged.sort()
    if merged.size < 2:
        return merged
    keep = np.empty(merged.size, dtype=bool)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


class FiredView:
    """Gather fired sets between clouds; say when a cloud is due and what it shows."""

    def __init__(self):
        """No cloud sent yet: the first burst sends one."""
        self._last_s = -math.inf
        self._pending: List[np.ndarray] = []
        self._count = 0

    def add(self, now_s: float, fired: np.ndarray, rate_hz: float,
            max_points: int) -> Optional[np.ndarray]:
        """Add a burst's fired set; return the indices to show when a cloud is due, else None.

        A rate of 0 turns the view off (nothing gathered, no cloud).
        """
        if rate_hz <= 0:
            self._pending, self._count = [], 0
            return None
        if len(fired) and self._count < VIZ_PENDING_FACTOR * max_points:
            self._pending.append(np.array(fired, dtype=np.int64))
            self._count += len(fired)
        if now_s - self._last_s < 1.0 / rate_hz:
            return None
        self._last_s = now_s
        pending, self._pending, self._count = self._pending, [], 0
        return decimate(union(pending), max_points)
