"""BurstEngine: the fast engine API over the numba kernel (inject, burst, state, checkpoint).

One burst is `begin_burst()` (adds the power amount), then for each partition (a neuron
range [lo, hi)) `propagate(lo, hi)` and `update(lo, hi)`, then `end_burst()` (gathers the
fired sets, checks that every neuron was updated once); `burst()` does all of it. With
`partitions=2, threads=True` the partitions of one burst run concurrently in threads (the
kernel releases the GIL); spikes are exchanged at the burst boundary, which is exact.

A hybrid engine runs a partition's synaptic integration on a device (its input is
`previous_fired()`) and the rules here: `begin_burst()`, `propagate(0, lo)` and
`update(0, lo)` for the CPU partition, `add_current_grid(base, stride, current, reach)` (a
device's dense grid) then `update(lo, hi)`, `end_burst()`; `propagate(..., sources=...)` reads
only some sources' spikes; `abort_burst()` gives up a burst that failed half-way.
"""

from typing import Dict, List, Optional, Sequence, Tuple, Union

from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.checkpoints import EngineCheckpoints
from feagi_hailo_ros.engine.memory import bytes_held
from feagi_hailo_ros.engine.model import EngineModel, Synapses
from feagi_hailo_ros.engine.partition_threads import PartitionThreads
from feagi_hailo_ros.engine.plastic import PlasticState
from feagi_hailo_ros.engine.state import compact_state
import numpy as np

POWER_AMOUNT = np.float32(1.0)


def split_range(n_neurons: int, parts: int) -> List[Tuple[int, int]]:
    """Split [0, N) into `parts` contiguous ranges of nearly equal size."""
    if parts < 1:
        raise ValueError(f'partitions must be >= 1, got {parts}')
    edges = np.linspace(0, n_neurons, parts + 1).round().astype(np.int64)
    return [(int(edges[p]), int(edges[p + 1])) for p in range(parts)]


