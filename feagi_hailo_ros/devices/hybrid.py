"""HybridEngine: a CPU partition on the fast engine plus device partitions, one per device.

A device partition's work for burst b needs only burst b-1's fired set, so its worker thread
starts it as soon as that set is known (end of burst b-1, `prefetch`): it builds the input
grids (numba, GIL released) and runs the device. Meanwhile the main thread propagates and
updates the CPU partition; then each target's dense output grid goes into the neuron inputs
in one vectorised pass (`BurstEngine.add_current_grid`) before the host neuron update of
that target (the neuron state lives on the host, DESIGN §6). The worker updates about half
of the targets itself (`share_updates`, its own engine slot) while the main thread updates
the rest. While the main thread has been waiting for a device (a device latency), the next
burst's input grids are filled area by area as the areas are updated (`fill_ahead`), so
the next inference starts the moment the burst ends. FEAGI's one-burst delay makes all of
this exact. A device error or timeout is recorded, the partition runs on the CPU from that
very burst (nothing is lost: the state is on the host; a late job never writes), and the
device is reopened in the background after `retry_bursts`, doubling the wait after each
failed reopen (up to MAX_RETRY_DOUBLINGS). A device that cannot be opened at start (in use by
another process, say) starts the same way, on the CPU; a missing library, chip or HEF
(DeviceUnavailable) is an error at construction.
Cold start is not a fault: at open (and at each reopen) the device runs one inference on an
empty fired set, which compiles and loads whatever is lazy (numba kernels, the emulator's
graph, HailoRT's network) under its own, longer limit (`startup_timeout_s`), reported as
start-up time; the first burst job after an open gets that limit too. Device results are
checked, not trusted: an output grid of the wrong shape or dtype, with NaN or infinity, or
outside its quantised range is a fault like a timeout.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceUnavailable
from feagi_hailo_ros.devices.export import export_partition, ExportedPartition
from feagi_hailo_ros.devices.host_io import InputGrids, PartitionIO
from feagi_hailo_ros.devices.operators import pair_synapses
from feagi_hailo_ros.devices.planner import DevicePartition, Plan, plan_partitions
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import Synapses
import numpy as np


def restrict_synapses(syn: Synapses, keep: np.ndarray) -> Synapses:
    """The synapses where `keep` (bool[S]) is set, CSR by source, order kept."""
    csum = np.zeros(keep.size + 1, dtype=np.int64)
    np.cumsum(keep, out=csum[1:])
    indptr = csum[np.asarray(syn.indptr, dtype=np.int64)]
    return Synapses(indptr, syn.target[keep], syn.weight[keep], syn.neuron_area)


def source_ranges(connectome, syn: Synapses) -> List[Tuple[int, int]]:
    """The neuron ranges of the areas that have at least one synapse in `syn` (merged)."""
    starts = np.asarray(connectome.area_start, dtype=np.int64)
    per_area = np.diff(np.asarray(syn.indptr, dtype=np.int64)[starts])
    return _merge_ranges([(int(starts[a]), int(starts[a + 1]))
                          for a in np.flatnonzero(per_area)])


STARTUP_TIMEOUT_S = 60.0      # least limit of a device's first inference after an open
MAX_RETRY_DOUBLINGS = 6       # failed reopens double the wait up to 2**6 x retry_bursts
SHARE_WAIT_S = 0.5            # a worker waits this long for its burst to share updates
SHARE_MIN_NEURONS = 100_000   # a device partition's targets worth sharing the updates of
WAIT_EMA_ALPHA = 0.1          # smoothing of the main thread's wait for the devices
FILL_AHEAD_WAIT_S = 1e-4      # fill ahead while that wait is above this (0.1 ms)


def _second_half(targets: List[dict]) -> Tuple[int, ...]:
    """Indices of the last targets, holding about half of the neurons (the worker's share)."""
    if len(targets) < 2:
        return ()
    sizes = np.array([t['hi'] - t['lo'] for t in targets], dtype=np.int64)
    before = np.cumsum(sizes) - sizes
    split = 1 + int(np.argmin(np.abs(before[1:] - sizes.sum() / 2)))
    return tuple(range(split, len(targets)))


def _finish(job: '_Job', timeout_s: float) -> None:
    """Wait for a job's worker share of the updates (host CPU work); re-raise its error."""
    try:
        job.future.result(timeout=max(10.0, 10 * timeout_s))
    except FutureTimeout:
        raise RuntimeError('a device worker did not finish its share of the neuron '
                           'updates') from None


def _merge_ranges(ranges: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    out: List[List[int]] = []
    for lo, hi in sorted(ranges):
        if hi <= lo:
            continue
        if out and out[-1][1] == lo:
            out[-1][1] = hi
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


class _Job:
    """One device job: a fired set's inference, then the worker's share of the updates.

    `ready` is set when `grids` (or `error`) are there. The worker's share waits for
    `begun` (set once the burst this job belongs to has begun) and runs only if the worker
    `claim`s it ('running' -> 'applying' under `lock`). The main thread claims it instead
    ('main') when it finishes its own share first or the worker stopped waiting for the
    burst ('declined', after SHARE_WAIT_S: bursts far apart, nobody left blocked); it moves
    it to 'abandoned' on a timeout or when the job is dropped, so a late job never writes.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = 'running'
        self.ready = threading.Event()
        self.begun = threading.Event()
        self.grids: Optional[list] = None
        self.error: Optional[BaseException] = None
        self.timing: Dict[str, float] = {}
        self.future: Optional[Future] = None

    def claim(self, who: str) -> bool:
        """Move 'running' to `who` (under the lock); False when someone else has it."""
        with self.lock:
            if self.state != 'running':
                return False
            self.state = who
            return True

    def abandon(self) -> bool:
        """Stop the worker's share unless it has started; return True if it never will."""
        self.claim('abandoned')
        self.begun.set()
        return self.state != 'applying'


@dataclass
class _Runtime:
    """One device partition at run time."""

    part: DevicePartition
    exported: ExportedPartition
    device: Device
    io: PartitionIO
    ranges: List[Tuple[int, int]]
    full_syn: Synapses
    residual_syn: Optional[Synapses]
    full_sources: List[Tuple[int, int]]        # areas with synapses in full_syn
    residual_sources: List[Tuple[int, int]]
    executor: ThreadPoolExecutor
    slot: int = 1                          # the engine update slot of this worker
    worker_share: Tuple[int, ...] = ()     # targets the worker updates itself
    fill_buffer: int = 0                   # input grid set filled during this burst
    valid_buffer: Optional[int] = 1        # grid set complete for the previous fired set
    filling: bool = False                  # this burst fills `fill_buffer`
    filled: Optional[list] = None          # sources filled this burst (per call)
    full_fills: int = 0                    # jobs that filled their inputs themselves
    mode: str = 'device'
    pending: Optional[_Job] = None
    busy: Optional[Future] = None          # a job that timed out and may still run
    reopening: Optional[Future] = None
    retry_at: int = 0
    failed_reopens: int = 0                # in a row: each doubles the wait (back-off)
    first_job: bool = True                 # the next job is the first after an open
    startup_s: Optional[float] = None      # open + upload + first inference, last open
    last_fault: str = ''


class HybridEngine:
    """Run a brain with some areas integrated by devices; API of BurstEngine (burst, inject)."""

    def __init__(self, connectome, device_factory: Callable[[DevicePartition], Device],
                 partition='auto', devices: int = 1, timeout_s: float = 1.0,
                 retry_bursts: int = 50, plan: Optional[Plan] = None,
                 exported: Optional[Dict[str, ExportedPartition]] = None,
                 log: Optional[Callable[[str], None]] = None, prefetch: bool = True,
                 share_updates: Optional[bool] = None, fill_ahead: Optional[bool] = None,
                 startup_timeout_s: Optional[float] = None):
        self.connectome = connectome
        self.prefetch = bool(prefetch)
        self.plan = plan or plan_partitions(connectome, partition, devices)
        if share_updates is None:          # worth a thread handoff for large partitions only
            share_updates = (os.cpu_count() or 1) > 1 and all(
                sum(hi - lo for lo, hi in p.ranges(connectome)) >= SHARE_MIN_NEURONS
                for p in self.plan.partitions)
        self.share_updates = bool(share_updates)
        # None: fill the next inputs during the burst only while the device is the
        # bottleneck (the main thread waited for it lately), where it shortens the wait
        self.fill_ahead = fill_ahead
        self._wait_ema = 0.0
        # slot 0: the main thread; slot 1 + k: device k's worker (its share of the updates)
        self.engine = BurstEngine(connectome, update_slots=1 + len(self.plan.partitions))
        self.timeout_s = float(timeout_s)
        # the first inference after an open compiles and loads: seconds on a cold cache
        self.startup_timeout_s = float(startup_timeout_s if startup_timeout_s is not None
                                       else max(STARTUP_TIMEOUT_S, 10 * self.timeout_s))
        self.retry_bursts = int(retry_bursts)
        self.log = log or (lambda message: None)
        self.faults: List[dict] = []
        self.last_timing: Dict[str, float] = {}
        syn = self.engine.model.synapses
        target_area = np.asarray(connectome.neuron_area)[np.asarray(syn.target, np.int64)]
        on_device = np.zeros(len(connectome.areas), dtype=bool)
        self.runtimes: List[_Runtime] = []
        pairs = pair_synapses(connectome) if self.plan.partitions else {}
        try:
            for part in self.plan.partitions:
                on_device[part.targets] = True
                exp = (exported or {}).get(part.name) or export_partition(connectome, part,
                                                                          pairs)
                self.runtimes.append(self._start(part, exp, device_factory(part),
                                                 target_area))
        except BaseException:
            self.close()
            raise
        self.cpu_ranges = _merge_ranges(
            [(int(connectome.area_start[b]), int(connectome.area_start[b + 1]))
             for b in self.plan.cpu_targets])
        self.cpu_syn = (restrict_synapses(syn, ~on_device[target_area])
                        if self.runtimes else syn)
        self.cpu_sources = source_ranges(connectome, self.cpu_syn)

    def _start(self, part: DevicePartition, exp: ExportedPartition, device: Device,
               target_area: np.ndarray) -> _Runtime:
        c = self.connectome
        syn = self.engine.model.synapses
        mine = np.zeros(len(c.areas), dtype=bool)
        mine[part.targets] = True
        full = restrict_synapses(syn, mine[target_area])
        residual = None
        if part.residual:
            keep = np.zeros(target_area.size, dtype=bool)
            indptr = np.asarray(syn.indptr, dtype=np.int64)
            for op in part.residual:
                s0 = int(indptr[c.area_start[op.src]])
                s1 = int(indptr[c.area_start[op.src + 1]])
                keep[s0:s1] |= target_area[s0:s1] == op.dst
            residual = restrict_synapses(syn, keep)
        ranges = part.ranges(c)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f'hybrid-{part.name}')
        io = PartitionIO(c, exp.manifest, buffers=2)
        rt = _Runtime(part, exp, device, io, ranges, full, residual, source_ranges(c, full),
                      source_ranges(c, residual) if residual is not None else [], executor,
                      slot=1 + len(self.runtimes),
                      worker_share=_second_half(io.targets) if self.share_updates else ())
        started = executor.submit(self._open_device, rt)
        try:
            rt.startup_s = started.result(timeout=self.startup_timeout_s)
        except DeviceUnavailable:
            executor.shutdown(wait=False)
            raise                       # nothing to retry: library, chip or HEF missing
        except FutureTimeout:
            rt.busy = started
            self._fault(rt, DeviceError(
                f'open, upload and first inference took over {self.startup_timeout_s:g} s',
                reason=f'start-up timeout: not ready within {self.startup_timeout_s:g} s'),
                'open failed')
        except Exception as exc:  # noqa: BLE001 - e.g. chip in use: start on the CPU
            self._fault(rt, exc, 'open failed')
        else:
            self.log(f'{part.name}: {device.kind} ready in {rt.startup_s:.2f} s (open, upload '
                     'and a first inference: compiling and loading happen here, before any '
                     'burst deadline)')
        return rt

    def _open_device(self, rt: _Runtime) -> float:
        """Worker: open the device, upload the partition, run one checked inference.

        The inference (an empty fired set) compiles and loads whatever is lazy on the host
        and on the device, so that no burst pays for it. Returns the seconds it all took.
        """
        started = time.perf_counter()
        rt.device.open()
        rt.device.upload(rt.exported)
        empty = np.zeros(0, np.int64)
        grids = rt.io.inputs(empty, np.zeros(0, np.float32), 0)
        outputs = rt.device.warm_up(grids)
        for target in rt.io.targets:
            rt.io.target_grid(outputs, target)
        rt.first_job = True
        return time.perf_counter() - started

    # ---- the BurstEngine API -----------------------------------------------------------
    def inject(self, area_id: str, x, y, z, potential) -> None:
        """Queue injections into voxels of an area (see BurstEngine.inject)."""
        self.engine.inject(area_id, x, y, z, potential)

    def inject_indices(self, indices, potentials) -> None:
        """Queue injections by neuron index (see BurstEngine.inject_indices)."""
        self.engine.inject_indices(indices, potentials)

    @property
    def model(self):
        """Return the engine model of the whole brain (layout, synapses)."""
        return self.engine.model

    @property
    def burst_count(self) -> int:
        """Bursts run so far."""
        return self.engine.burst_count

    @property
    def fired(self) -> np.ndarray:
        """The last burst's fired indices."""
        return self.engine.fired

    def fired_coords(self):
        """The last burst's fired (area ids, x, y, z, potential)."""
        return self.engine.fired_coords()

    @property
    def state(self):
        """Return a copy of the whole brain's neuron state; it lives on the host."""
        return self.engine.state

    @state.setter
    def state(self, new) -> None:
        self._drop_prefetched()
        self.engine.state = new

    def checkpoint(self, path) -> None:
        """Write the state (see BurstEngine.checkpoint)."""
        self.engine.checkpoint(path)

    def restore(self, path) -> None:
        """Read the state (see BurstEngine.restore)."""
        self._drop_prefetched()
        self.engine.restore(path)

    # ---- one burst ---------------------------------------------------------------------
    def _device_job(self, rt: _Runtime, job: _Job, grids: Optional[InputGrids],
                    full: Optional[tuple]) -> None:
        """Worker: inference on the input grids, checked output grids; then its share.

        `grids` were filled during the previous burst; otherwise `full` = (fired,
        potentials, buffer) and the worker fills that grid set first. A device error or a
        malformed output goes to `job.error` (a fault in the main thread). The share of
        the updates (`rt.worker_share`) waits until the burst has begun.
        """
        try:
            t0 = time.perf_counter()
            if grids is None:
                grids = rt.io.inputs(*full)
            t1 = time.perf_counter()
            outputs = rt.device.infer(grids)
            t2 = time.perf_counter()
            job.grids = [rt.io.target_grid(outputs, target) for target in rt.io.targets]
            job.timing = {'transfer_s': t1 - t0, 'device_s': t2 - t1}
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            job.error = exc
        finally:
            job.ready.set()
        if job.error is not None or not rt.worker_share:
            return
        if not job.begun.wait(SHARE_WAIT_S):
            job.claim('declined')
            return
        if not job.claim('applying'):
            return
        t3 = time.perf_counter()
        self._apply(rt, job.grids, rt.worker_share, rt.slot)
        job.timing['worker_targets_s'] = time.perf_counter() - t3

    def _filling_ahead(self) -> bool:
        """Whether this burst fills the next inputs as areas are updated (see `_update`).

        That takes the fill out of the device's chain (inputs ready at the end of the
        burst) but adds it to the update phase: it pays while the main thread waits for
        the device (a device latency), not when the device is done before it is needed.
        """
        if self.fill_ahead is not None:
            return self.fill_ahead
        return self._wait_ema > FILL_AHEAD_WAIT_S

    def _update(self, lo: int, hi: int, slot: int = 0) -> None:
        """Update [lo, hi) and fill its fired sources into the next burst's device inputs.

        The device partitions' input grids for the next burst are built area by area as
        the areas are updated (in whichever thread), so they are complete when the burst
        ends and the next inference starts at once.
        """
        fired, potentials = self.engine.update(lo, hi, slot=slot, with_potentials=True)
        for rt in self.runtimes:
            if rt.filling:
                rt.filled.append(rt.io.fill_range(rt.fill_buffer, lo, hi, fired, potentials))

    def _apply(self, rt: _Runtime, grids: list, which, slot: int = 0) -> None:
        """Add targets' device currents (dense grids) and update them (host rules).

        `which` are indices into the partition's targets. Synapses of the partition's
        pairs that stay on the CPU (residual) are propagated into the range first; the
        grid then goes in with `add_current_grid` (after this burst's injections; reached
        voxels with a zero net current become candidates).
        """
        eng = self.engine
        for k in which:
            lo, hi = rt.io.targets[k]['lo'], rt.io.targets[k]['hi']
            if rt.residual_syn is not None:
                eng.propagate(lo, hi, rt.residual_syn, slot=slot, sources=rt.residual_sources)
            eng.add_current_grid(*grids[k])
            self._update(lo, hi, slot)

    def _collect(self, rt: _Runtime) -> Tuple[Optional[list], float]:
        """Wait for the pending job's grids; return (grids, seconds waited).

        (None, waited) on a device error or a timeout, recorded as a fault; the job is
        then abandoned (its worker share never runs).
        """
        job = rt.pending
        t_wait = time.perf_counter()
        first, rt.first_job = rt.first_job, False
        limit_s = self.startup_timeout_s if first else self.timeout_s
        if not job.ready.wait(limit_s) and job.abandon():
            rt.busy = job.future
            limit_ms = limit_s * 1000
            self._fault(rt, DeviceError(
                f'no result within {limit_ms:.0f} ms',
                reason=f'timeout: no result within {limit_ms:.0f} ms'), 'timeout')
            return None, time.perf_counter() - t_wait
        job.ready.wait()              # not abandoned: the worker is past the inference
        waited = time.perf_counter() - t_wait
        if job.error is not None:
            job.abandon()
            self._fault(rt, job.error, 'error')
            return None, waited
        if first and waited > self.timeout_s:
            self.log(f'{rt.part.name}: first burst inference after the open took '
                     f'{waited * 1000:.0f} ms (start-up, not a fault)')
        return job.grids, waited

    def _reopen(self, rt: _Runtime) -> None:
        rt.device.close()
        rt.startup_s = self._open_device(rt)

    def _fault(self, rt: _Runtime, exc: BaseException, what: str) -> None:
        reason = getattr(exc, 'reason', '') or str(exc) or type(exc).__name__
        record = {'burst': self.engine.burst_count, 'partition': rt.part.name,
                  'device': rt.device.kind, 'what': what, 'reason': reason}
        self.faults.append(record)
        if what == 'reopen failed':
            rt.failed_reopens += 1
        wait = self.retry_bursts * 2 ** min(rt.failed_reopens, MAX_RETRY_DOUBLINGS)
        again = f' ({rt.failed_reopens} failed reopens in a row)' if rt.failed_reopens else ''
        self.log(f'{rt.part.name}: {what} at burst {record["burst"]}: {reason}; '
                 f'partition moved to the CPU, retry in {wait} bursts{again}')
        rt.mode = 'cpu'
        rt.last_fault = f'{what} at burst {record["burst"]}: {reason}'
        rt.retry_at = self.engine.burst_count + wait

    def _maybe_reopen(self, rt: _Runtime) -> None:
        if rt.reopening is not None:
            if not rt.reopening.done():
                return
            exc = rt.reopening.exception()
            rt.reopening = None
            if exc is None:
                rt.mode = 'device'
                rt.failed_reopens = 0
                self.log(f'{rt.part.name}: device back after reopen at burst '
                         f'{self.engine.burst_count} (ready in {rt.startup_s:.2f} s)')
                return
            self._fault(rt, exc, 'reopen failed')
            return
        busy = rt.busy is not None and not rt.busy.done()
        if self.engine.burst_count >= rt.retry_at and not busy:
            rt.busy = None
            rt.reopening = rt.executor.submit(self._reopen, rt)

    def _launch(self, rt: _Runtime) -> None:
        """Submit the device job for the engine's previous fired set (its only input).

        Its input grids were filled during the burst that fired it when that burst filled
        them all (`valid_buffer`); otherwise the worker fills the grid set not being filled.
        """
        job = _Job()
        if rt.valid_buffer is not None:
            grids, full = rt.io.grids(rt.valid_buffer), None
        else:
            fired, fired_v = (a.copy() for a in self.engine.previous_fired())
            grids, full = None, (fired, fired_v, 1 - rt.fill_buffer)
            rt.full_fills += 1
        job.future = rt.executor.submit(self._device_job, rt, job, grids, full)
        rt.pending = job

    def _drop_prefetched(self) -> None:
        """Forget device jobs started for a fired set that is no longer the previous one.

        A worker share already applying (a burst that raised) is waited for, so that no
        thread writes into the engine after this returns.
        """
        for rt in getattr(self, 'runtimes', []):
            job, rt.pending = rt.pending, None
            rt.valid_buffer = None
            if job is not None and not job.abandon():
                try:
                    _finish(job, self.timeout_s)
                except Exception:  # noqa: BLE001 - the burst that started it has failed
                    pass

    def burst(self) -> np.ndarray:
        """Run one burst over all partitions; return the fired indices (ascending view).

        With `prefetch`, the device jobs of the next burst start as soon as this burst's
        fired set is known (they need nothing else), so the device works while the caller
        does its I/O between bursts; `state = ...` and `restore` drop them.
        """
        eng = self.engine
        t_start = time.perf_counter()
        eng.begin_burst()
        try:
            for rt in self.runtimes:
                if rt.mode == 'cpu':
                    rt.pending = None
                    self._maybe_reopen(rt)
                rt.filling, rt.filled = rt.mode == 'device' and self._filling_ahead(), []
                if rt.mode == 'device' and rt.pending is None:
                    self._launch(rt)
                if rt.pending is not None:
                    rt.pending.begun.set()          # its worker share may start
            t0 = time.perf_counter()
            if self.cpu_ranges:
                eng.propagate(0, eng.n_neurons, self.cpu_syn, sources=self.cpu_sources)
                for lo, hi in self.cpu_ranges:
                    self._update(lo, hi)
            t_cpu = time.perf_counter() - t0
            wait_s = targets_s = 0.0
            sharing: List[Tuple[_Runtime, _Job]] = []
            done_jobs: List[_Job] = []
            for rt in self.runtimes:
                grids = None
                if rt.pending is not None:
                    grids, waited = self._collect(rt)
                    wait_s += waited
                    done_jobs.append(rt.pending)
                job, rt.pending = rt.pending, None
                if grids is not None:
                    t_apply = time.perf_counter()
                    mine = [k for k in range(len(grids)) if k not in rt.worker_share]
                    self._apply(rt, grids, mine)
                    targets_s += time.perf_counter() - t_apply
                    if rt.worker_share:
                        sharing.append((rt, job))
                else:
                    for lo, hi in rt.ranges:
                        eng.propagate(lo, hi, rt.full_syn, sources=rt.full_sources)
                        self._update(lo, hi)
            for rt, job in sharing:
                if job.claim('main') or job.state == 'declined':
                    t_apply = time.perf_counter()      # the worker has not started it
                    self._apply(rt, job.grids, rt.worker_share)
                    targets_s += time.perf_counter() - t_apply
                else:
                    t_join = time.perf_counter()
                    _finish(job, self.timeout_s)
                    wait_s += time.perf_counter() - t_join
            result = eng.end_burst()
            for rt in self.runtimes:
                complete = rt.filling and sum(rt.filled) == len(rt.io.sources)
                rt.valid_buffer = rt.fill_buffer if complete else None
                rt.fill_buffer = 1 - rt.fill_buffer
            if self.prefetch:
                for rt in self.runtimes:
                    if rt.mode == 'device':
                        self._launch(rt)
        except BaseException:
            eng.abort_burst()
            self._drop_prefetched()
            raise
        total = time.perf_counter() - t_start
        timing = {'total_s': total, 'cpu_partition_s': t_cpu, 'wait_s': wait_s,
                  'transfer_s': 0.0, 'device_s': 0.0, 'device_targets_s': targets_s,
                  'worker_targets_s': 0.0, 'host_s': total - wait_s}
        for job in done_jobs:
            for key, value in job.timing.items():
                timing[key] += value
        self.last_timing = timing
        self._wait_ema += WAIT_EMA_ALPHA * (wait_s - self._wait_ema)
        return result

    # ---- health ------------------------------------------------------------------------
    def describe(self) -> List[dict]:
        """Per device partition: mode (device/cpu), device health, faults so far."""
        out = []
        for rt in self.runtimes:
            try:
                health = rt.device.describe().as_dict()
            except Exception as exc:  # noqa: BLE001 - telemetry must not stop bursting
                health = {'status': f'describe failed: {exc}'}
            out.append({'partition': rt.part.name, 'mode': rt.mode,
                        'targets': [self.connectome.areas[t].id for t in rt.part.targets],
                        'exact': rt.exported.manifest['exact'], 'device': health,
                        'faults': sum(1 for f in self.faults if f['partition'] == rt.part.name),
                        'last_fault': rt.last_fault, 'failed_reopens': rt.failed_reopens,
                        'retry_in_bursts': (max(0, rt.retry_at - self.engine.burst_count)
                                            if rt.mode == 'cpu' else None),
                        'startup_s': rt.startup_s})
        return out

    def close(self) -> None:
        """Close the devices and stop the worker threads (a hung job is abandoned).

        A prefetched job not yet started is cancelled; one already running finishes.
        """
        self._drop_prefetched()
        for rt in getattr(self, 'runtimes', []):
            rt.executor.shutdown(wait=False, cancel_futures=True)
            try:
                rt.device.close()
            except Exception:  # noqa: BLE001 - closing must not raise
                pass
        self.runtimes = []
        self.engine.close()

    def __enter__(self) -> 'HybridEngine':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
