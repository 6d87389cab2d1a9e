"""Burst-loop bookkeeping: skip-not-queue overruns, achieved rate, p50/p99, throttled warnings.

No ROS: the node feeds these from its timer and reports them in diagnostics.
"""

import collections
from dataclasses import dataclass
import math
import time
from typing import Deque, Dict, Optional, Tuple

import numpy as np


@dataclass
class BurstStats:
    """A snapshot of the burst loop's health, as diagnostics and the demo report it."""

    bursts: int
    skipped: int
    overruns: int
    achieved_rate_hz: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_fired: float


class BurstClock:
    """Decide whether a timer tick runs a burst, and record how long bursts take.

    A burst longer than its period is an overrun: the ticks that fall inside it are skipped
    (counted, never queued), so the loop resumes on the period grid after a slow burst.
    """

    def __init__(self, period_s: float, window: int = 2000, rate_window_s: float = 5.0):
        """Start with a burst period; keep the last `window` durations for percentiles."""
        self.period_s = float(period_s)
        self.rate_window_s = float(rate_window_s)
        self._durations_ms: Deque[float] = collections.deque(maxlen=window)
        self._fired_counts: Deque[int] = collections.deque(maxlen=window)
        self._starts: Deque[float] = collections.deque()
        self._busy_until = -math.inf
        self.bursts = 0
        self.skipped = 0
        self.overruns = 0

    def set_period(self, period_s: float) -> None:
        """Change the period (a new burst rate); pending skips are kept."""
        self.period_s = float(period_s)

    def should_run(self, now_s: float) -> bool:
        """Return True when a tick at `now_s` may run a burst; count it as skipped otherwise."""
        if now_s < self._busy_until:
            self.skipped += 1
            return False
        return True

    def record(self, start_s: float, end_s: float, fired: int) -> None:
        """Record one burst that ran from `start_s` to `end_s` and fired `fired` neurons."""
        duration_s = max(0.0, end_s - start_s)
        self.bursts += 1
        self._durations_ms.append(duration_s * 1000.0)
        self._fired_counts.append(int(fired))
        self._starts.append(start_s)
        while self._starts and self._starts[0] < end_s - self.rate_window_s:
            self._starts.popleft()
        if duration_s > self.period_s:
            self.overruns += 1
            # Ticks due before the next period boundary after the burst's end are skipped.
            periods = math.ceil(duration_s / self.period_s)
            self._busy_until = start_s + periods * self.period_s - 0.25 * self.period_s
        else:
            self._busy_until = -math.inf

    def achieved_rate_hz(self, now_s: float) -> float:
        """Return bursts per second over the last `rate_window_s` seconds."""
        while self._starts and self._starts[0] < now_s - self.rate_window_s:
            self._starts.popleft()
        if len(self._starts) < 2:
            return float(len(self._starts)) / self.rate_window_s
        span_s = self._starts[-1] - self._starts[0]
        if now_s - self._starts[-1] > 2.0 * max(self.period_s, span_s / len(self._starts)):
            span_s = now_s - self._starts[0]  # the loop has stalled: let the rate fall
        return (len(self._starts) - 1) / span_s if span_s > 0 else 0.0

    def stats(self, now_s: float) -> BurstStats:
        """Return the current statistics (percentiles over the last window of bursts)."""
        if self._durations_ms:
            durations = np.fromiter(self._durations_ms, dtype=np.float64)
            p50, p99 = np.percentile(durations, [50.0, 99.0])
            longest = float(durations.max())
            mean_fired = float(np.mean(np.fromiter(self._fired_counts, dtype=np.float64)))
        else:
            p50 = p99 = longest = mean_fired = 0.0
        return BurstStats(
            bursts=self.bursts, skipped=self.skipped, overruns=self.overruns,
            achieved_rate_hz=self.achieved_rate_hz(now_s), p50_ms=float(p50),
            p99_ms=float(p99), max_ms=longest, mean_fired=mean_fired)


class SampleWindow:
    """The last `size` samples of a per-burst time (ms), for p50/p99 in diagnostics."""

    def __init__(self, size: int = 1000):
        """Start empty."""
        self._samples: Deque[float] = collections.deque(maxlen=size)

    def add(self, value_ms: float) -> None:
        """Add one sample."""
        self._samples.append(float(value_ms))

    def __len__(self) -> int:
        """Return the number of samples held."""
        return len(self._samples)

    def __iter__(self):
        """Iterate over the samples held, oldest first."""
        return iter(self._samples)

    def percentiles(self, *q: float):
        """Return the percentiles `q` of the samples held (ValueError when empty)."""
        if not self._samples:
            raise ValueError('no samples yet')
        values = np.percentile(np.fromiter(self._samples, dtype=np.float64), list(q))
        return [float(v) for v in values]


class WarnThrottle:
    """Count reports per source; pass on at most one per `period_s` for each source.

    `warn(source, text)` calls `emit(text)` for the first report of a source in a period,
    adding how many were held back since; `count` is every report.
    """

    def __init__(self, emit, period_s: float = 5.0):
        """Pass reports on to `emit(text)` at most once per `period_s` per source."""
        self._emit, self.period_s = emit, float(period_s)
        self._last: Dict[str, Tuple[float, int]] = {}
        self.count = 0

    def warn(self, source: str, text: str, now_s: Optional[float] = None) -> None:
        """Count one report of `source`; emit it unless one went out within the period."""
        self.count += 1
        now_s = time.monotonic() if now_s is None else now_s
        last_s, held = self._last.get(source, (-math.inf, 0))
        if now_s - last_s < self.period_s:
            self._last[source] = (last_s, held + 1)
            return
        more = f' ({held} more from {source} since the last warning)' if held else ''
        self._emit(text + more)
        self._last[source] = (now_s, 0)


class RateGate:
    """Say, once per burst, whether an output sent at `rate_hz` (0 = off) is due."""

    def __init__(self):
        """Nothing sent yet: the first check at a rate > 0 is due."""
        self._last_s = -math.inf

    def due(self, now_s: float, rate_hz: float) -> bool:
        """Whether it is due at `now_s` (then the next is due 1 / rate_hz later)."""
        if rate_hz <= 0 or now_s - self._last_s < 1.0 / rate_hz:
            return False
        self._last_s = now_s
        return True
