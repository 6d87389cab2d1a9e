#!/usr/bin/env python3
"""Soak benchmark: the hybrid engine or the node for hours' worth of bursts, with device faults.

Two parts, each on the essential genome or a ~1M-neuron synthetic brain (fan-out 10):
- `engine`: the HybridEngine alone (CPU + emulated Hailo), random injections into every input
  area, paced at the highest rate it holds (a probe: from 1 / (1.2 x back-to-back p99) up by
  10% steps while held); default 1,000,000 bursts (a robot's day at 10 Hz).
- `node`: the lifecycle node over real DDS, with camera (Image), Imu, LaserScan and
  JointState streams published by a second process, live parameter changes (burst_rate_hz,
  gaze, vision_change_min, one refused value) on a schedule, at the highest burst_rate_hz it
  holds (a probe at rising rates); default 100,000 bursts. The essential genome and the
  synthetic brain have no imu, proximity or joint areas, so those streams are mapped onto
  input areas that drive nothing (essential) or the image area (w1m) to be encoded each burst.

The emulated device is wrapped by `SoakDevice`, which fails, hangs longer than the device
timeout, and disconnects (reopen refused for --reconnect-s) once each in the warm-up and in
every window. Prints per window (progress on stderr) burst p50/p99, achieved rate, overruns,
resident memory, threads and open files, faults, fallbacks (partition moved to the CPU) and
recoveries (back on the device); then a verdict per target: RSS grows < 5 MB after warm-up,
no thread or file-descriptor growth, every fallback recovers, p99 of the last window within
10% of the first, <= 1% overruns per window outside fallbacks (the rate is held). Every
window has the same fault and parameter cycle, so windows compare like for like. Exits 0
whatever the verdicts (a benchmark).

    python bench/soak.py engine --brain essential                 # 1,000,000 bursts
    python bench/soak.py engine --brain w1m --bursts 120000
    python bench/soak.py node --brain essential                   # 100,000 bursts
    python bench/soak.py node --brain w1m --bursts 20000 --json
"""

import argparse
import collections
import gc
import importlib.util
import json
import math
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

if importlib.util.find_spec('feagi_hailo_ros') is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from feagi_hailo_ros.devices.base import Device, DeviceError, wait_out  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ESSENTIAL = os.path.join(ROOT, 'test', 'data', 'essential_genome.json')
DEFAULT_BURSTS = {'engine': 1_000_000, 'node': 100_000}
FAULT_AT = (('fail', 0.2), ('hang', 0.45), ('disconnect', 0.7))   # fraction of a segment
SETTLED = 2                  # inferences after an open before a fault may be injected
RSS_GROWTH_MB = 5.0
P99_DRIFT = 0.10
OVERRUN_SHARE = 0.01
RATE_MARGIN = 1.2            # engine: the probe starts at 1 / (this x back-to-back p99)
RATE_STEP = 1.1              # engine: then rises by this factor while the rate is held
NODE_RATES_HZ = (10, 20, 30, 50, 75, 100, 120, 150, 200, 250, 300, 400, 500, 700, 1000)
HELD_SHARE = 0.95            # node probe: a rate is held at >= this share, <= 1% overruns
# node: parameter changes at fractions of every segment (name, value or callable of rate)
PARAMETER_PLAN = (
    (0.10, 'gaze_x', 0.3), (0.12, 'gaze_y', 0.7), (0.30, 'vision_change_min', 10),
    (0.50, 'burst_rate_hz', lambda rate: rate / 2.0), (0.55, 'burst_rate_hz', lambda rate: rate),
    (0.60, 'gaze_x', 0.5), (0.62, 'gaze_y', 0.5), (0.80, 'vision_change_min', 1),
    (0.90, 'gaze_x', 2.0))   # out of range: must be refused
# essential genome: input areas with no outgoing mapping carry the scalar streams
SCALAR_AREAS = {'essential': {'imu_area': 'iic000', 'proximity_area': 'iic200',
                              'joint_area': 'iic300'},
                'w1m': {'imu_area': 'iic400', 'proximity_area': 'iic400',
                        'joint_area': 'iic400'}}


