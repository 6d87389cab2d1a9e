"""The fast burst kernel (numba, nogil): injections, propagation and the neuron update.

A burst is split so that a partition (a neuron range [lo, hi)) can run it on its own, and a
device can compute the synaptic currents while the host applies the rules:

1. `accumulate` adds sensory injections (and the power amount) into `fcl_input`
   (NEURON_MODEL §4 steps 1 and 3); p = 0 is discarded.
2. `propagate_range` adds the synaptic input of the neurons fired in the previous burst to
   the targets in [lo, hi) (step 4); `add_current_grid` adds a device's currents instead
   (a dense per-voxel grid computed elsewhere) and makes the reached targets candidates.
3. `update_range` applies steps 2, 5 and 6 to the neurons in [lo, hi), appends the fired ones
   to an output buffer and resets `fcl_input` in the range for the next burst (or fills it
   with benchmark injections), so no pass is spent on clearing.
4. `burst_range` runs 2 and 3 for one partition in a single nogil call (what each thread of
   a partitioned engine runs); its rows are pre-split by target (`split_rows_by_target`).

The candidate mask lives inside `fcl_input`: a neuron is NOT a candidate exactly when its
input is -0.0 (`NOT_CANDIDATE`, the reset value). Adding anything to -0.0 gives a value
that is not -0.0 (-0.0 + 0.0 = +0.0 in IEEE arithmetic), and no injection (p = 0 is
discarded) or synaptic contribution (computed from integers) is ever -0.0, so "received an
input" and "is a candidate" coincide even for a zero net input, with one array instead of two
and one random write per synaptic event. `candidate_mask` decodes it.

Sum order (float32): injections in call order, then power, then synapses with sources in the
order of the fired list (ascending) and each source's synapses in CSR order; a partition's
CSR keeps that order, so partitions are exact against one engine.

Neurons of simple areas (no consecutive-fire limit, no threshold gradient, excitability
always or never) are updated in blocks by a branch-free loop that LLVM vectorises, then the
block's fired flags are collected; other areas take a per-neuron loop with branches.

Benchmark injections (`fill_seed` > 0) use a 32-bit counter hash (Wellons' lowbias32) of
(key(seed, burst) + neuron * 0x9E3779B9): p = 0.8 + 2 * u, u = top 24 bits / 2^24, float32.
"""

import math

from feagi_hailo_ros.engine.params import EXCITABILITY_ALWAYS
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
import numpy as np

try:        # LLVM cttz; numba has exposed it here since 0.50
    from numba.cpython.unsafe.numbers import trailing_zeros
except ImportError:  # pragma: no cover - fallback for a numba that moved it
    @njit(nogil=True, cache=True, inline='always')
    def trailing_zeros(bits):
        """Return the number of trailing zero bits of a non-zero uint64."""
        count = 0
        while bits & np.uint64(1) == 0:
            bits >>= np.uint64(1)
            count += 1
        return count

NOT_CANDIDATE = np.float32(-0.0)
BLOCK = 1024                       # neurons per block of the vectorised update
PREFETCH_AHEAD = 8                 # sources ahead whose synapse rows are prefetched
_U32 = np.uint64(0xFFFFFFFF)
_PCG_MUL = np.uint64(747796405)
_PCG_INC = np.uint64(2891336453)
_PCG_WORD = np.uint64(277803737)
_HASH_ID = np.uint64(2654435761)
_HASH_BURST = np.uint64(1597334677)
_S28 = np.uint64(28)
_S4 = np.uint64(4)
_S22 = np.uint64(22)
_ALWAYS = EXCITABILITY_ALWAYS     # from this value up a neuron always passes (NEURON_MODEL §4)
_TWO32 = np.float32(2.0 ** 32)
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_INV24 = np.float32(1.0 / (1 << 24))
_INJ_BASE = np.float32(0.8)
_INJ_SPAN = np.float32(2.0)


