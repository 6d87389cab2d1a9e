"""One device partition at run time: its device, buffers and worker, and its fault policy.

A runner opens its device in its worker thread with one inference on an empty fired set,
which compiles and loads whatever is lazy (numba kernels, the emulator's graph, HailoRT's
network) under the start-up limit, reported as start-up time, not a fault; the first burst
job after an open gets that limit too. A device error, a timeout or a bad result sends the
partition to the CPU (`mode`); the device is reopened in the background after
`retry_bursts`, the wait doubling after each failed reopen (up to MAX_RETRY_DOUBLINGS).
"""

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
import time
from typing import Callable, Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceUnavailable
from feagi_hailo_ros.devices.export import ExportedPartition
from feagi_hailo_ros.devices.host_io import InputGrids, PartitionIO
from feagi_hailo_ros.devices.planner import DevicePartition
from feagi_hailo_ros.engine.hybrid.jobs import DeviceJob, JobState
from feagi_hailo_ros.engine.hybrid.ranges import restrict_synapses, source_ranges
from feagi_hailo_ros.engine.model import Synapses
import numpy as np

STARTUP_TIMEOUT_S = 60.0      # least limit of a device's first inference after an open
MAX_RETRY_DOUBLINGS = 6       # failed reopens double the wait up to 2**6 x retry_bursts
SHARE_WAIT_S = 0.5            # a worker waits this long for its burst to share updates


@dataclass(frozen=True)
class FaultPolicy:
    """Limits of a device partition: a burst's inference, the first after an open, retries."""

    timeout_s: float = 1.0
    startup_timeout_s: float = STARTUP_TIMEOUT_S
    retry_bursts: int = 50

    @staticmethod
    def make(timeout_s: float, retry_bursts: int,
             startup_timeout_s: Optional[float] = None) -> 'FaultPolicy':
        """The policy with the start-up limit max(STARTUP_TIMEOUT_S, 10 x timeout) unless given."""
        timeout_s = float(timeout_s)
        startup = (float(startup_timeout_s) if startup_timeout_s is not None
                   else max(STARTUP_TIMEOUT_S, 10 * timeout_s))
        return FaultPolicy(timeout_s, startup, int(retry_bursts))


def worker_share(targets: List[dict]) -> Tuple[int, ...]:
    """Indices of the last targets, holding about half of the neurons (the worker's share)."""
    if len(targets) < 2:
        return ()
    sizes = np.array([t['hi'] - t['lo'] for t in targets], dtype=np.int64)
    before = np.cumsum(sizes) - sizes
    split = 1 + int(np.argmin(np.abs(before[1:] - sizes.sum() / 2)))
    return tuple(range(split, len(targets)))


def _partition_synapses(connectome, syn: Synapses, part: DevicePartition,
                        target_area: np.ndarray) -> Tuple[Synapses, Optional[Synapses]]:
    """(all synapses into the partition's targets, those of its pairs kept on the CPU)."""
    mine = np.zeros(len(connectome.areas), dtype=bool)
    mine[part.targets] = True
    full = restrict_synapses(syn, mine[target_area])
    if not part.residual:
        return full, None
    keep = np.zeros(target_area.size, dtype=bool)
    indptr = np.asarray(syn.indptr, dtype=np.int64)
    for op in part.residual:
        s0 = int(indptr[connectome.area_start[op.src]])
        s1 = int(indptr[connectome.area_start[op.src + 1]])
        keep[s0:s1] |= target_area[s0:s1] == op.dst
    return full, restrict_synapses(syn, keep)


