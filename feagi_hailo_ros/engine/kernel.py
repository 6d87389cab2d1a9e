"""The fast burst kernel (numba, nogil): injections, propagation and the neuron update.

A burst is split so that a partition (a neuron range [lo, hi)) can run it on its own, and a
device can compute the synaptic currents while the host applies the rules:

1. `accumulate` adds sensory injections (and the power amount) into `fcl_input` and sets
   `fcl_candidate` (DESIGN §4 steps 1 and 3); p = 0 is discarded.
2. `propagate_range` adds the synaptic input of the neurons fired in the previous burst to
   the targets in [lo, hi) and marks them candidates (step 4). `mark_candidates_range` only
   marks them (for currents computed elsewhere).
3. `update_range` applies steps 2, 5 and 6 to the neurons in [lo, hi), appends the fired ones
   to an output buffer and clears `fcl_input` / `fcl_candidate` in the range for the next
   burst, so that no pass is spent on clearing.

Sum order (float32): injections in call order, then power, then synapses with sources in the
order of the fired list (ascending) and each source's synapses in CSR order; a partition's
CSR keeps that order, so partitions are exact against one engine.

Random injections for benchmarks (`update_range` with `fill_seed` > 0) come from SplitMix64
applied to a counter (seed, burst, neuron): p = 0.8 + 2 * u, u = top 24 bits / 2^24, float32.
"""

import math

import numpy as np
from numba import njit

_U32 = np.uint64(0xFFFFFFFF)
_PCG_MUL = np.uint64(747796405)
_PCG_INC = np.uint64(2891336453)
_PCG_WORD = np.uint64(277803737)
_HASH_ID = np.uint64(2654435761)
_HASH_BURST = np.uint64(1597334677)
_S28 = np.uint64(28)
_S4 = np.uint64(4)
_S22 = np.uint64(22)
_ALWAYS = np.float32(0.999)
_TWO32 = np.float32(2.0 ** 32)
_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S40 = np.uint64(40)
_INV24 = np.float32(1.0 / (1 << 24))
_INJ_BASE = np.float32(0.8)
_INJ_SPAN = np.float32(2.0)


@njit(nogil=True, cache=True, inline='always')
def excitability_passes(neuron_id, feagi_burst, excitability):
    """Return whether a neuron passes excitability e in a burst (DESIGN §4 PCG hash)."""
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
def bench_injection(seed, burst, neuron, n_neurons):
    """Return the benchmark injection 0.8 + 2*U(0,1) (float32) of a neuron in a burst."""
    x = np.uint64(seed) + (np.uint64(burst) * np.uint64(n_neurons) + np.uint64(neuron)) \
        * _SM_GAMMA
    x = (x ^ (x >> _S30)) * _SM_M1
    x = (x ^ (x >> _S27)) * _SM_M2
    x = x ^ (x >> _S31)
    return _INJ_BASE + _INJ_SPAN * (np.float32(x >> _S40) * _INV24)


@njit(nogil=True, cache=True)
def accumulate(indices, potentials, fcl_input, fcl_candidate):
    """Add injections in the given order; p = 0 is discarded (DESIGN §4 step 1)."""
    for j in range(indices.size):
        p = np.float32(potentials[j])
        if p != 0:
            i = indices[j]
            fcl_input[i] += p
            fcl_candidate[i] = 1


@njit(nogil=True, cache=True, inline='always')
def _source_factor(src, fired_potential, neuron_area, out_degree, psp, psp_uniform,
                   mp_driven_psp):
    """Return (psp, divisor) of a fired source (DESIGN §4 step 4)."""
    area = neuron_area[src]
    if mp_driven_psp[area]:
        v = np.float64(fired_potential)
        r = math.floor(abs(v) + 0.5)
        if v < 0:
            r = -r
        src_psp = np.int32(min(255.0, max(0.0, r)))
    else:
        src_psp = np.int32(psp[area])
    divisor = np.float32(1.0) if psp_uniform[area] else out_degree[src]
    return src_psp, divisor