class BurstEngine(EngineCheckpoints):
    """Fast burst engine over an EngineModel (or a brain Connectome).

    State: float32 potentials, refractory countdowns (uint8 when the brain's refractory +
    snooze fit, else uint16), consecutive-fire counts (uint16, held only when an area has a
    consecutive-fire limit: no other area reads them), the queued inputs (`fcl_input`,
    float32[N]), the last fired set (int32 indices and float32 potentials at firing).
    The synapses are read in place (a Connectome's uint32 indptr and targets are not
    copied). Fired lists are sized by what fires, not by N: each partition (and the manual
    `update` path) writes into its own output buffer, grown by doubling when an update runs
    out of room (the kernel stops at a block boundary and is resumed), and `end_burst`
    makes the output the new last-fired list. `memory()` reports the bytes held.
    """

    # Initial size of each output buffer (fired indices + potentials); grown on demand.
    first_output_size = kernel.BLOCK

    def __init__(self, brain, partitions: Union[int, Sequence[Tuple[int, int]]] = 1,
                 threads: bool = False, update_slots: int = 1):
        self.model = brain if isinstance(brain, EngineModel) else \
            EngineModel.from_connectome(brain)
        model = self.model
        n = model.n_neurons
        self.n_neurons = n
        self.state_arrays = compact_state(model.params)
        # Fire-candidate inputs; -0.0 (kernel.NOT_CANDIDATE) marks a non-candidate.
        self.fcl_input = np.full(n, kernel.NOT_CANDIDATE, dtype=np.float32)
        self._index_dtype = np.int32 if n < 2 ** 31 else np.int64
        self._fired = np.zeros(0, self._index_dtype)     # the previous burst's fired set
        self._fired_v = np.zeros(0, np.float32)          # ... and potentials at firing
        self._n_fired = 0
        # (lo, hi, output slot, start, count) of each update this burst
        self._segments: List[Tuple[int, int, int, int, int]] = []
        self._in_burst = False
        self.burst_count = 0
        self.faults: List[dict] = []      # the Engine API: a CPU engine has no device faults
        self.fill_seed = 0                # > 0: benchmark injections drawn in the update
        self._fingerprint: Optional[dict] = None
        self.partitions = (split_range(n, partitions) if isinstance(partitions, int)
                           else [(int(lo), int(hi)) for lo, hi in partitions])
        self._check_partitions(self.partitions)
        if update_slots < 1:
            raise ValueError(f'update_slots must be >= 1, got {update_slots}')
        # one per partition, then one per concurrent caller of update()
        slots = len(self.partitions) + update_slots
        self._rows = [np.zeros((2, kernel.BLOCK), np.int64) for _ in range(slots)]
        self._scratch = [np.zeros(kernel.BLOCK, np.uint8) for _ in range(slots)]
        first = min(n, self.first_output_size)
        self._out = [np.zeros(first, self._index_dtype) for _ in range(slots)]
        self._out_v = [np.zeros(first, np.float32) for _ in range(slots)]
        self._used = [0] * update_slots        # entries of each update() slot this burst
        self._synapses, self._partition_rows = model.synapses.rows_by_partition(
            self.partitions)
        self.plastic = (PlasticState(model.plastic, model.synapses.neuron_area)
                        if model.plastic is not None else None)
        self._threads: Optional[PartitionThreads] = None
        if threads and len(self.partitions) > 1:
            self._threads = PartitionThreads(len(self.partitions), self._run_partition)

    # ---- injections -------------------------------------------------------------------
    def inject(self, area_id: str, x, y, z, potential) -> None:
        """Queue injections into the receiving neurons of voxels (x, y, z) of an area."""
        area = self.model.layout.area_index(area_id)
        idx = np.atleast_1d(self.model.layout.voxel_neuron(area, x, y, z))
        pot = np.broadcast_to(np.asarray(potential, dtype=np.float32), idx.shape)
        self.inject_indices(idx, pot)

    def inject_indices(self, indices, potentials) -> None:
        """Queue injections (neuron index, potential) for the next burst, summed in order."""
        idx = np.ascontiguousarray(np.atleast_1d(indices), dtype=np.int64)
        pot = np.ascontiguousarray(np.broadcast_to(
            np.asarray(potentials, dtype=np.float32), idx.shape))
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_neurons):
            raise ValueError(f'injection neuron index outside 0..{self.n_neurons - 1}')
        kernel.accumulate(idx, pot, self.fcl_input)

    # ---- one burst --------------------------------------------------------------------
    def burst(self) -> np.ndarray:
        """Run one burst; return the fired indices (ascending view, int32; int64 if N >= 2^31).

        The view is valid until the next burst: copy it to keep it.
        """
        self.begin_burst()
        if self._threads is not None:
            self._run_threaded()
        else:
            for p in range(len(self.partitions)):
                self._run_partition(p)
        return self.end_burst()

    def begin_burst(self) -> None:
        """Start a burst: add the power amount to the power area (NEURON_MODEL §4 step 3)."""
        if self._in_burst:
            raise RuntimeError('begin_burst called twice without end_burst')
        self._in_burst = True
        self._segments = []
        self._used = [0] * len(self._used)
        power = self.model.params.power_neurons
        if power.size:
            kernel.accumulate(power, np.full(power.size, POWER_AMOUNT, np.float32),
                              self.fcl_input)

    def previous_fired(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return the fired indices and potentials of the previous burst (views)."""
        return self._fired[:self._n_fired], self._fired_v[:self._n_fired]

    def propagate(self, lo: int, hi: int, synapses: Optional[Synapses] = None,
                  slot: int = 0,
                  sources: Optional[Sequence[Tuple[int, int]]] = None) -> None:
        """Add the previous burst's spikes to targets in [lo, hi) and mark them candidates.

        After this, `fcl_input[lo:hi]` holds each target's float32 input (injections, power,
        then synapses in order), -0.0 for neurons that are not candidates (see
        `candidates`). `sources` (ascending, disjoint neuron ranges) limits the spikes read
        to those ranges: the caller's promise that `synapses` has no other source with a
        target in [lo, hi) (a restricted CSR), so that the other fired rows are not visited.
        Concurrent callers (disjoint target ranges) pass different `slot`s, as for `update`.
        Without `synapses` (the brain's), the synapses of plastic pairs come first
        (`propagate_plastic`); a caller passing its own adds those itself.
        """
        rows = self._rows[len(self.partitions) + slot]
        if synapses is None:
            self.propagate_plastic(lo, hi, slot)
        syn = synapses or self._synapses
        if sources is None:
            self._propagate_into(lo, hi, syn, rows)
            return
        fired = self._fired[:self._n_fired]
        for s_lo, s_hi in sources:
            a, b = (int(i) for i in np.searchsorted(fired, (s_lo, s_hi)))
            if b > a:
                self._propagate_into(lo, hi, syn, rows, a, b)

    def propagate_plastic(self, lo: int, hi: int, slot: int = 0,
                          rows: Optional[np.ndarray] = None) -> None:
        """Add the spikes over plastic pairs (current weights) to targets in [lo, hi)."""
        if self.plastic is None:
            return
        p, syn = self.model.params, self.model.plastic
        kernel.propagate_range(
            self._fired, self._fired_v, self._n_fired, syn.indptr[:-1], syn.indptr[1:],
            syn.target, self.plastic.delivered, p.area_start, self.model.degree_indptr, p.psp,
            p.psp_uniform, p.mp_driven_psp, lo, hi, self.fcl_input,
            self._rows[len(self.partitions) + slot] if rows is None else rows)

    def _propagate_into(self, lo: int, hi: int, syn: Synapses, rows: np.ndarray,
                        first: int = 0, last: Optional[int] = None) -> None:
        """Add spikes fired[first:last] (default all) over `syn` to targets in [lo, hi)."""
        p = self.model.params
        last = self._n_fired if last is None else last
        kernel.propagate_range(
            self._fired[first:last], self._fired_v[first:last], last - first,
            syn.indptr[:-1], syn.indptr[1:], syn.target, syn.weight, p.area_start,
            self.model.degree_indptr, p.psp, p.psp_uniform, p.mp_driven_psp, lo, hi,
            self.fcl_input, rows)

    def add_current_grid(self, base: int, stride: int, current: np.ndarray,
                         reach: Optional[np.ndarray] = None) -> None:
        """Add a device's dense currents: neuron `base + v * stride` gets `current[v]`.

        A device's output grid (flattened in the host order): voxel v's neuron becomes a
        candidate when its current is nonzero or, with `reach`, when reach[v] > 0.5
        (reached, zero net current); other neurons are left alone. The currents are added
        after the injections and power queued for this burst. Valid inside a burst (after
        `begin_burst`) and before `update` of the range that holds the neurons; one
        vectorised pass, releases the GIL.
        """
        if not self._in_burst:
            raise RuntimeError('add_current_grid outside a burst: call begin_burst first')
        cur = np.ascontiguousarray(current, dtype=np.float32).reshape(-1)
        with_reach = reach is not None
        rch = cur if reach is None else \
            np.ascontiguousarray(reach, dtype=np.float32).reshape(-1)
        if rch.size != cur.size:
            raise ValueError(f'add_current_grid: {cur.size} currents but {rch.size} reach '
                             'values')
        base, stride = int(base), int(stride)
        last = base + (cur.size - 1) * stride
        if cur.size and (base < 0 or stride < 1 or last >= self.n_neurons):
            raise ValueError(f'add_current_grid: neurons {base}..{last} (stride {stride}) '
                             f'are outside 0..{self.n_neurons - 1}')
        kernel.add_current_grid(cur, rch, with_reach, base, stride, self.fcl_input)

    def candidates(self, lo: int = 0, hi: Optional[int] = None) -> np.ndarray:
        """Return the candidate mask (bool) of neurons [lo, hi) for the current burst."""
        return kernel.candidate_mask(self.fcl_input[lo:hi])

    def update(self, lo: int, hi: int, slot: int = 0, with_potentials: bool = False):
        """Apply the neuron rules to [lo, hi); return the indices that fired (a view).

        With `with_potentials`, (indices, their potentials at firing) (views). Threads may
        update disjoint ranges at once, each with its own `slot` (0 .. update_slots - 1 of
        the constructor; scratch and output buffers are per slot).
        """
        if not 0 <= slot < len(self._used):
            raise ValueError(f'update slot {slot}: this engine has {len(self._used)} '
                             '(update_slots)')
        if not self._in_burst:
            raise RuntimeError('update outside a burst: call begin_burst first')
        start = self._used[slot]
        buffer = len(self.partitions) + slot
        count = self._update_resumable(lo, hi, buffer, start, lo)
        self._used[slot] = start + count
        self._segments.append((lo, hi, buffer, start, count))
        fired = self._out[buffer][start:start + count]
        if with_potentials:
            return fired, self._out_v[buffer][start:start + count]
        return fired

    def abort_burst(self) -> None:
        """Give up the burst in progress (after an error): the next begin_burst may start.

        Neurons already updated in it keep their new state; the fired set stays the
        previous burst's and the burst count does not advance.
        """
        self._in_burst = False

    def end_burst(self) -> np.ndarray:
        """Finish a burst: gather the partitions' fired sets; return them (ascending view)."""
        if not self._in_burst:
            raise RuntimeError('end_burst without begin_burst')
        segments = sorted(self._segments)
        covered = 0
        for lo, hi, *_ in segments:
            if lo != covered:
                break
            covered = hi
        if covered != self.n_neurons:
            self._in_burst = False
            raise RuntimeError(f'the ranges updated in this burst {[s[:2] for s in segments]} '
                               f'do not cover neurons 0..{self.n_neurons - 1} exactly once')
        total = sum(seg[4] for seg in segments)
        if len(segments) == 1 and segments[0][3] == 0:
            # the output becomes the fired list; the old list is the next output buffer
            slot = segments[0][2]
            self._fired, self._out[slot] = self._out[slot], self._fired
            self._fired_v, self._out_v[slot] = self._out_v[slot], self._fired_v
            if len(self.partitions) == 1 and slot == 0:   # written in place: one buffer
                self._out[0], self._out_v[0] = self._fired, self._fired_v
        else:
            if self._fired.size < total:      # the old list is no longer needed
                self._fired = np.empty(_grown(self._fired.size, total), self._index_dtype)
                self._fired_v = np.empty(self._fired.size, np.float32)
            at = 0
            for _, _, slot, start, count in segments:
                self._fired[at:at + count] = self._out[slot][start:start + count]
                self._fired_v[at:at + count] = self._out_v[slot][start:start + count]
                at += count
        self._n_fired = total
        self.burst_count += 1
        self._in_burst = False
        if self.plastic is not None:      # FEAGI's counter of this burst is burst_count
            self.plastic.learn(self.burst_count, self._fired, total)
        return self._fired[:total]

    def _update_resumable(self, lo: int, hi: int, slot: int, start: int, resume: int) -> int:
        """Update [resume, hi) into output `slot` from `start`, growing it; return the count.

        [lo, resume) must be done already (its fired neurons from `start` on).
        """
        p = self.model.params
        flags = self._scratch[slot]
        s = self.state_arrays
        n_out = start
        while resume < hi:
            need = n_out + min(kernel.BLOCK, hi - resume)
            if self._out[slot].size < need:
                self._grow(slot, n_out, need, n_out + hi - resume)
            count, resume = kernel.update_range(
                resume, hi, self.burst_count, p.area_start, p.fire_threshold,
                p.threshold_limit, p.leak_keep, p.refractory, p.consecutive_limit, p.snooze,
                p.mp_charge_accumulation, p.excitability, p.has_gradient, p.neuron_threshold,
                p.excitability_id, s.potential, s.refractory_countdown, s.consecutive_fires,
                self.fcl_input, self._out[slot], self._out_v[slot], n_out, self.fill_seed,
                flags)
            n_out += count
        return n_out - start

    def _grow(self, slot: int, keep: int, need: int, most: int) -> None:
        """Enlarge output `slot` to hold `need` (doubling, at most `most`); keep [:keep]."""
        old, old_v = self._out[slot], self._out_v[slot]
        size = max(need, min(_grown(old.size, need), most))
        new = np.empty(size, self._index_dtype)
        new_v = np.empty(size, np.float32)
        new[:keep], new_v[:keep] = old[:keep], old_v[:keep]
        self._out[slot], self._out_v[slot] = new, new_v

    def _run_partition(self, p: int) -> None:
        """Run partition p's propagate + update in one nogil kernel call."""
        lo, hi = self.partitions[p]
        syn = self._synapses
        row_begin, row_end = self._partition_rows[p]
        prm = self.model.params
        s = self.state_arrays
        flags = self._scratch[p]
        if len(self.partitions) == 1:
            # One partition propagates all of the previous fired list before its update
            # writes the new one, so the update can overwrite it: one buffer, not two.
            self._out[p], self._out_v[p] = self._fired, self._fired_v
        self.propagate_plastic(lo, hi, rows=self._rows[p])
        count, stop = kernel.burst_range(
            self._fired, self._fired_v, self._n_fired, row_begin, row_end,
            syn.target, syn.weight, self.model.degree_indptr, prm.psp, prm.psp_uniform,
            prm.mp_driven_psp, self._rows[p], lo, hi, self.burst_count, prm.area_start,
            prm.fire_threshold, prm.threshold_limit, prm.leak_keep, prm.refractory,
            prm.consecutive_limit, prm.snooze, prm.mp_charge_accumulation, prm.excitability,
            prm.has_gradient, prm.neuron_threshold, prm.excitability_id, s.potential,
            s.refractory_countdown, s.consecutive_fires, self.fcl_input, self._out[p],
            self._out_v[p], self.fill_seed, flags)
        if stop < hi:                  # the output was full: grow it and finish the update
            count += self._update_resumable(lo, hi, p, count, stop)
        self._segments.append((lo, hi, p, 0, count))

    def _run_threaded(self) -> None:
        """Run the partitions in their threads; a failed worker ends the burst."""
        error = self._threads.run()
        if error is not None:
            self._in_burst = False
            raise RuntimeError('a partition thread failed') from error

    def describe(self) -> List[dict]:
        """Device partitions (the Engine API): none, everything runs here."""
        return []

    def close(self) -> None:
        """Stop the partition threads (the engine then runs partitions in turn)."""
        if self._threads is not None:
            self._threads.close()
            self._threads = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ---- reading results and state ----------------------------------------------------
    def memory(self) -> Dict[str, Dict[str, int]]:
        """Return the bytes of every array the brain and the engine hold (bytes_held)."""
        split = self._synapses is not self.model.synapses
        return bytes_held(self.model, self.state_arrays, self.fcl_input,
                          (self._fired, self._fired_v), (self._out, self._out_v),
                          (self._rows, self._scratch),
                          (self._synapses, self._partition_rows) if split else None)

    @property
    def fired(self) -> np.ndarray:
        """Return the last burst's fired indices (ascending view)."""
        return self._fired[:self._n_fired]

    def fired_coords(self) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray,
                                    np.ndarray]:
        """Return the last burst's fired (area ids, x, y, z, potential at firing)."""
        idx, pot = self.previous_fired()
        area, x, y, z = self.model.layout.coords(idx)
        ids = self.model.layout.ids
        return [ids[a] for a in area.tolist()], x, y, z, pot.copy()

    @staticmethod
    def _check_partitions(parts: List[Tuple[int, int]]) -> None:
        if not parts:
            raise ValueError('at least one partition is needed')
        for lo, hi in parts:
            if lo > hi:
                raise ValueError(f'partition ({lo}, {hi}) is empty or reversed')


def _grown(size: int, need: int) -> int:
    """Return a buffer size >= need: double `size` until it fits."""
    size = max(size, 1)
    while size < need:
        size *= 2
    return size