@intrinsic
def prefetch(typingctx, array, index):
    """Hint the CPU to fetch array[index] into cache (LLVM llvm.prefetch; no effect else)."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        try:
            fn = builder.module.get_global('llvm.prefetch.p0i8')
        except KeyError:
            fn = ir.Function(builder.module, fnty, name='llvm.prefetch.p0i8')
        address = builder.bitcast(builder.gep(ary.data, [args[1]]), byte_ptr)
        # read access, keep in all cache levels, data cache
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(array, index), codegen


def candidate_mask(fcl_input: np.ndarray) -> np.ndarray:
    """Return the candidate mask encoded in an `fcl_input` array (not -0.0)."""
    return ~(np.signbit(fcl_input) & (fcl_input == 0))


@njit(nogil=True, cache=True, inline='always')
def excitability_passes(neuron_id, feagi_burst, excitability):
    """Return whether a neuron passes excitability e in a burst (NEURON_MODEL §4 PCG hash)."""
    if excitability >= _ALWAYS:
        return True
    if excitability <= 0:
        return False
    seed = (np.uint64(neuron_id) * _HASH_ID + np.uint64(feagi_burst) * _HASH_BURST) & _U32
    state = (seed * _PCG_MUL + _PCG_INC) & _U32
    word = ((((state >> ((state >> _S28) + _S4)) ^ state) & _U32) * _PCG_WORD) & _U32
    value = ((word >> _S22) ^ word) & _U32
    return np.float32(value) / _TWO32 < excitability


@njit(nogil=True, cache=True, inline='always')
def _lowbias32(x):
    """Return Wellons' lowbias32 hash of a uint32 (uint32 arithmetic, so LLVM vectorises)."""
    x = np.uint32(x ^ (x >> np.uint32(16)))
    x = np.uint32(x * np.uint32(0x7FEB352D))
    x = np.uint32(x ^ (x >> np.uint32(15)))
    x = np.uint32(x * np.uint32(0x846CA68B))
    return np.uint32(x ^ (x >> np.uint32(16)))


@njit(nogil=True, cache=True, inline='always')
def bench_key(seed, burst):
    """Return the per-burst key (uint32) of the benchmark injections."""
    mixed = (np.uint64(seed) * np.uint64(0x9E3779B9) + np.uint64(burst) * np.uint64(0x85EBCA6B))
    return _lowbias32(np.uint32(mixed & np.uint64(0xFFFFFFFF)))


@njit(nogil=True, cache=True, inline='always')
def bench_injection(key, neuron):
    """Return the benchmark injection 0.8 + 2*U(0,1) (float32) of a neuron."""
    h = _lowbias32(np.uint32(key + np.uint32(neuron) * np.uint32(0x9E3779B9)))
    return _INJ_BASE + _INJ_SPAN * (np.float32(np.int32(h >> np.uint32(8))) * _INV24)


@njit(nogil=True, cache=True)
def accumulate(indices, potentials, fcl_input):
    """Add injections in the given order; p = 0 is discarded (NEURON_MODEL §4 step 1)."""
    for j in range(indices.size):
        p = np.float32(potentials[j])
        if p != 0:
            fcl_input[indices[j]] += p


@njit(nogil=True, cache=True)
def add_bench_injections(seed, burst, lo, hi, fcl_input):
    """Add the benchmark injections of a burst to neurons [lo, hi) (see `bench_injection`)."""
    key = bench_key(seed, burst)
    for i in range(np.uint64(lo), np.uint64(hi)):   # unsigned: no wraparound, vectorises
        fcl_input[i] += bench_injection(key, i)