# ---------------------------------------------------------------- process usage
def usage() -> Dict[str, float]:
    """Resident memory (MB, VmRSS), Python and OS threads, and open file descriptors now."""
    rss_kb = 0
    with open('/proc/self/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                rss_kb = int(line.split()[1])
                break
    return {'rss_mb': rss_kb / 1024.0, 'threads': threading.active_count(),
            'os_threads': len(os.listdir('/proc/self/task')),
            'fds': len(os.listdir('/proc/self/fd'))}


class CpuMeter:
    """Cores busy since the last reading: this process (and `pids`), and all other processes.

    Other processes on the machine take cores from the bursts; their share per window says
    how much of a window's p99 is the host's noise rather than the soak's own drift.
    """

    def __init__(self, pids: Tuple[int, ...] = ()):
        self.pids = pids
        self._ticks = os.sysconf('SC_CLK_TCK')
        self._last = self._read()

    def _read(self) -> Tuple[float, float, float]:
        with open('/proc/stat', encoding='ascii') as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
        busy = sum(fields) - fields[3] - fields[4]          # minus idle and iowait
        ours = 0
        for pid in ('self',) + tuple(str(p) for p in self.pids):
            try:
                with open(f'/proc/{pid}/stat', encoding='ascii') as stat:
                    values = stat.read().rsplit(')', 1)[1].split()
                ours += int(values[11]) + int(values[12])     # utime + stime
            except (OSError, IndexError, ValueError):
                pass
        return time.monotonic(), busy / self._ticks, ours / self._ticks

    def reading(self, bursts: int) -> Dict[str, float]:
        """Cores busy (soak, others) since the last reading, and the soak's CPU ms per burst.

        The CPU per burst (all threads) hardly depends on the other processes: the soak's
        own drift, where the wall-clock p99 also carries the host's.
        """
        now = self._read()
        span = max(1e-9, now[0] - self._last[0])
        soak_s = now[2] - self._last[2]
        others = max(0.0, (now[1] - self._last[1] - soak_s) / span)
        self._last = now
        return {'cpu_soak': round(soak_s / span, 2), 'cpu_others': round(others, 2),
                'cpu_ms_per_burst': round(1000.0 * soak_s / max(1, bursts), 4)}


def released_usage(*holders: Any) -> Dict[str, Any]:
    """Usage once the soak's own references to the engine and devices are dropped.

    Clears the given lists and trackers, collects garbage, waits a moment for threads that
    were told to stop, and names the OS threads left.
    """
    for holder in holders:
        if isinstance(holder, list):
            holder.clear()
        elif isinstance(holder, FaultTracker):
            holder.engine = None
    gc.collect()
    time.sleep(0.5)
    values: Dict[str, Any] = usage()
    names = []
    for task in sorted(os.listdir('/proc/self/task')):
        try:
            with open(f'/proc/self/task/{task}/comm', encoding='utf-8') as comm:
                names.append(comm.read().strip())
        except OSError:
            pass
    values['thread_names'] = names
    return values


def usage_text(values: Dict[str, float]) -> str:
    return (f"RSS {values['rss_mb']:.1f} MB, threads {values['threads']} "
            f"(os {values['os_threads']}), fds {values['fds']}")


# ---------------------------------------------------------------- layout and faults
class Layout:
    """Bursts [0, warmup) are the warm-up; then `windows` windows of about equal size."""

    def __init__(self, bursts: int, windows: int, warmup: int):
        self.warmup = int(warmup)
        self.windows = max(1, int(windows))
        self.bursts = max(self.windows, int(bursts))
        edges = np.linspace(0, self.bursts, self.windows + 1).round().astype(np.int64)
        self.segments: List[Tuple[int, int]] = [(0, self.warmup)] + [
            (self.warmup + int(a), self.warmup + int(b)) for a, b in zip(edges, edges[1:])]

    @property
    def total(self) -> int:
        return self.warmup + self.bursts

    def at(self, fraction: float) -> List[int]:
        """The burst at `fraction` of every segment (warm-up first)."""
        return [lo + int(fraction * (hi - lo)) for lo, hi in self.segments if hi > lo]


class Clock:
    """Bursts run so far in the soak (the fault and parameter schedules count these)."""

    def __init__(self) -> None:
        self.bursts = 0


class FaultSchedule:
    """(burst, kind) events; each device takes them in order at its next inference."""

    def __init__(self, events: List[Tuple[int, str]] = ()):
        self.events = sorted(events)
        self._cursor: Dict[str, int] = {}

    def arm(self, events: List[Tuple[int, str]]) -> None:
        self.events = sorted(events)
        self._cursor = {}

    def take(self, device: str, burst: int) -> Optional[str]:
        k = self._cursor.get(device, 0)
        if k < len(self.events) and burst >= self.events[k][0]:
            self._cursor[device] = k + 1
            return self.events[k][1]
        return None


def fault_events(layout: Layout) -> List[Tuple[int, str]]:
    return sorted((burst, kind) for kind, fraction in FAULT_AT for burst in layout.at(fraction))


class SoakDevice(Device):
    """A device (an EmulatedHailo) that fails, hangs and disconnects on the soak's schedule.

    fail: the inference raises DeviceError. hang: it sleeps `hang_s` (longer than the
    engine's device timeout) and then answers. disconnect: it raises, and `open` refuses
    for `reconnect_s`, as an unplugged chip does until it is back. A fault is injected only
    in a burst inference at least SETTLED inferences after an open (not in the start-up
    inference, nor the first job after an open, which has a longer time limit).
    """

    def __init__(self, inner: Device, schedule: FaultSchedule, clock: Clock, hang_s: float,
                 reconnect_s: float):
        self.inner = inner
        self.kind = getattr(inner, 'kind', 'device')
        self.name = getattr(inner, 'name', 'device')
        self.schedule, self.clock = schedule, clock
        self.hang_s, self.reconnect_s = float(hang_s), float(reconnect_s)
        self.injected: Dict[str, int] = collections.Counter()
        self.refused_opens = 0
        self._since_open = 0
        self._down_until: Optional[float] = None

    def __getattr__(self, name: str):
        inner = self.__dict__.get('inner')
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def _disconnected(self) -> DeviceError:
        return DeviceError(f'{self.name}: disconnected (soak schedule)',
                           reason='soak: device disconnected')

    def open(self) -> None:  # noqa: A003
        """Open the device unless it is disconnected."""
        if self._down_until is not None:
            if time.monotonic() < self._down_until:
                self.refused_opens += 1
                raise self._disconnected()
            self._down_until = None
        self.inner.open()
        self._since_open = 0

    def upload(self, partition) -> None:
        """Load the partition onto the device."""
        self.inner.upload(partition)

    def infer(self, inputs):
        """Run the inference, or fail, hang or disconnect when the schedule says."""
        if self._down_until is not None:
            raise self._disconnected()
        self._since_open += 1
        kind = None
        if self._since_open > SETTLED:
            kind = self.schedule.take(self.name, self.clock.bursts)
        if kind is not None:
            self.injected[kind] += 1
        if kind == 'fail':
            raise DeviceError(f'{self.name}: injected failure (soak schedule)',
                              reason='soak: injected failure')
        if kind == 'hang':
            time.sleep(self.hang_s)
        elif kind == 'disconnect':
            self._down_until = time.monotonic() + self.reconnect_s
            raise self._disconnected()
        return self.inner.infer(inputs)

    def warm_up(self, inputs):
        """The start-up inference at open (newer HybridEngine): never faulted."""
        warm_up = getattr(self.inner, 'warm_up', None)
        return warm_up(inputs) if warm_up is not None else self.inner.infer(inputs)

    def describe(self):
        """Health of the wrapped device."""
        return self.inner.describe()

    def close(self) -> None:
        """Close the wrapped device."""
        self.inner.close()


def device_factory(args, schedule: FaultSchedule, clock: Clock,
                   made: List[SoakDevice]) -> Callable[[Any], Device]:
    """Return the HybridEngine's device factory: an EmulatedHailo inside a SoakDevice."""
    from feagi_hailo_ros.devices.emulator import EmulatedHailo

    def make(part) -> Device:
        device = SoakDevice(EmulatedHailo(part.name, latency_ms=args.latency_ms), schedule,
                            clock, args.hang_ms / 1000.0, args.reconnect_s)
        made.append(device)
        return device
    return make


class FaultTracker:
    """Fallbacks (a partition moved to the CPU) and recoveries (all back on the device).

    Reads the engine's `faults` list after every burst; during a fallback it asks
    `describe()` whether every partition is in device mode again.
    """

    def __init__(self, engine, clock: Clock):
        self.engine, self.clock = engine, clock
        self.seen = len(engine.faults)
        self.by_what: Dict[str, int] = collections.Counter()
        self.by_reason: Dict[str, int] = collections.Counter()
        self.fallbacks = self.recoveries = 0
        self.recovery_bursts: List[int] = []
        self.recovery_s: List[float] = []
        self._since: Optional[Tuple[int, float]] = None

    @property
    def in_fallback(self) -> bool:
        return self._since is not None

    def check(self) -> None:
        faults = self.engine.faults
        if len(faults) > self.seen:
            for record in faults[self.seen:]:
                self.by_what[record.get('what', '?')] += 1
                self.by_reason[f"{record.get('what', '?')}: {record.get('reason', '')}"[:90]] += 1
            self.seen = len(faults)
            if self._since is None:
                self.fallbacks += 1
                self._since = (self.clock.bursts, time.monotonic())
        if self._since is not None and all(mode == 'device' for mode in self.modes()):
            self.recoveries += 1
            self.recovery_bursts.append(self.clock.bursts - self._since[0])
            self.recovery_s.append(time.monotonic() - self._since[1])
            self._since = None

    def modes(self) -> List[str]:
        return [part.get('mode', '?') for part in self.engine.describe()]

    def snapshot(self) -> Tuple[int, int, int]:
        return len(self.engine.faults), self.fallbacks, self.recoveries

    def report(self, devices: List[SoakDevice]) -> Dict[str, Any]:
        injected: Dict[str, int] = collections.Counter()
        for device in devices:
            injected.update(device.injected)
        return {
            'injected': dict(injected), 'faults': self.seen, 'faults_by_what': dict(self.by_what),
            'faults_by_reason': dict(self.by_reason), 'fallbacks': self.fallbacks,
            'recoveries': self.recoveries, 'in_fallback_at_end': self.in_fallback,
            'refused_reopens': sum(device.refused_opens for device in devices),
            'recovery_bursts_max': max(self.recovery_bursts, default=0),
            'recovery_s_max': round(max(self.recovery_s, default=0.0), 3),
            'recovery_s_median': round(float(np.median(self.recovery_s)), 3)
            if self.recovery_s else 0.0,
            'final_modes': self.modes()}


# ---------------------------------------------------------------- windows
class Windows:
    """Burst durations of the current segment (a reused buffer) and each segment's summary."""

    def __init__(self, layout: Layout, columns: Tuple[str, ...] = ('burst',)):
        self.layout = layout
        self.columns = columns
        size = max(hi - lo for lo, hi in layout.segments) + 16
        self.ms = np.full((len(columns), size), np.nan)    # touched now: no growth later
        self.count = 0
        self.index = 0                      # segment 0 is the warm-up
        self.started = time.monotonic()
        self.overruns = self.fallback_bursts = self.fallback_overruns = self.fired = 0
        self.summaries: List[Dict[str, Any]] = []
        self.cpu = CpuMeter()

    @property
    def end(self) -> int:
        return self.layout.segments[self.index][1]

    def record(self, *values_s: float, fallback: bool = False, overrun: bool = False,
               fired: int = 0) -> None:
        """Record one burst: durations per column, on the CPU (in a fallback), overran."""
        if self.count < self.ms.shape[1]:
            for column, value in enumerate(values_s):
                self.ms[column, self.count] = value * 1000.0
            self.count += 1
        self.overruns += overrun
        self.fallback_bursts += fallback
        self.fallback_overruns += fallback and overrun
        self.fired += fired

    def close(self, tracker: FaultTracker) -> Dict[str, Any]:
        """Summarise the segment just finished and start the next."""
        now = time.monotonic()
        summary: Dict[str, Any] = {
            'window': 'warm-up' if self.index == 0 else self.index,
            'bursts': self.count, 'seconds': round(now - self.started, 2),
            'rate_hz': round(self.count / max(1e-9, now - self.started), 1),
            'overruns': self.overruns, 'fallback_bursts': self.fallback_bursts,
            'fallback_overruns': self.fallback_overruns,
            'fired_mean': round(self.fired / max(1, self.count), 1)}
        for column, name in enumerate(self.columns):
            values = self.ms[column, :self.count]
            values = values[np.isfinite(values)]
            if values.size:
                p50, p99 = np.percentile(values, [50.0, 99.0])
                summary[f'{name}_p50_ms'] = round(float(p50), 4)
                summary[f'{name}_p99_ms'] = round(float(p99), 4)
                summary[f'{name}_max_ms'] = round(float(values.max()), 2)
        faults, fallbacks, recoveries = tracker.snapshot()
        summary.update({'faults': faults, 'fallbacks': fallbacks, 'recoveries': recoveries})
        summary.update(usage())
        summary.update(self.cpu.reading(self.count))
        summary['rss_mb'] = round(summary['rss_mb'], 2)
        self.summaries.append(summary)
        self.ms[:, :self.count] = np.nan
        self.count, self.started = 0, now
        self.overruns = self.fallback_bursts = self.fallback_overruns = self.fired = 0
        self.index += 1
        progress(summary, len(self.layout.segments) - 1, self.columns)
        return summary


def progress(summary: Dict[str, Any], windows: int, columns: Tuple[str, ...]) -> None:
    """One line per window on stderr."""
    name = summary['window']
    head = 'warm-up' if name == 'warm-up' else f'window {name}/{windows}'
    times = ', '.join(f"{c} p50 {summary.get(c + '_p50_ms', math.nan):.3f} "
                      f"p99 {summary.get(c + '_p99_ms', math.nan):.3f} ms" for c in columns)
    print(f"{head}: {summary['bursts']} bursts in {summary['seconds']:.1f} s "
          f"({summary['rate_hz']:.1f} Hz, overruns {summary['overruns']}; on the cpu "
          f"{summary['fallback_bursts']}, overruns there {summary['fallback_overruns']}), "
          f'{times}; '
          f"{usage_text(summary)}; cores busy: soak {summary['cpu_soak']:.2f} "
          f"({summary['cpu_ms_per_burst']:.3f} ms CPU per burst, {summary['fired_mean']:.0f} "
          f'fired per burst), other processes '
          f"{summary['cpu_others']:.2f}; faults {summary['faults']}, fallbacks "
          f"{summary['fallbacks']}, recoveries {summary['recoveries']}",
          file=sys.stderr, flush=True)


# ---------------------------------------------------------------- brains
def load_connectome(brain: str, neurons: int):
    from feagi_hailo_ros.brain.builder import load_brain
    if brain == 'essential':
        return load_brain(ESSENTIAL)
    from feagi_hailo_ros.brain.synth import synthetic_genome
    return load_brain(synthetic_genome(neurons, fanout=10))


def injection_sets(connectome, count: int, density: float, seed: int = 1):
    """`count` bursts' worth of random (area, x, y, z, potential) into every input area."""
    rng = np.random.default_rng(seed)
    inputs = [a for a, area in enumerate(connectome.areas) if area.role == 'input']
    sets = []
    for _ in range(count):
        per_burst = []
        for a in inputs:
            lo, hi = int(connectome.area_start[a]), int(connectome.area_start[a + 1])
            idx = lo + np.flatnonzero(rng.random(hi - lo) < density)
            x, y, z = connectome.coords(idx)
            per_burst.append((connectome.areas[a].id, x, y, z,
                              rng.integers(1, 200, idx.size).astype(np.float32)))
        sets.append(per_burst)
    return sets


# ---------------------------------------------------------------- verdicts
def verdicts(report: Dict[str, Any]) -> List[Dict[str, Any]]:
    out = []
    warm, end = report['usage']['after_warmup'], report['usage']['end']
    growth = end['rss_mb'] - warm['rss_mb']
    out.append({'target': 'resident memory grows < 5 MB after warm-up',
                'pass': growth < RSS_GROWTH_MB,
                'detail': f"{warm['rss_mb']:.1f} -> {end['rss_mb']:.1f} MB "
                          f'({growth:+.2f} MB)'})
    out.append({'target': 'no thread leak', 'pass': end['threads'] <= warm['threads']
                and end['os_threads'] <= warm['os_threads'],
                'detail': f"threads {warm['threads']} -> {end['threads']}, os threads "
                          f"{warm['os_threads']} -> {end['os_threads']}"})
    out.append({'target': 'no file leak', 'pass': end['fds'] <= warm['fds'],
                'detail': f"fds {warm['fds']} -> {end['fds']}"})
    faults = report['faults']
    recovered = (faults['fallbacks'] > 0 and faults['recoveries'] == faults['fallbacks']
                 and not faults['in_fallback_at_end']
                 and all(mode == 'device' for mode in faults['final_modes']))
    out.append({'target': 'every fallback recovers', 'pass': recovered,
                'detail': f"{faults['fallbacks']} fallbacks, {faults['recoveries']} "
                          f"recoveries ({faults['faults']} fault records; injected "
                          f"{faults['injected']}); modes at end {faults['final_modes']}"})
    windows = [w for w in report['windows'] if w['window'] != 'warm-up']
    first, last = windows[0].get('burst_p99_ms', math.nan), windows[-1].get(
        'burst_p99_ms', math.nan)
    change = last / first - 1.0 if first > 0 else math.nan
    out.append({'target': 'p99 of the last window within 10% of the first',
                'pass': bool(abs(change) <= P99_DRIFT),
                'detail': f'{first:.3f} -> {last:.3f} ms ({100 * change:+.1f}%); other '
                          f"processes busy {windows[0]['cpu_others']:.2f} -> "
                          f"{windows[-1]['cpu_others']:.2f} cores; the soak's CPU per burst "
                          f"{windows[0]['cpu_ms_per_burst']:.3f} -> "
                          f"{windows[-1]['cpu_ms_per_burst']:.3f} ms"})

    if 'control_p99_ms' in windows[0] and 'control_p99_ms' in windows[-1]:
        before = first / windows[0]['control_p99_ms']
        after = last / windows[-1]['control_p99_ms']
        drift = after / before - 1.0
        out.append({'target': 'p99 of the last window within 10% of the first, against the '
                              "host's speed (a fresh engine timed after each window)",
                    'pass': bool(abs(drift) <= P99_DRIFT),
                    'detail': f'soak p99 / fresh-engine p99: {before:.3f} -> {after:.3f} '
                              f'({100 * drift:+.1f}%); fresh-engine p99 '
                              f"{windows[0]['control_p99_ms']:.3f} -> "
                              f"{windows[-1]['control_p99_ms']:.3f} ms"})

    def steady_share(w: Dict[str, Any]) -> float:
        steady = max(1, w['bursts'] - w['fallback_bursts'])
        return (w['overruns'] - w['fallback_overruns']) / steady

    worst = max(windows, key=steady_share)
    if not report['rate_hz']:
        return out                          # back to back: no period to overrun
    out.append({'target': f"rate held ({report['rate_hz']:g} Hz): <= 1% overruns per window "
                          'while on the device',
                'pass': steady_share(worst) <= OVERRUN_SHARE,
                'detail': f"worst window {worst['window']}: "
                          f"{worst['overruns'] - worst['fallback_overruns']} overruns in "
                          f"{worst['bursts'] - worst['fallback_bursts']} bursts "
                          f'({100 * steady_share(worst):.2f}%); on the cpu (fallbacks) '
                          f"{worst['fallback_overruns']} of {worst['fallback_bursts']}"})
    return out


def print_report(report: Dict[str, Any]) -> None:
    print(f"soak {report['part']} on {report['brain']} ({report['brain_summary']}): "
          f"{report['bursts']} bursts + {report['warmup_bursts']} warm-up, "
          f"{report['rate_hz']:g} Hz ({report['rate_source']}); {report['elapsed_s']:.0f} s")
    for key in ('start', 'after_warmup', 'end', 'after_close'):
        if key in report['usage']:
            print(f"  {key:12s} {usage_text(report['usage'][key])}")
    names = report['usage'].get('after_close', {}).get('thread_names')
    if names:
        print(f"  threads left after close: {', '.join(names)}")
    columns = report['columns']
    for w in report['windows']:
        times = ', '.join(f"{c} p50/p99 {w.get(c + '_p50_ms', math.nan):.3f}/"
                          f"{w.get(c + '_p99_ms', math.nan):.3f} ms" for c in columns)
        print(f"  window {str(w['window']):>7s}: {w['bursts']:7d} bursts {w['rate_hz']:8.1f} Hz"
              f" overruns {w['overruns']:4d} (cpu {w['fallback_overruns']}/"
              f"{w['fallback_bursts']}); {times}; RSS {w['rss_mb']:.1f} MB, threads "
              f"{w['threads']}/{w['os_threads']}, fds {w['fds']}; cores soak/others "
              f"{w['cpu_soak']:.2f}/{w['cpu_others']:.2f}, CPU {w['cpu_ms_per_burst']:.3f} "
              f"ms/burst, fired {w['fired_mean']:.0f}/burst; faults {w['faults']} "
              f"fallbacks {w['fallbacks']} recoveries {w['recoveries']}")
    faults = report['faults']
    print(f"  faults: injected {faults['injected']}; engine fault records "
          f"{faults['faults_by_what']}; fallbacks {faults['fallbacks']}, recoveries "
          f"{faults['recoveries']} (slowest {faults['recovery_bursts_max']} bursts / "
          f"{faults['recovery_s_max']:.2f} s, median {faults['recovery_s_median']:.2f} s)")
    for reason, count in sorted(faults['faults_by_reason'].items()):
        print(f'    {count:6d} x {reason}')
    for key, value in report.get('node', {}).items():
        print(f'  node {key}: {value}')
    for verdict in report['verdicts']:
        print(f"  {'PASS' if verdict['pass'] else 'FAIL'}  {verdict['target']}: "
              f"{verdict['detail']}")


# ---------------------------------------------------------------- engine part
class Pacer:
    """Start bursts on a fixed period grid, as a robot's timer does (rate 0: back to back).

    `wait` sleeps until the next tick; a start later than a whole period skips the ticks it
    missed (never queues them).
    """

    def __init__(self, rate_hz: float):
        self.period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.next_s = time.monotonic()

    def wait(self) -> None:
        if not self.period_s:
            return
        now = time.monotonic()
        if now < self.next_s:
            wait_out(now, self.next_s - now)
        elif now - self.next_s > self.period_s:
            self.next_s += (now - self.next_s) // self.period_s * self.period_s
        self.next_s += self.period_s


def engine_step(engine, sets, k: int) -> Tuple[float, float, int]:
    """Inject burst k's input and run it; return (inject + burst, burst) seconds, fired."""
    t0 = time.perf_counter()
    for injection in sets[k % len(sets)]:
        engine.inject(*injection)
    t1 = time.perf_counter()
    fired = engine.burst()
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1, len(fired)


def host_control(connectome, sets, bursts: int) -> Dict[str, float]:
    """Time a fresh CPU engine on the same brain and inputs: the host's speed right now.

    Run between windows, back to back: a window whose soaked engine is slow because the host
    is slow has a slow control too; drift is the soak's p99 against this, window by window.
    """
    from feagi_hailo_ros.engine.core import BurstEngine
    engine = BurstEngine(connectome)
    ms = np.empty(bursts)
    cpu0 = time.process_time()
    for k in range(bursts):
        ms[k] = engine_step(engine, sets, k)[1] * 1000.0
    cpu = (time.process_time() - cpu0) * 1000.0 / max(1, bursts)
    p50, p99 = np.percentile(ms, [50.0, 99.0])
    return {'control_p50_ms': round(float(p50), 4), 'control_p99_ms': round(float(p99), 4),
            'control_cpu_ms_per_burst': round(cpu, 4)}


def paced_probe(engine, sets, rate: float, seconds: float) -> Tuple[bool, str]:
    """Burst at `rate` for `seconds`: held when >= 95% of it is achieved, <= 1% overran."""
    pacer, bursts, overruns = Pacer(rate), 0, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        pacer.wait()
        total_s = engine_step(engine, sets, bursts)[0]
        bursts += 1
        overruns += total_s > pacer.period_s
    achieved = bursts / (time.monotonic() - t0)
    held = achieved >= HELD_SHARE * rate and overruns <= OVERRUN_SHARE * bursts
    return held, f'{achieved:.1f} Hz, {overruns} overruns'


def probe_engine_rate(engine, sets, seconds: float) -> Tuple[float, str, Dict[str, str]]:
    """The highest rate held: from 1/(1.2 x back-to-back p99) up by 10% steps until not held.

    Returns (rate, how it was found, each probed rate's result). Back to back first, which
    also compiles whatever is still lazy.
    """
    durations = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < max(1.0, seconds) or len(durations) < 50:
        durations.append(engine_step(engine, sets, len(durations))[0])
    p50, p99 = np.percentile(durations[len(durations) // 4:], [50.0, 99.0])
    rate = two_digits_down(1.0 / (RATE_MARGIN * p99))
    results: Dict[str, str] = {}
    held, rising = None, True
    for _ in range(20):
        ok, results[f'{rate:g}'] = paced_probe(engine, sets, rate, seconds)
        if ok:
            held = rate
        if not rising and ok or rising and not ok and held is not None:
            break
        rising = rising and ok
        step = RATE_STEP if rising else 1 / RATE_STEP
        rate = two_digits_down(rate * step) if rate * step >= 10 else round(rate * step, 1)
    how = (f'back to back: inject+burst p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms; '
           'then paced at rising rates, held = >= 95% achieved and <= 1% overruns')
    return held or rate, how, results


def two_digits_down(value: float) -> float:
    """Round down to two significant digits (a rate easy to read)."""
    if value <= 0:
        return value
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.floor(value / scale) * scale


def run_engine(args) -> Dict[str, Any]:
    from feagi_hailo_ros.engine.factory import EngineConfig, make_engine
    started = time.monotonic()
    start_usage = usage()
    connectome = load_connectome(args.brain, args.neurons)
    sets = injection_sets(connectome, 64, args.density)
    clock, schedule, devices = Clock(), FaultSchedule(), []
    log_tail: collections.deque = collections.deque(maxlen=20)
    engine = make_engine(connectome, EngineConfig(
        device='emulator', device_timeout_ms=args.device_timeout_ms), log=log_tail.append,
        device_factory=device_factory(args, schedule, clock, devices))
    try:
        if not engine.describe():
            raise SystemExit('soak: the partition plan put nothing on the device')
        probes: Dict[str, str] = {}
        if args.rate == 'auto':
            rate, source, probes = probe_engine_rate(engine, sets, args.probe_s)
        else:
            rate = 0.0 if args.rate == 'max' else float(args.rate)
            source = 'back to back' if args.rate == 'max' else 'given'
        print(f'soak engine: {connectome}, device partitions '
              f"{[p['targets'] for p in engine.describe()]}; {source}: {probes}: "
              f'{rate:g} Hz', file=sys.stderr, flush=True)
        layout = Layout(args.bursts, args.windows, args.warmup or max(
            1000, args.bursts // 50))
        if not args.no_faults:
            schedule.arm(fault_events(layout))
        tracker = FaultTracker(engine, clock)
        windows = Windows(layout)
        pacer = Pacer(rate)
        windows.cpu = CpuMeter()
        usage_after_warmup = None
        for burst in range(layout.total):
            pacer.wait()
            was_fallback = tracker.in_fallback
            total_s, burst_s, fired = engine_step(engine, sets, burst)
            clock.bursts = burst + 1
            tracker.check()
            windows.record(burst_s, fallback=was_fallback or tracker.in_fallback,
                           overrun=bool(pacer.period_s) and total_s > pacer.period_s,
                           fired=fired)
            if clock.bursts == windows.end:
                summary = windows.close(tracker)
                if usage_after_warmup is None:
                    usage_after_warmup = usage()
                if args.control_bursts:
                    summary.update(host_control(connectome, sets, args.control_bursts))
                    print(f'  host control: fresh CPU engine p50/p99 '
                          f"{summary['control_p50_ms']:.3f}/{summary['control_p99_ms']:.3f} "
                          f"ms, CPU {summary['control_cpu_ms_per_burst']:.3f} ms/burst",
                          file=sys.stderr, flush=True)
                    windows.cpu = CpuMeter()
                    windows.started = time.monotonic()
                    pacer = Pacer(rate)
        drained = drain(lambda: engine.burst(), tracker, clock, pacer.period_s)
        end_usage = usage()
        fault_report = tracker.report(devices)
    finally:
        engine.close()
    engine = None
    closed_usage = released_usage(devices, tracker)
    report = {
        'part': 'engine', 'brain': args.brain, 'brain_summary': str(connectome),
        'bursts': layout.bursts, 'warmup_bursts': layout.warmup, 'drain_bursts': drained,
        'rate_hz': rate, 'rate_source': source, 'rate_probe': probes, 'columns': ['burst'],
        'windows': windows.summaries, 'faults': fault_report,
        'engine_log_tail': list(log_tail),
        'usage': {'start': start_usage, 'after_warmup': usage_after_warmup, 'end': end_usage,
                  'after_close': closed_usage},
        'elapsed_s': time.monotonic() - started}
    report['verdicts'] = verdicts(report)
    return report


def drain(step: Callable[[], Any], tracker: FaultTracker, clock: Clock, period: float,
          limit_s: float = 30.0) -> int:
    """Keep bursting (untimed) while a fallback is still open, up to `limit_s`."""
    drained = 0
    end = time.monotonic() + limit_s
    while tracker.in_fallback and time.monotonic() < end:
        step()
        clock.bursts += 1
        drained += 1
        tracker.check()
        if period:
            time.sleep(period)
    return drained


# ---------------------------------------------------------------- node part
def sensor_process(stop, ready, counts, spec: Dict[str, Any]) -> None:
    """A second process: camera, Imu, LaserScan and JointState publishers over DDS."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, Imu, JointState, LaserScan
    from std_msgs.msg import Float64MultiArray

    from feagi_hailo_ros.ros.synthetic_camera import image_message, pattern_frame

    rclpy.init()
    node = rclpy.create_node('soak_sensors')
    qos = qos_profile_sensor_data
    pub = {'camera': node.create_publisher(Image, 'image_raw', qos),
           'imu': node.create_publisher(Imu, 'imu', qos),
           'scan': node.create_publisher(LaserScan, 'scan', qos),
           'joints': node.create_publisher(JointState, 'joint_states', qos)}
    width, height = spec['camera_size']
    frames = [pattern_frame(k / spec['camera_hz'], width, height)
              for k in range(int(4 * spec['camera_hz']))]      # one 4 s cycle of the disc
    sent = collections.Counter()

    def camera() -> None:
        frame = frames[sent['camera'] % len(frames)]
        pub['camera'].publish(image_message(frame, 'rgb8', node.get_clock().now().to_msg(),
                                            'camera'))
        sent['camera'] += 1

    def imu() -> None:
        t = time.monotonic()
        msg = Imu()
        msg.header.stamp = node.get_clock().now().to_msg()
        msg.linear_acceleration.x = 3.0 * math.sin(t)
        msg.linear_acceleration.z = 9.81 + math.sin(3 * t)
        msg.angular_velocity.z = 2.0 * math.sin(0.5 * t)
        pub['imu'].publish(msg)
        sent['imu'] += 1

    def scan() -> None:
        t = time.monotonic()
        angles = np.linspace(-math.pi, math.pi, 360, endpoint=False)
        msg = LaserScan(angle_min=-math.pi, angle_max=math.pi, angle_increment=2 * math.pi / 360,
                        range_min=0.05, range_max=8.0)
        msg.header.stamp = node.get_clock().now().to_msg()
        msg.ranges = (2.0 + 1.5 * np.sin(angles * 3 + t)).astype(np.float32).tolist()
        pub['scan'].publish(msg)
        sent['scan'] += 1

    def joints() -> None:
        t = time.monotonic()
        msg = JointState(name=[f'joint{k}' for k in range(6)],
                         position=[math.sin(t + k) for k in range(6)])
        msg.header.stamp = node.get_clock().now().to_msg()
        pub['joints'].publish(msg)
        sent['joints'] += 1

    def on_motors(msg) -> None:
        sent['motor_commands_received'] += 1

    node.create_subscription(Float64MultiArray, 'motor_commands', on_motors, 10)
    for hz, callback in ((spec['camera_hz'], camera), (spec['imu_hz'], imu),
                         (spec['scan_hz'], scan), (spec['joints_hz'], joints)):
        if hz > 0:
            node.create_timer(1.0 / hz, callback)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    ready.set()
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
    finally:
        counts.put(dict(sent))
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


def run_node(args) -> Dict[str, Any]:
    import multiprocessing

    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_DOMAIN_ID'] = str(args.domain_id if args.domain_id is not None
                                      else 10 + os.getpid() % 90)
    started = time.monotonic()
    start_usage = usage()
    spec = {'camera_size': args.camera_size, 'camera_hz': args.camera_hz,
            'imu_hz': args.imu_hz, 'scan_hz': args.scan_hz, 'joints_hz': args.joints_hz}
    context = multiprocessing.get_context('spawn')
    stop, ready, counts = context.Event(), context.Event(), context.Queue()
    sensors = context.Process(target=sensor_process, args=(stop, ready, counts, spec),
                              daemon=True)
    sensors.start()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from feagi_hailo_ros.engine.factory import make_engine
    from feagi_hailo_ros.runtime import brain_runtime, loading
    from feagi_hailo_ros.ros.node import FeagiHailoNode

    clock, schedule, devices = Clock(), FaultSchedule(), []
    log_tail: collections.deque = collections.deque(maxlen=20)
    factory = device_factory(args, schedule, clock, devices)
    layout = Layout(args.bursts, args.windows, args.warmup or max(1000, args.bursts // 50))
    windows = Windows(layout, ('burst', 'engine'))
    last_engine_s, last_fired = [0.0], [0]
    rate_hz = [float(NODE_RATES_HZ[0])]             # the burst_rate_hz set last
    tracker: List[Optional[FaultTracker]] = [None]

    class SoakRuntime(brain_runtime.BrainRuntime):
        """The node's brain runtime; counts and times the engine part of every burst."""

        def burst(self):
            t0 = time.perf_counter()
            fired = super().burst()
            last_engine_s[0] = time.perf_counter() - t0
            last_fired[0] = len(fired)
            clock.bursts += 1
            return fired

    def runtime_factory(settings: Dict[str, Any], logger) -> Any:
        """The node's runtime with the soak's devices (as build_runtime, own device factory)."""
        connectome = loading.load_connectome(settings, logger)
        engine = make_engine(connectome, loading.engine_config(settings),
                             log=log_tail.append, device_factory=factory)
        try:
            runtime = SoakRuntime(connectome, engine, 'emulator (soak faults)', settings,
                                  logger)
            runtime.warm_up_s = runtime.warm_up()
            return runtime
        except BaseException:
            engine.close()
            raise

    class SoakNode(FeagiHailoNode):
        """The node, timing every burst tick that ran a burst."""

        def _on_burst_tick(self) -> None:
            before, was_fallback = clock.bursts, tracker[0] is not None and tracker[0].in_fallback
            t0 = time.perf_counter()
            super()._on_burst_tick()
            tick_s = time.perf_counter() - t0
            if clock.bursts != before:
                fallback = was_fallback
                if tracker[0] is not None:
                    tracker[0].check()
                    fallback = fallback or tracker[0].in_fallback
                windows.record(tick_s, last_engine_s[0], fallback=fallback,
                               overrun=tick_s > 1.0 / rate_hz[0], fired=last_fired[0])

    brain = ([Parameter('genome', value=ESSENTIAL)] if args.brain == 'essential' else
             [Parameter('synthetic_neurons', value=args.neurons),
              Parameter('synthetic_fanout', value=10)])
    overrides = brain + [
        Parameter('device', value='emulator'), Parameter('autostart', value=True),
        Parameter('burst_rate_hz', value=float(NODE_RATES_HZ[0])),
        Parameter('device_timeout_ms', value=float(args.device_timeout_ms)),
        Parameter('emulator_latency_ms', value=float(args.latency_ms))] + [
        Parameter(name, value=area) for name, area in SCALAR_AREAS[args.brain].items()]
    rclpy.init()
    node = executor = None
    sensor_counts: Dict[str, int] = {}
    try:
        node = SoakNode(runtime_factory=runtime_factory, parameter_overrides=overrides)
        if not node.autostart():
            raise SystemExit('soak: the node could not configure and activate')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        engine = node.runtime.engine
        brain_summary = node.runtime.summary()
        print(f'soak node: {brain_summary}; device partitions '
              f"{[p['targets'] for p in engine.describe()]}; ROS_DOMAIN_ID "
              f"{os.environ['ROS_DOMAIN_ID']}", file=sys.stderr, flush=True)
        if not ready.wait(30.0):
            raise SystemExit('soak: the sensor process did not start')
        spin_for(executor, 1.0)                       # discovery, first frames
        rate, probes = probe_node_rate(node, executor, clock, args.probe_s, rate_hz)
        print(f'soak node: rate probe {probes}; held {rate:g} Hz', file=sys.stderr,
              flush=True)
        node.set_parameters([Parameter('burst_rate_hz', value=float(rate))])
        rate_hz[0] = rate
        clock.bursts = 0                              # the schedules count from here
        if not args.no_faults:
            schedule.arm(fault_events(layout))
        params = sorted((burst, order, name, value(rate) if callable(value) else value)
                        for order, (fraction, name, value) in enumerate(PARAMETER_PLAN)
                        for burst in layout.at(fraction))
        changes = collections.Counter()
        tracker[0] = faults = FaultTracker(engine, clock)
        windows.count, windows.started = 0, time.monotonic()
        windows.overruns = windows.fallback_bursts = windows.fallback_overruns = 0
        windows.fired = 0
        windows.cpu = CpuMeter((sensors.pid,))
        usage_after_warmup = None
        while clock.bursts < layout.total:
            executor.spin_once(timeout_sec=0.1)
            faults.check()
            while params and clock.bursts >= params[0][0]:
                _, _, name, value = params.pop(0)
                result = node.set_parameters([Parameter(name, value=value)])[0]
                changes['applied' if result.successful else 'refused'] += 1
                if result.successful and name == 'burst_rate_hz':
                    rate_hz[0] = float(value)
            if clock.bursts >= windows.end:
                windows.close(faults)
                if usage_after_warmup is None:
                    usage_after_warmup = usage()
        drained = drain_node(executor, faults)
        end_usage = usage()
        fault_report = faults.report(devices)
        stats = node.burst_stats()
        node_report = {
            'parameter_changes': dict(changes), 'burst_errors': node.burst_errors,
            'bad_inputs': node.bad_inputs, 'published': dict(node.published),
            'overruns_total': stats.overruns, 'skipped_ticks': stats.skipped,
            'inputs': sorted(node.runtime.inputs), 'rate_probe': probes}
        node.trigger_deactivate()
        node.trigger_cleanup()
        engine = None
        closed_usage = released_usage(devices, faults, tracker)
    finally:
        stop.set()
        try:
            sensor_counts = counts.get(timeout=10.0)
        except Exception:  # noqa: B902 - the sensor process died: report without its counts
            sensor_counts = {}
        sensors.join(10.0)
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    node_report['sensor_messages'] = sensor_counts
    report = {
        'part': 'node', 'brain': args.brain, 'brain_summary': brain_summary,
        'bursts': layout.bursts, 'warmup_bursts': layout.warmup, 'drain_bursts': drained,
        'rate_hz': rate, 'rate_source': 'highest burst_rate_hz held in the probe',
        'transport': 'DDS (sensor publishers in a second process), parameters set in-process',
        'columns': ['burst', 'engine'], 'windows': windows.summaries, 'faults': fault_report,
        'engine_log_tail': list(log_tail), 'node': node_report,
        'usage': {'start': start_usage, 'after_warmup': usage_after_warmup, 'end': end_usage,
                  'after_close': closed_usage},
        'elapsed_s': time.monotonic() - started}
    report['verdicts'] = verdicts(report)
    return report


def spin_for(executor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)


def drain_node(executor, tracker: FaultTracker, limit_s: float = 30.0) -> int:
    """Keep the node bursting while a fallback is still open, up to `limit_s`."""
    start = tracker.clock.bursts
    end = time.monotonic() + limit_s
    while tracker.in_fallback and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)
        tracker.check()
    return tracker.clock.bursts - start


def probe_node_rate(node, executor, clock: Clock, seconds: float, rate_hz: List[float]
                    ) -> Tuple[float, Dict[str, str]]:
    """Run the node at rising burst_rate_hz; return the highest it holds and each result.

    Held: the achieved rate is >= 95% of the rate and <= 1% of the bursts overran (the
    node's own count).
    """
    from rclpy.parameter import Parameter
    held, results = float(NODE_RATES_HZ[0]), {}
    for rate in NODE_RATES_HZ:
        node.set_parameters([Parameter('burst_rate_hz', value=float(rate))])
        rate_hz[0] = float(rate)
        spin_for(executor, 0.2)
        before, stats = clock.bursts, node.burst_stats()
        t0 = time.monotonic()
        spin_for(executor, seconds)
        bursts = clock.bursts - before
        achieved = bursts / (time.monotonic() - t0)
        overruns = node.burst_stats().overruns - stats.overruns
        results[f'{rate:g}'] = f'{achieved:.1f} Hz, {overruns} overruns'
        if achieved < HELD_SHARE * rate or overruns > OVERRUN_SHARE * max(1, bursts):
            break
        held = float(rate)
    return held, results


# ---------------------------------------------------------------- command line
def camera_size(text: str) -> Tuple[int, int]:
    width, height = (int(v) for v in text.lower().split('x'))
    return width, height


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--brain', choices=('essential', 'w1m'), default='essential',
                        help='essential: test/data/essential_genome.json; w1m: a synthetic '
                        '~1M-neuron brain with fan-out 10 (default essential)')
    common.add_argument('--bursts', type=int, default=None,
                        help='bursts after the warm-up (default: engine 1,000,000, '
                        'node 100,000)')
    common.add_argument('--windows', type=int, default=10, help='windows (default 10)')
    common.add_argument('--warmup', type=int, default=0,
                        help='warm-up bursts, with one fault cycle (default: bursts/50, '
                        'at least 1000)')
    common.add_argument('--neurons', type=int, default=1_000_000,
                        help='neurons of the w1m brain (default 1,000,000)')
    common.add_argument('--device-timeout-ms', type=float, default=250.0,
                        help='HybridEngine device timeout (default 250)')
    common.add_argument('--hang-ms', type=float, default=None,
                        help='a hung inference lasts this long (default 3 x the timeout)')
    common.add_argument('--reconnect-s', type=float, default=1.0,
                        help='a disconnected device refuses to reopen this long (default 1)')
    common.add_argument('--latency-ms', type=float, default=0.0,
                        help='emulated Hailo round-trip latency (default 0)')
    common.add_argument('--probe-s', type=float, default=2.0,
                        help='seconds of each rate probe (default 2)')
    common.add_argument('--no-faults', action='store_true', help='inject no device faults')
    common.add_argument('--json', action='store_true',
                        help='print the report as JSON (progress stays on stderr)')
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parts = parser.add_subparsers(dest='part', required=True)
    engine = parts.add_parser('engine', parents=[common],
                              help='the HybridEngine alone (default 1,000,000 bursts)')
    engine.add_argument('--rate', default='auto',
                        help='bursts/s: auto (1/(1.2 x probed p99)), max (back to back) or '
                        'a number (default auto)')
    engine.add_argument('--density', type=float, default=0.05,
                        help='share of each input area injected per burst (default 0.05)')
    engine.add_argument('--control-bursts', type=int, default=0, metavar='N',
                        help='after each window, time N bursts of a fresh CPU engine (the '
                        "host's speed): drift is then also judged against it (default 0: off)")
    node = parts.add_parser('node', parents=[common],
                            help='the lifecycle node over DDS (default 100,000 bursts)')
    node.add_argument('--camera-size', type=camera_size, default=(320, 240),
                      help='camera frame WxH (default 320x240)')
    node.add_argument('--camera-hz', type=float, default=30.0, help='default 30')
    node.add_argument('--imu-hz', type=float, default=100.0, help='default 100')
    node.add_argument('--scan-hz', type=float, default=10.0, help='default 10')
    node.add_argument('--joints-hz', type=float, default=50.0, help='default 50')
    node.add_argument('--domain-id', type=int, default=None,
                      help='ROS_DOMAIN_ID (default 10 + pid %% 90)')
    args = parser.parse_args(argv)
    if args.bursts is None:
        args.bursts = DEFAULT_BURSTS[args.part]
    if args.hang_ms is None:
        args.hang_ms = 3.0 * args.device_timeout_ms
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run one soak and print its numbers; 0 whatever the verdicts."""
    args = parse_args(argv)
    report = run_engine(args) if args.part == 'engine' else run_node(args)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print_report(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
