"""HybridEngine: a CPU partition on the fast engine plus device partitions, one per device.

A device partition's work for burst b needs only burst b-1's fired set, so its runner's
worker starts it as soon as that set is known (end of burst b-1, `prefetch`): it builds the
input grids (numba, GIL released) and runs the device. Meanwhile the main thread propagates
and updates the CPU partition; then each target's dense output grid goes into the neuron
inputs in one vectorised pass (`BurstEngine.add_current_grid`) before the host neuron
update of that target (the neuron state lives on the host). The worker updates about half
of the targets itself (`share_updates`, its own engine slot) while the main thread updates
the rest. While the main thread has been waiting for a device (a device latency), the next
burst's input grids are filled area by area as the areas are updated (`fill_ahead`), so the
next inference starts the moment the burst ends. FEAGI's one-burst delay makes all of this
exact. Synapses of plastic pairs (NEURON_MODEL §4b) stay on the host: they go into a
target range first, then its other host synapses, then the device currents (the CPU
engine's order); the engine learns at the end of the burst. A fault (error, timeout, bad
result) moves the partition to the CPU from that very burst, with nothing lost (the state
is on the host; a late job never writes); see runner.DeviceRunner for the open, start-up
and reopen policy. `placement` (hybrid.placement) may keep a healthy partition on the CPU
where the cost model predicts the device does not pay.
"""

from dataclasses import asdict, dataclass
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import Device
from feagi_hailo_ros.devices.cost_model import DEFAULT_PROFILE
from feagi_hailo_ros.devices.export import export_partition, ExportedPartition
from feagi_hailo_ros.devices.operators import pair_synapses
from feagi_hailo_ros.devices.planner import DevicePartition, Plan, plan_partitions
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid.jobs import DeviceJob, JobState
from feagi_hailo_ros.engine.hybrid.placement import Placement
from feagi_hailo_ros.engine.hybrid.ranges import merge_ranges, restrict_synapses, source_ranges
from feagi_hailo_ros.engine.hybrid.runner import DeviceRunner, FaultPolicy
import numpy as np

SHARE_MIN_NEURONS = 100_000   # a device partition's targets worth sharing the updates of
WAIT_EMA_ALPHA = 0.1          # smoothing of the main thread's wait for the devices
FILL_AHEAD_WAIT_S = 1e-4      # fill ahead while that wait is above this (0.1 ms)


@dataclass
class BurstTiming:
    """Where one hybrid burst's time went (seconds).

    host = total - wait (main thread busy); transfer and device run in the workers,
    overlapping the CPU partition; device_targets: the main thread's device targets (grids
    in and update), worker_targets: the workers' share of them.
    """

    total_s: float = 0.0
    cpu_partition_s: float = 0.0
    wait_s: float = 0.0
    transfer_s: float = 0.0
    device_s: float = 0.0
    device_targets_s: float = 0.0
    worker_targets_s: float = 0.0
    host_s: float = 0.0

    def as_dict(self) -> Dict[str, float]:
        """The timing as a plain dict (for reports)."""
        return asdict(self)