@njit(nogil=True, cache=True)
def propagate_range(fired, fired_potential, n_fired, row_begin, row_end, target, weight,
                    area_start, degree_indptr, psp, psp_uniform, mp_driven_psp, lo, hi,
                    fcl_input, scratch_rows):
    """Add the input of fired sources to their targets in [lo, hi) (making them candidates).

    `fired[:n_fired]` (strictly ascending) fired in the previous burst with potentials
    `fired_potential`. Source s's synapses are `target/weight[row_begin[s]:row_end[s]]`:
    a CSR gives `row_begin = indptr[:-1]`, `row_end = indptr[1:]`; a partition may pass a
    CSR restricted to its targets or rows pre-split by target range. `degree_indptr` is the
    indptr of the brain's whole CSR: the psp divisor is the source's total out-degree
    `degree_indptr[s + 1] - degree_indptr[s]` (as float32). Indices (fired, rows, targets)
    may be any integer type, e.g. the connectome's uint32 targets and indptr, used in place.
    `scratch_rows` (int64[2, BLOCK]) is work space.
    Sources are handled in chunks: first their rows are looked up (independent loads, so the
    CPU overlaps the cache misses; the rows of sources 8 ahead are prefetched), then their
    synapses are applied in order.
    """
    full = lo <= 0 and hi >= fcl_input.size
    area = 0
    for chunk in range(0, n_fired, BLOCK):
        stop = min(n_fired, chunk + BLOCK)
        for j in range(chunk, stop):
            src = fired[j]
            scratch_rows[0, j - chunk] = row_begin[src]
            scratch_rows[1, j - chunk] = row_end[src]
        for j in range(chunk, stop):
            begin = scratch_rows[0, j - chunk]
            end = scratch_rows[1, j - chunk]
            if j + PREFETCH_AHEAD < stop:    # the row of a later source: overlap its miss
                ahead = np.uint64(scratch_rows[0, j + PREFETCH_AHEAD - chunk])
                prefetch(target, ahead)
                prefetch(weight, ahead)
            if begin == end:
                continue
            src = fired[j]
            while src >= area_start[area + 1]:
                area += 1
            if mp_driven_psp[area]:
                v = np.float64(fired_potential[j])
                rounded = math.floor(abs(v) + 0.5)
                if v < 0:
                    rounded = -rounded
                src_psp = np.float32(min(255.0, max(0.0, rounded)))
            else:
                src_psp = np.float32(psp[area])
            divisor = _ONE if psp_uniform[area] else np.float32(
                np.int64(degree_indptr[src + 1]) - np.int64(degree_indptr[src]))
            if src_psp == _ZERO:
                # every contribution is 0, but w * 0.0 is -0.0 for w < 0 and -0.0 would
                # leave a target marked as no candidate: add +0.0 (it is reached)
                for k in range(begin, end):
                    t = target[k]
                    if full or (t >= lo and t < hi):
                        fcl_input[t] += _ZERO
            elif src_psp < _ZERO:
                # a zero weight (a plastic synapse at the floor) times a negative psp is
                # -0.0: + 0.0 makes it +0.0, so the reached target is a candidate
                for k in range(begin, end):
                    t = target[k]
                    if full or (t >= lo and t < hi):
                        fcl_input[t] += ((np.float32(weight[k]) * src_psp) / divisor) + _ZERO
            elif full and divisor == _ONE:
                for k in range(np.uint64(begin), np.uint64(end)):
                    fcl_input[np.uint64(target[k])] += np.float32(weight[k]) * src_psp
            else:
                for k in range(begin, end):
                    t = target[k]
                    if full or (t >= lo and t < hi):
                        fcl_input[t] += (np.float32(weight[k]) * src_psp) / divisor


@njit(nogil=True, cache=True)
def add_current_grid(current, reach, with_reach, base, stride, fcl_input):
    """Add dense per-voxel currents: neuron base + v*stride gets current[v] (dense form).

    Voxel v's neuron becomes a candidate when current[v] != 0 or, `with_reach`, reach[v]
    > 0.5 (reached with a zero net current): it gets `(x + c) + 0.0` (the + 0.0 turns a
    -0.0 sum, "not a candidate", into +0.0). Other neurons are left as they are. One
    branch-free pass (selects), so LLVM vectorises it; indices must be in range (the
    caller checks the span).
    """
    first = np.uint64(base)
    step = np.uint64(stride)
    n = np.uint64(current.size)
    if stride == 1 and not with_reach:      # the common case, as a contiguous loop
        for v in range(n):
            c = current[v]
            x = fcl_input[first + v]
            fcl_input[first + v] = ((x + c) + _ZERO) if c != _ZERO else x
        return
    for v in range(n):
        c = current[v]
        hit = (c != _ZERO) | (with_reach & (reach[v] > _HALF))
        i = first + v * step
        x = fcl_input[i]
        fcl_input[i] = ((x + c) + _ZERO) if hit else x


@njit(nogil=True, cache=True)
def update_range(lo, hi, burst, area_start, fire_threshold, threshold_limit, leak_keep,
                 refractory, consecutive_limit, snooze, mp_charge_accumulation, excitability,
                 has_gradient, neuron_threshold, excitability_id, potential,
                 refractory_countdown, consecutive_fires, fcl_input, out_fired, out_potential,
                 out_start, fill_seed, scratch_flag):
    """Apply NEURON_MODEL §4 steps 2, 5 and 6 to neurons [lo, hi); return (fired count, stop).

    `burst` is the 0-based number of this burst (FEAGI's counter, for excitability, is
    burst + 1). Fired indices (ascending) and their potentials at firing go to
    `out_fired/out_potential[out_start:]`. When these may run out of room (a simple block
    needs room for all its neurons, a general neuron for one) the update stops before
    neuron `stop` < hi: the caller grows the buffers and calls again from `stop` with
    `out_start` advanced by the count (the neurons before `stop` are done, exactly once);
    `stop == hi` when the range is complete. The range's `fcl_input` is reset to NOT_CANDIDATE
    for the next burst or, when `fill_seed` > 0, set to the benchmark injections of burst
    + 1 (see `add_bench_injections`). `scratch_flag` (uint8[BLOCK]) is work space, one per
    concurrent caller.
    """
    n_out = out_start
    fill = fill_seed > 0
    key = bench_key(fill_seed, burst + 1)
    for a in range(area_start.size - 1):
        begin = max(lo, area_start[a])
        end = min(hi, area_start[a + 1])
        if begin >= end:
            continue
        exc = excitability[a]
        simple = (consecutive_limit[a] == 0 and has_gradient[a] == 0
                  and (exc >= _ALWAYS or exc <= 0))
        if simple:
            n_out, stop = _update_simple(
                begin, end, fire_threshold[a], threshold_limit[a], leak_keep[a],
                refractory[a], mp_charge_accumulation[a] == 0, exc > 0, potential,
                refractory_countdown, fcl_input, out_fired, out_potential, n_out, fill, key,
                scratch_flag)
        else:
            n_out, stop = _update_general(
                begin, end, burst + 1, fire_threshold[a], threshold_limit[a], leak_keep[a],
                refractory[a], consecutive_limit[a], snooze[a],
                mp_charge_accumulation[a] == 0, exc, has_gradient[a] != 0, neuron_threshold,
                excitability_id, potential, refractory_countdown, consecutive_fires,
                fcl_input, out_fired, out_potential, n_out, fill, key)
        if stop < end:
            return n_out - out_start, stop
    return n_out - out_start, np.int64(hi)


