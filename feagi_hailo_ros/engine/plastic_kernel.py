"""Numba kernels of STDP on plastic pairs (NEURON_MODEL §4b, learning steps 6-10).

`learn` runs once per burst after the fired set is final. State: `last_fired[u]` (FEAGI's
burst counter of u's last firing in a plastic area), the `recent` list of the neurons that
fired within the longest window, ascending (the window history: a neuron is active for a
pair of window W iff last_fired >= T - W + 1), the current weights `magnitude` and the
weights the spikes are delivered with, `delivered` (signed, +0.0 for a zero weight: a
reached target is a candidate). The update of burst T acts on the spikes delivered from
burst T + 2 on (step 8): `learn` first copies the synapses the previous update touched into
`delivered`, then computes this burst's update into `magnitude` and lists what it touched.
The work is proportional to the plastic synapses of the active neurons, not to the brain.
The burst's newcomers are merged into `recent` in place (fired sets are ascending), so the
active neurons' rows are read in memory order (measured in bench/README.md).
"""

from numba import njit
import numpy as np

_ZERO = np.float32(0.0)


@njit(nogil=True, cache=True, inline='always')
def _signed(w, negative):
    """The delivered weight of magnitude w: negative if inhibitory, +0.0 when zero."""
    return -w if (negative and w != _ZERO) else w + _ZERO


@njit(nogil=True, cache=True)
def learn(burst, fired, n_fired, tracked_area, neuron_area, last_fired, recent, in_recent,
          n_recent, longest_window, indptr, target, in_indptr, in_order, source, pair,
          negative, magnitude, delivered, touched, n_touched, pair_window, pair_learns,
          d_plus, d_minus, max_weight, dense):
    """Apply burst `burst`'s STDP (FEAGI counter T); return (n_recent, n_touched).

    `dense`: one pass over every plastic synapse in storage order instead of the active
    neurons' rows and columns (the same result; faster when most synapses are touched).
    """
    t = np.int64(burst)
    if not dense:
        for j in range(n_touched):             # the previous update reaches delivery now
            k = touched[j]
            delivered[k] = _signed(magnitude[k], negative[k])
    for j in range(n_fired):
        u = fired[j]
        if tracked_area[neuron_area[u]]:
            last_fired[u] = t
    kept = 0
    for j in range(n_recent):                  # the window history: drop the expired
        u = recent[j]
        if last_fired[u] >= t - longest_window + 1:
            recent[kept] = u
            kept += 1
        else:
            in_recent[u] = False
    n_recent = _merge_fired(fired, n_fired, tracked_area, neuron_area, recent, in_recent, kept)
    if dense:
        return n_recent, _learn_all(t, last_fired, target, source, pair, negative, magnitude,
                                    delivered, touched, pair_window, pair_learns, d_plus,
                                    d_minus, max_weight)
    count = 0
    for j in range(n_recent):
        u = recent[j]
        for k in range(indptr[u], indptr[u + 1]):       # u as the source
            q = pair[k]
            w_q = pair_window[q]
            if not pair_learns[q] or t < w_q or last_fired[u] < t - w_q + 1:
                continue
            if last_fired[target[k]] >= t - w_q + 1:   # both active: LTP
                w = magnitude[k] + d_plus[q]
                magnitude[k] = min(w, max_weight[q])
            else:                                       # only the source: LTD
                magnitude[k] = max(_ZERO, magnitude[k] - d_minus[q])
            touched[count] = k
            count += 1
        for i in range(in_indptr[u], in_indptr[u + 1]):  # u as the target
            k = in_order[i]
            q = pair[k]
            w_q = pair_window[q]
            if not pair_learns[q] or t < w_q or last_fired[u] < t - w_q + 1:
                continue
            if last_fired[source[k]] >= t - w_q + 1:
                continue                                # done from the source's side
            magnitude[k] = max(_ZERO, magnitude[k] - d_minus[q])
            touched[count] = k
            count += 1
    return n_recent, count


@njit(nogil=True, cache=True)
def _learn_all(t, last_fired, target, source, pair, negative, magnitude, delivered, touched,
               pair_window, pair_learns, d_plus, d_minus, max_weight):
    """Steps 6-8 over every plastic synapse in order; return how many changed (touched).

    Each synapse's delivered weight becomes its current one (the previous update reaches
    delivery), then the update of burst t is applied to its current weight.
    """
    count = 0
    for k in range(magnitude.size):
        w = magnitude[k]
        delivered[k] = _signed(w, negative[k])
        q = pair[k]
        w_q = pair_window[q]
        if not pair_learns[q] or t < w_q:
            continue
        first = t - w_q + 1
        src_active = last_fired[source[k]] >= first
        dst_active = last_fired[target[k]] >= first
        if src_active and dst_active:
            magnitude[k] = min(w + d_plus[q], max_weight[q])
        elif src_active or dst_active:
            magnitude[k] = max(_ZERO, w - d_minus[q])
        else:
            continue
        touched[count] = k
        count += 1
    return count


@njit(nogil=True, cache=True)
def _merge_fired(fired, n_fired, tracked_area, neuron_area, recent, in_recent, kept):
    """Merge the fired neurons of tracked areas not yet in recent[:kept] into it (ascending).

    In place, from the back: both lists are ascending. Returns the new length.
    """
    new = 0
    for j in range(n_fired):
        u = fired[j]
        if tracked_area[neuron_area[u]] and not in_recent[u]:
            new += 1
    d = kept + new - 1                         # next slot to fill, from the end
    i = kept - 1                               # last kept entry not yet moved
    j = n_fired - 1
    while d > i:                               # d - i newcomers are left to place
        u = fired[j]
        j -= 1
        if not tracked_area[neuron_area[u]] or in_recent[u]:
            continue
        while i >= 0 and recent[i] > u:
            recent[d] = recent[i]
            d -= 1
            i -= 1
        in_recent[u] = True
        recent[d] = u
        d -= 1
    return kept + new


@njit(nogil=True, cache=True)
def signed_weights(magnitude, negative, out):
    """Write the signed weights of `magnitude` into `out` (+0.0 for a zero weight)."""
    for k in range(magnitude.size):
        out[k] = _signed(magnitude[k], negative[k])