class DeviceRunner:
    """A device partition: device, input/output buffers, worker thread, fault state."""

    def __init__(self, connectome, part: DevicePartition, exported: ExportedPartition,
                 device: Device, syn: Synapses, target_area: np.ndarray, slot: int,
                 share_updates: bool, policy: FaultPolicy, faults: list,
                 log: Callable[[str], None]):
        """Prepare the partition's synapse subsets and buffers (the device is not opened)."""
        self.part, self.exported, self.device = part, exported, device
        self.policy, self.faults, self.log = policy, faults, log
        self.ranges = part.ranges(connectome)
        self.full_syn, self.residual_syn = _partition_synapses(connectome, syn, part,
                                                               target_area)
        self.full_sources = source_ranges(connectome, self.full_syn)   # areas feeding it
        self.residual_sources = (source_ranges(connectome, self.residual_syn)
                                 if self.residual_syn is not None else [])
        self.io = PartitionIO(connectome, exported.manifest, buffers=2)
        self.slot = slot                                  # its engine update slot
        self.worker_share = worker_share(self.io.targets) if share_updates else ()
        self.executor = ThreadPoolExecutor(max_workers=1,
                                           thread_name_prefix=f'hybrid-{part.name}')
        self.fill_buffer = 0             # input grid set filled during this burst
        self.valid_buffer: Optional[int] = 1   # grid set complete for the previous fired set
        self.filling = False             # this burst fills `fill_buffer`
        self.filled: List[int] = []      # sources filled this burst (per call)
        self.full_fills = 0              # jobs that filled their inputs themselves
        self.mode = 'device'             # 'cpu' after a fault, until reopened
        self.placed = 'device'           # where the placement puts it (hybrid.placement)
        self.pending: Optional[DeviceJob] = None
        self.busy: Optional[Future] = None        # a job that timed out and may still run
        self.reopening: Optional[Future] = None
        self.retry_at = 0
        self.failed_reopens = 0                   # in a row: each doubles the wait
        self.first_job = True                     # the next job is the first after an open
        self.startup_s: Optional[float] = None    # open + upload + first inference
        self.last_fault = ''
        self._distrust_source: Optional[dict] = None   # the device's `distrusted` seen last
        self._distrusted_targets: Dict[int, str] = {}

    @property
    def active(self) -> bool:
        """Whether bursts go to the device: healthy and placed there."""
        return self.mode == 'device' and self.placed == 'device'

    @property
    def name(self) -> str:
        """Return the label of the partition: hailo0, emulator0, ..."""
        return self.part.name

    # ---- open, faults, reopen ---------------------------------------------------------
    def start(self, burst: int) -> None:
        """Open the device in the worker within the start-up limit; on failure, the CPU.

        DeviceUnavailable (library, chip or HEF missing or refused: nothing to retry) is
        raised, the device closed.
        """
        started = self.executor.submit(self._open_device)
        try:
            self.startup_s = started.result(timeout=self.policy.startup_timeout_s)
        except DeviceUnavailable:
            self.executor.shutdown(wait=False)
            self.device.close()
            raise
        except FutureTimeout:
            self.busy = started
            limit = self.policy.startup_timeout_s
            self.fault(DeviceError(
                f'open, upload and first inference took over {limit:g} s',
                reason=f'start-up timeout: not ready within {limit:g} s'), 'open failed', burst)
        except Exception as exc:  # noqa: BLE001 - e.g. chip in use: start on the CPU
            self.fault(exc, 'open failed', burst)
        else:
            self.log(f'{self.name}: {self.device.kind} ready in {self.startup_s:.2f} s (open, '
                     'upload and a first inference: compiling and loading happen here, '
                     'before any burst deadline)')

    def _open_device(self) -> float:
        """Worker: open the device, upload the partition, run one checked inference.

        The inference (an empty fired set) compiles and loads whatever is lazy on the host
        and on the device, so that no burst pays for it. Returns the seconds it all took.
        """
        started = time.perf_counter()
        self.device.open()
        self.device.upload(self.exported)
        empty = np.zeros(0, np.int64)
        grids = self.io.inputs(empty, np.zeros(0, np.float32), 0)
        self.io.checked_grids(self.device.warm_up(grids))
        self.first_job = True
        return time.perf_counter() - started

    def _reopen(self) -> None:
        self.device.close()
        self.startup_s = self._open_device()

    def fault(self, exc: BaseException, what: str, burst: int) -> None:
        """Record a fault and send the partition to the CPU until the next reopen."""
        reason = getattr(exc, 'reason', '') or str(exc) or type(exc).__name__
        self.faults.append({'burst': burst, 'partition': self.name,
                            'device': self.device.kind, 'what': what, 'reason': reason})
        if what == 'reopen failed':
            self.failed_reopens += 1
        wait = self.policy.retry_bursts * 2 ** min(self.failed_reopens, MAX_RETRY_DOUBLINGS)
        again = (f' ({self.failed_reopens} failed reopens in a row)' if self.failed_reopens
                 else '')
        self.log(f'{self.name}: {what} at burst {burst}: {reason}; partition moved to the '
                 f'CPU, retry in {wait} bursts{again}')
        self.mode = 'cpu'
        self.last_fault = f'{what} at burst {burst}: {reason}'
        self.retry_at = burst + wait

    def maybe_reopen(self, burst: int) -> None:
        """On the CPU: start a background reopen when due; take its result when done."""
        if self.reopening is not None:
            if not self.reopening.done():
                return
            exc = self.reopening.exception()
            self.reopening = None
            if exc is None:
                self.mode = 'device'
                self.failed_reopens = 0
                self.log(f'{self.name}: device back after reopen at burst {burst} '
                         f'(ready in {self.startup_s:.2f} s)')
                return
            self.fault(exc, 'reopen failed', burst)
            return
        busy = self.busy is not None and not self.busy.done()
        if burst >= self.retry_at and not busy:
            self.busy = None
            self.reopening = self.executor.submit(self._reopen)

    # ---- jobs -------------------------------------------------------------------------
    def launch(self, previous_fired: Callable[[], Tuple[np.ndarray, np.ndarray]],
               apply_share: Callable[['DeviceRunner', DeviceJob], None]) -> None:
        """Submit the device job for the engine's previous fired set (its only input).

        Its input grids were filled during the burst that fired it when that burst filled
        them all (`valid_buffer`); otherwise the worker fills the grid set not being filled.
        `apply_share(runner, job)` applies the worker's share of the updates.
        """
        job = DeviceJob()
        if self.valid_buffer is not None:
            grids, full = self.io.grids(self.valid_buffer), None
        else:
            fired, fired_v = (a.copy() for a in previous_fired())
            grids, full = None, (fired, fired_v, 1 - self.fill_buffer)
            self.full_fills += 1
        job.future = self.executor.submit(self._run_job, job, grids, full, apply_share)
        self.pending = job

    def _run_job(self, job: DeviceJob, grids: Optional[InputGrids], full: Optional[tuple],
                 apply_share: Callable[['DeviceRunner', DeviceJob], None]) -> None:
        """Worker: inference on the input grids, checked output grids; then its share.

        `grids` were filled during the previous burst; otherwise `full` = (fired,
        potentials, buffer) and the worker fills that grid set first. A device error or a
        bad result goes to `job.error` (a fault in the main thread). The share of the
        updates (`worker_share`) waits until the burst has begun.
        """
        try:
            t0 = time.perf_counter()
            if grids is None:
                grids = self.io.inputs(*full)
            t1 = time.perf_counter()
            outputs = self.device.infer(grids)
            t2 = time.perf_counter()
            job.grids = self.io.target_grids(outputs)
            job.timing = {'transfer_s': t1 - t0, 'device_s': t2 - t1}
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            job.error = exc
        finally:
            job.ready.set()
        if job.error is not None or not self.worker_share:
            return
        if not job.begun.wait(SHARE_WAIT_S):
            job.claim(JobState.DECLINED)
            return
        if not job.claim(JobState.WORKER):
            return
        t3 = time.perf_counter()
        apply_share(self, job)
        job.timing['worker_targets_s'] = time.perf_counter() - t3

    def collect(self, burst: int) -> Tuple[Optional[list], float]:
        """Wait for the pending job's grids; return (grids, seconds waited).

        (None, waited) on a device error or a timeout, recorded as a fault; the job is
        then abandoned (its worker share never runs). The first job after an open has the
        start-up limit; when it needs more than the burst limit, that is logged.
        """
        job = self.pending
        t_wait = time.perf_counter()
        first, self.first_job = self.first_job, False
        limit_s = self.policy.startup_timeout_s if first else self.policy.timeout_s
        if not job.ready.wait(limit_s) and job.abandon():
            self.busy = job.future
            limit_ms = limit_s * 1000
            self.fault(DeviceError(
                f'no result within {limit_ms:.0f} ms',
                reason=f'timeout: no result within {limit_ms:.0f} ms'), 'timeout', burst)
            return None, time.perf_counter() - t_wait
        job.ready.wait()              # not abandoned: the worker is past the inference
        waited = time.perf_counter() - t_wait
        if job.error is not None:
            job.abandon()
            self.fault(job.error, 'error', burst)
            return None, waited
        if first and waited > self.policy.timeout_s:
            self.log(f'{self.name}: first burst inference after the open took '
                     f'{waited * 1000:.0f} ms (start-up, not a fault)')
        return job.grids, waited

    def drop_pending(self) -> None:
        """Forget a job started for a fired set that is no longer the previous one.

        A worker share already applying (a burst that raised) is waited for, so that no
        thread writes into the engine after this returns.
        """
        job, self.pending = self.pending, None
        self.valid_buffer = None
        if job is not None and not job.abandon():
            try:
                job.finish(self.policy.timeout_s)
            except Exception:  # noqa: BLE001 - the burst that started it has failed
                pass

    def distrusted_targets(self) -> Dict[int, str]:
        """Targets (indices into io.targets) fed by an output the device got wrong: reason."""
        source = getattr(self.device, 'distrusted', None) or {}
        if source is not self._distrust_source:
            self._distrust_source = source
            self._distrusted_targets = {
                k: '; '.join(f'{n}: {source[n]}' for n in t['names'] if n in source)
                for k, t in enumerate(self.io.targets)
                if any(n in source for n in t['names'])}
        return self._distrusted_targets

    # ---- health -----------------------------------------------------------------------
    def describe(self, connectome, burst: int) -> dict:
        """Mode (device/cpu), device health, faults so far, start-up and retry state."""
        try:
            health = self.device.describe().as_dict()
        except Exception as exc:  # noqa: BLE001 - telemetry must not stop bursting
            health = {'status': f'describe failed: {exc}'}
        return {'partition': self.name, 'mode': self.mode,
                'targets': [connectome.areas[t].id for t in self.part.targets],
                'exact': self.exported.manifest['exact'], 'device': health,
                'faults': sum(1 for f in self.faults if f['partition'] == self.name),
                'last_fault': self.last_fault, 'failed_reopens': self.failed_reopens,
                'retry_in_bursts': (max(0, self.retry_at - burst) if self.mode == 'cpu'
                                    else None),
                'startup_s': self.startup_s,
                'host_targets': {
                    connectome.areas[self.io.targets[k]['area_index']].id: why
                    for k, why in self.distrusted_targets().items()}}

    def close(self) -> None:
        """Stop the worker (a prefetched job not started is cancelled) and close the device."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        try:
            self.device.close()
        except Exception:  # noqa: BLE001 - closing must not raise
            pass