@njit(nogil=True, cache=True, inline='always')
def _next_input(fill, key, i):
    """Return what fcl_input holds after the update: reset or the next benchmark injection."""
    if fill:
        return bench_injection(key, i)
    return NOT_CANDIDATE


@njit(nogil=True, cache=True)
def _update_simple(begin, end, thr, thr_limit, keep, refrac, reset_v, can_fire, potential,
                   refractory_countdown, fcl_input, out_fired, out_potential, n_out, fill,
                   key, scratch_flag):
    """Update a simple area's neurons [begin, end) in blocks: branch-free, then collect.

    The block loop has no branches (selects only), so LLVM vectorises it; the fired flags
    of a block are then scanned 8 at a time as uint64 words. Returns (n_out, stop): stop <
    end when the output has no room for a whole block (see `update_range`).
    """
    # "never fires" and "no threshold limit" as thresholds, so the loop needs no flags
    thr = thr if can_fire else np.float32(np.inf)
    limit = thr_limit if thr_limit != 0 else np.float32(np.inf)
    flag_words = scratch_flag.view(np.uint64)
    # Unsigned indices: numba then skips negative-index wraparound and LLVM vectorises.
    first = np.uint64(begin)
    last = np.uint64(end)
    step = np.uint64(BLOCK)
    room = np.int64(out_fired.size)
    for block in range(first, last, step):
        stop = min(last, block + step)
        if n_out + np.int64(stop - block) > room:
            return n_out, np.int64(block)
        for i in range(block, stop):
            x = fcl_input[i]
            candidate = (x != _ZERO) | (math.copysign(_ONE, x) > _ZERO)
            countdown = np.int32(refractory_countdown[i])
            v_old = _ZERO if reset_v else potential[i]
            # charge accumulation: a negative input sum adds 0 (the candidate stays one)
            v = v_old + (x if reset_v or not x < _ZERO else _ZERO)
            active = candidate & (countdown == 0)
            fire = active & (thr <= v) & (v <= limit)
            # a fired neuron keeps v here until the collection below reads it and zeroes it
            # (one scratch store per neuron: LLVM 14, numba 0.60's, vectorises only then)
            potential[i] = v if fire else (v * keep if active else v_old)
            refractory_countdown[i] = np.uint16(refrac if fire else max(countdown - 1, 0))
            scratch_flag[i - block] = fire
            injection = bench_injection(key, i)     # cheap; a select keeps the loop flat
            fcl_input[i] = injection if fill else NOT_CANDIDATE
        size = np.int64(stop - block)
        for word in range((size + 7) // 8):
            bits = flag_words[word]
            if word * 8 + 8 > size:          # the last, partial word: drop stale bytes
                bits &= (np.uint64(1) << np.uint64(8 * (size - word * 8))) - np.uint64(1)
            while bits != 0:                 # one pass per fired neuron (flags are 0/1)
                j = word * 8 + (np.int64(trailing_zeros(bits)) >> 3)
                neuron = np.int64(block) + j
                out_fired[n_out] = neuron
                out_potential[n_out] = potential[neuron]
                potential[neuron] = _ZERO
                n_out += 1
                bits &= bits - np.uint64(1)
    return n_out, np.int64(end)


@njit(nogil=True, cache=True)
def _update_general(begin, end, feagi_burst, thr_area, thr_limit, keep, refrac, limit,
                    snooze_a, reset_v, exc, gradient, neuron_threshold, excitability_id,
                    potential, refractory_countdown, consecutive_fires, fcl_input, out_fired,
                    out_potential, n_out, fill, key):
    """Update any area's neurons [begin, end) one by one; return (n_out, stop) as above."""
    always = exc >= _ALWAYS
    probabilistic = exc > 0 and not always
    room = out_fired.size
    for i in range(begin, end):
        if n_out >= room:
            return n_out, np.int64(i)
        if reset_v:
            potential[i] = _ZERO
        x = fcl_input[i]
        candidate = x != _ZERO or math.copysign(1.0, x) > 0.0
        fcl_input[i] = _next_input(fill, key, i)
        countdown = refractory_countdown[i]
        if countdown > 0:
            countdown -= 1
            refractory_countdown[i] = countdown
            if countdown == 0 and limit > 0 and consecutive_fires[i] >= limit:
                consecutive_fires[i] = 0
        elif candidate:
            # charge accumulation: a negative input sum adds 0 (the candidate stays one)
            v = potential[i] + (x if reset_v or not x < _ZERO else _ZERO)
            thr = neuron_threshold[i] if gradient else thr_area
            if thr <= v and (thr_limit == 0 or v <= thr_limit):
                if limit > 0 and consecutive_fires[i] >= limit:
                    consecutive_fires[i] = 0
                    potential[i] = v
                elif always or (probabilistic and excitability_passes(
                        excitability_id[i], feagi_burst, exc)):
                    out_fired[n_out] = i
                    out_potential[n_out] = v
                    n_out += 1
                    potential[i] = _ZERO
                    if limit > 0:
                        count = consecutive_fires[i] + 1
                        consecutive_fires[i] = count
                        refractory_countdown[i] = refrac + snooze_a if count >= limit \
                            else refrac
                    else:
                        refractory_countdown[i] = refrac
                else:
                    if limit > 0:
                        consecutive_fires[i] = 0
                    potential[i] = v * keep
            else:
                if limit > 0:
                    consecutive_fires[i] = 0
                potential[i] = v * keep
    return n_out, np.int64(end)


@njit(nogil=True, cache=True)
def burst_range(fired, fired_potential, n_fired, row_begin, row_end, target, weight,
                degree_indptr, psp, psp_uniform, mp_driven_psp, scratch_rows, lo, hi, burst,
                area_start,
                fire_threshold, threshold_limit, leak_keep, refractory, consecutive_limit,
                snooze, mp_charge_accumulation, excitability, has_gradient, neuron_threshold,
                excitability_id, potential, refractory_countdown, consecutive_fires,
                fcl_input, out_fired, out_potential, fill_seed, scratch_flag):
    """Propagate into [lo, hi), then update it: one partition's burst in one nogil call.

    The rows must hold only targets in [lo, hi) (split by `Synapses.split_by_target`), so
    no range check is needed. Fired neurons go to `out_fired/out_potential[0:]`; returns
    (count, stop) of `update_range` (stop < hi: grow the output and resume the update).
    """
    propagate_range(fired, fired_potential, n_fired, row_begin, row_end, target, weight,
                    area_start, degree_indptr, psp, psp_uniform, mp_driven_psp, 0,
                    fcl_input.size, fcl_input, scratch_rows)
    return update_range(lo, hi, burst, area_start, fire_threshold, threshold_limit,
                        leak_keep, refractory, consecutive_limit, snooze,
                        mp_charge_accumulation, excitability, has_gradient, neuron_threshold,
                        excitability_id, potential, refractory_countdown, consecutive_fires,
                        fcl_input, out_fired, out_potential, 0, fill_seed, scratch_flag)


@njit(nogil=True, cache=True)
def split_rows_by_target(indptr, target, weight, edges, out_target, out_weight, cuts):
    """Reorder each CSR row by target range (stable); fill `cuts[p][s]` = row starts.

    `edges` (int64[P+1]) bound the P target ranges; `cuts` is int64[P+1, N]: partition
    p's synapses of source s are `out_*[cuts[p, s]:cuts[p + 1, s]]`.
    """
    parts = edges.size - 1
    for s in range(indptr.size - 1):
        k_out = indptr[s]
        for p in range(parts):
            cuts[p, s] = k_out
            lo = edges[p]
            hi = edges[p + 1]
            for k in range(indptr[s], indptr[s + 1]):
                t = target[k]
                if t >= lo and t < hi:
                    out_target[k_out] = t
                    out_weight[k_out] = weight[k]
                    k_out += 1
        cuts[parts, s] = k_out