@njit(nogil=True, cache=True)
def propagate_range(fired, fired_potential, n_fired, indptr, target, weight, neuron_area,
                    out_degree, psp, psp_uniform, mp_driven_psp, lo, hi, fcl_input,
                    fcl_candidate):
    """Add the input of fired sources to targets in [lo, hi) and mark them candidates.

    `fired[:n_fired]` (ascending) fired in the previous burst with potentials
    `fired_potential`; `indptr/target/weight` may be a partition's CSR, but `out_degree` is
    always the source's total out-degree.
    """
    full = lo <= 0 and hi >= fcl_input.size
    for j in range(n_fired):
        src = fired[j]
        begin = indptr[src]
        end = indptr[src + 1]
        if begin == end:
            continue
        src_psp, divisor = _source_factor(src, fired_potential[j], neuron_area, out_degree,
                                          psp, psp_uniform, mp_driven_psp)
        for k in range(begin, end):
            t = target[k]
            if full or (t >= lo and t < hi):
                fcl_input[t] += np.float32(np.int32(weight[k]) * src_psp) / divisor
                fcl_candidate[t] = 1


@njit(nogil=True, cache=True)
def mark_candidates_range(fired, n_fired, indptr, target, lo, hi, fcl_candidate):
    """Mark the targets in [lo, hi) of fired sources as candidates (no currents)."""
    for j in range(n_fired):
        src = fired[j]
        for k in range(indptr[src], indptr[src + 1]):
            t = target[k]
            if t >= lo and t < hi:
                fcl_candidate[t] = 1


@njit(nogil=True, cache=True)
def update_range(lo, hi, feagi_burst, area_start, fire_threshold, threshold_limit, leak_keep,
                 refractory, consecutive_limit, snooze, mp_charge_accumulation, excitability,
                 has_gradient, neuron_threshold, excitability_id, potential,
                 refractory_countdown, consecutive_fires, fcl_input, fcl_candidate,
                 out_fired, out_potential, out_start, fill_seed):
    """Apply DESIGN §4 steps 2, 5 and 6 to neurons [lo, hi); return how many fired.

    Fired indices (ascending) and their potentials at firing go to
    `out_fired/out_potential[out_start:]`. The range's `fcl_input` and `fcl_candidate` are
    cleared for the next burst, or, when `fill_seed` > 0, filled with the benchmark
    injections of burst `feagi_burst` (see `bench_injection`) in the same pass.
    """
    n_out = out_start
    n_total = fcl_input.size
    for a in range(area_start.size - 1):
        begin = max(lo, area_start[a])
        end = min(hi, area_start[a + 1])
        if begin >= end:
            continue
        thr_area = fire_threshold[a]
        thr_limit = threshold_limit[a]
        keep = leak_keep[a]
        refrac = refractory[a]
        limit = consecutive_limit[a]
        snooze_a = snooze[a]
        reset_v = mp_charge_accumulation[a] == 0
        exc = excitability[a]
        always = exc >= _ALWAYS
        probabilistic = exc > 0 and not always
        gradient = has_gradient[a] != 0
        for i in range(begin, end):
            if reset_v:
                potential[i] = np.float32(0.0)
            countdown = refractory_countdown[i]
            if countdown > 0:
                countdown -= 1
                refractory_countdown[i] = countdown
                if countdown == 0 and limit > 0 and consecutive_fires[i] >= limit:
                    consecutive_fires[i] = 0
                if fcl_candidate[i]:
                    fcl_candidate[i] = 0
                    fcl_input[i] = np.float32(0.0)
            elif fcl_candidate[i]:
                v = potential[i] + fcl_input[i]
                fcl_candidate[i] = 0
                fcl_input[i] = np.float32(0.0)
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
                        potential[i] = np.float32(0.0)
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
            if fill_seed > 0:
                fcl_input[i] = bench_injection(fill_seed, feagi_burst, i, n_total)
                fcl_candidate[i] = 1
    return n_out - out_start