class HybridEngine:
    """Run a brain with some areas integrated by devices (the engine API of BurstEngine)."""

    def __init__(self, connectome, device_factory: Callable[[DevicePartition], Device],
                 partition='auto', devices: int = 1, timeout_s: float = 1.0,
                 retry_bursts: int = 50, plan: Optional[Plan] = None,
                 exported: Optional[Dict[str, ExportedPartition]] = None,
                 log: Optional[Callable[[str], None]] = None, prefetch: bool = True,
                 share_updates: Optional[bool] = None, fill_ahead: Optional[bool] = None,
                 startup_timeout_s: Optional[float] = None, placement: str = 'device',
                 profile: str = DEFAULT_PROFILE):
        """Plan (or take `plan`), export, open one device per partition; see the module."""
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
        self.policy = FaultPolicy.make(timeout_s, retry_bursts, startup_timeout_s)
        self.log = log or (lambda message: None)
        self.faults: List[dict] = []
        self.last_timing = BurstTiming()
        syn = self.engine.model.synapses
        target_area = np.asarray(connectome.neuron_area)[np.asarray(syn.target, np.int64)]
        on_device = np.zeros(len(connectome.areas), dtype=bool)
        self.runners: List[DeviceRunner] = []
        pairs = pair_synapses(connectome) if self.plan.partitions else {}
        try:
            for part in self.plan.partitions:
                on_device[part.targets] = True
                exp = (exported or {}).get(part.name) or export_partition(connectome, part,
                                                                          pairs)
                runner = DeviceRunner(connectome, part, exp, device_factory(part), syn,
                                      target_area, 1 + len(self.runners),
                                      self.share_updates, self.policy, self.faults, self.log)
                runner.start(self.engine.burst_count)
                self.runners.append(runner)
        except BaseException:
            self.close()
            raise
        self.cpu_ranges = merge_ranges(
            [(int(connectome.area_start[b]), int(connectome.area_start[b + 1]))
             for b in self.plan.cpu_targets])
        self.cpu_syn = (restrict_synapses(syn, ~on_device[target_area])
                        if self.runners else syn)
        self.cpu_sources = source_ranges(connectome, self.cpu_syn)
        plastic = self.engine.model.plastic
        # by-target index of the plastic synapses: which ranges receive some (None: none)
        self._plastic_in = (np.asarray(plastic.in_indptr, np.int64)
                            if plastic is not None and plastic.n_synapses else None)
        self.cpu_plastic_ranges = [r for r in self.cpu_ranges if self._receives_plastic(*r)]
        self.placement = Placement(connectome, self.runners, placement, profile,
                                   self.plan.operators, log=self.log)

    @property
    def timeout_s(self) -> float:
        """A burst's device limit (seconds)."""
        return self.policy.timeout_s

    @property
    def startup_timeout_s(self) -> float:
        """The limit of a device's first inference after an open (seconds)."""
        return self.policy.startup_timeout_s

    # ---- the engine API ----------------------------------------------------------------
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
    def plastic(self):
        """The learning state of plastic pairs (weights), None without; it lives on the host."""
        return self.engine.plastic

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
    def burst(self) -> np.ndarray:
        """Run one burst over all partitions; return the fired indices (ascending view).

        With `prefetch`, the device jobs of the next burst start as soon as this burst's
        fired set is known (they need nothing else), so the device works while the caller
        does its I/O between bursts; `state = ...` and `restore` drop them.
        """
        t_start = time.perf_counter()
        timing = BurstTiming()
        self.engine.begin_burst()
        try:
            self._start_device_jobs()
            t0 = time.perf_counter()
            self._run_cpu_partition()
            timing.cpu_partition_s = time.perf_counter() - t0
            sharing, applied = self._apply_device_results(timing)
            self._finish_worker_shares(sharing, timing)
            self._fault_bad_results(applied)
            result = self.engine.end_burst()
            self.placement.after_burst(result, self.engine.burst_count)
            self._rotate_input_buffers()
            if self.prefetch:
                self._start_next_jobs()
        except BaseException:
            self.engine.abort_burst()
            self._drop_prefetched()
            raise
        timing.total_s = time.perf_counter() - t_start
        timing.host_s = timing.total_s - timing.wait_s
        for _, job in applied:
            for key, value in job.timing.items():
                setattr(timing, key, getattr(timing, key) + value)
        self.last_timing = timing
        self._wait_ema += WAIT_EMA_ALPHA * (timing.wait_s - self._wait_ema)
        return result

    def _start_device_jobs(self) -> None:
        """Reopen partitions due for it; start the jobs not prefetched; let shares begin."""
        for runner in self.runners:
            if runner.mode == 'cpu':
                runner.pending = None
                runner.maybe_reopen(self.engine.burst_count)
            runner.filling, runner.filled = (runner.active
                                             and self._filling_ahead()), []
            if runner.active and runner.pending is None:
                runner.launch(self.engine.previous_fired, self._apply_worker_share)
            if runner.pending is not None:
                runner.pending.begun.set()          # its worker share may start

    def _receives_plastic(self, lo: int, hi: int) -> bool:
        """Whether a synapse of a plastic pair reaches a neuron in [lo, hi)."""
        return self._plastic_in is not None and self._plastic_in[hi] > self._plastic_in[lo]

    def _propagate_plastic(self, lo: int, hi: int, slot: int = 0) -> None:
        """Plastic pairs' spikes into [lo, hi), first of its synapses (as BurstEngine does)."""
        if self._receives_plastic(lo, hi):
            self.engine.propagate_plastic(lo, hi, slot)

    def _run_cpu_partition(self) -> None:
        """Propagate into and update the areas that stay on the CPU (plastic pairs first)."""
        if self.cpu_ranges:
            for lo, hi in self.cpu_plastic_ranges:
                self.engine.propagate_plastic(lo, hi)
            self.engine.propagate(0, self.engine.n_neurons, self.cpu_syn,
                                  sources=self.cpu_sources)
            for lo, hi in self.cpu_ranges:
                self._update(lo, hi)

    def _apply_device_results(self, timing: BurstTiming
                              ) -> Tuple[List[Tuple[DeviceRunner, DeviceJob]],
                                         List[Tuple[DeviceRunner, DeviceJob]]]:
        """Each device partition: its grids into the main thread's targets, or the CPU.

        Returns the jobs whose worker share is still to be joined, and the jobs collected.
        """
        sharing: List[Tuple[DeviceRunner, DeviceJob]] = []
        applied: List[Tuple[DeviceRunner, DeviceJob]] = []
        for runner in self.runners:
            grids = None
            if runner.pending is not None:
                grids, waited = runner.collect(self.engine.burst_count)
                timing.wait_s += waited
                applied.append((runner, runner.pending))
            job, runner.pending = runner.pending, None
            if grids is not None:
                t_apply = time.perf_counter()
                mine = [k for k in range(len(grids)) if k not in runner.worker_share]
                self._apply(runner, job, mine)
                timing.device_targets_s += time.perf_counter() - t_apply
                if runner.worker_share:
                    sharing.append((runner, job))
            else:                                   # fallen back: the CPU integrates it
                for lo, hi in runner.ranges:
                    self._propagate_plastic(lo, hi)
                    self.engine.propagate(lo, hi, runner.full_syn, sources=runner.full_sources)
                    self._update(lo, hi)
        return sharing, applied

    def _finish_worker_shares(self, sharing: List[Tuple[DeviceRunner, DeviceJob]],
                              timing: BurstTiming) -> None:
        """Apply the workers' shares they have not started; join those they have."""
        for runner, job in sharing:
            if job.claim(JobState.MAIN) or job.state is JobState.DECLINED:
                t_apply = time.perf_counter()      # the worker has not started it
                self._apply(runner, job, runner.worker_share)
                timing.device_targets_s += time.perf_counter() - t_apply
            else:
                t_join = time.perf_counter()
                job.finish(self.policy.timeout_s)
                timing.wait_s += time.perf_counter() - t_join

    def _rotate_input_buffers(self) -> None:
        """A grid set filled completely this burst is valid for the next job; swap sets."""
        for runner in self.runners:
            complete = runner.filling and sum(runner.filled) == len(runner.io.sources)
            runner.valid_buffer = runner.fill_buffer if complete else None
            runner.fill_buffer = 1 - runner.fill_buffer

    def _start_next_jobs(self) -> None:
        """Prefetch: the next burst's device jobs need only this burst's fired set."""
        for runner in self.runners:
            if runner.active:
                runner.launch(self.engine.previous_fired, self._apply_worker_share)

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
        for runner in self.runners:
            if runner.filling:
                runner.filled.append(runner.io.fill_range(runner.fill_buffer, lo, hi, fired,
                                                          potentials))

    def _apply_worker_share(self, runner: DeviceRunner, job: DeviceJob) -> None:
        """Worker thread: its share of the targets, in its own engine slot."""
        self._apply(runner, job, runner.worker_share, runner.slot)

    def _apply(self, runner: DeviceRunner, job: DeviceJob, which, slot: int = 0) -> None:
        """Add targets' device currents (dense grids) and update them (host rules).

        `which` are indices into the partition's targets. Each grid's values are checked
        first (`PartitionIO.value_problem`: the pass reads what the add reads next, from
        cache); a bad one is recorded in `job.bad` and that target is integrated on the CPU
        this burst. The synapses of plastic pairs into the range go in first, then those of
        the partition's other pairs that stay on the CPU (residual); the grid then goes in
        with `add_current_grid` (after this burst's injections; reached voxels with a zero
        net current become candidates).
        """
        eng = self.engine
        for k in which:
            lo, hi = runner.io.targets[k]['lo'], runner.io.targets[k]['hi']
            distrusted = k in runner.distrusted_targets()
            problem = None if distrusted else runner.io.value_problem(k, job.grids[k])
            self._propagate_plastic(lo, hi, slot)
            if distrusted or problem is not None:   # the host integrates the target
                if problem is not None:
                    job.bad.append(problem)
                eng.propagate(lo, hi, runner.full_syn, slot=slot, sources=runner.full_sources)
            else:
                if runner.residual_syn is not None:
                    eng.propagate(lo, hi, runner.residual_syn, slot=slot,
                                  sources=runner.residual_sources)
                eng.add_current_grid(*job.grids[k])
            self._update(lo, hi, slot)

    def _fault_bad_results(self, applied: List[Tuple[DeviceRunner, DeviceJob]]) -> None:
        """A job with a bad value is a fault of its device (its targets ran on the CPU)."""
        for runner, job in applied:
            if job.bad:
                runner.fault(job.bad[0], 'error', self.engine.burst_count)

    def _drop_prefetched(self) -> None:
        """Forget device jobs started for a fired set that is no longer the previous one."""
        for runner in getattr(self, 'runners', []):
            runner.drop_pending()

    # ---- health ------------------------------------------------------------------------
    def describe(self) -> List[dict]:
        """Per device partition: mode (device/cpu), device health, faults, retry state."""
        return [{**runner.describe(self.connectome, self.engine.burst_count),
                 **self.placement.describe(runner)} for runner in self.runners]

    def close(self) -> None:
        """Close the devices and stop the worker threads (a hung job is abandoned).

        A prefetched job not yet started is cancelled; one already running finishes.
        """
        self._drop_prefetched()
        for runner in getattr(self, 'runners', []):
            runner.close()
        self.runners = []
        self.engine.close()

    def __enter__(self) -> 'HybridEngine':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
