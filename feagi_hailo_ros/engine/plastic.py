"""Synapses of plastic pairs: their own CSR with float32 weights, and their learning state.

A brain with registered plastic pairs (NEURON_MODEL §4b) keeps every other synapse in the
model's compact CSR; the synapses of plastic pairs move here, CSR by source (their order
kept) with a by-target index for the learning rule. The engine delivers them before the
other synapses of a source area's spikes (NEURON_MODEL §4 step 4: plastic, then the rest);
the divisor n is the source's out-degree over both.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.brain.plasticity import PlasticParams
from feagi_hailo_ros.engine import plastic_kernel
import numpy as np

NEVER = np.int64(-(2 ** 62))    # last_fired of a neuron that has not fired in a plastic area
DENSE_SHARE = 8     # the last update touched over 1/8 of the plastic synapses: one full pass
_FIELDS = ('plastic_weight', 'plastic_delivered', 'plastic_last_fired')


@dataclass
class PlasticSynapses:
    """The synapses of plastic pairs (read-only structure) and the pairs' parameters."""

    indptr: np.ndarray          # int64[N+1], CSR by source
    target: np.ndarray          # uint32[P]
    source: np.ndarray          # uint32[P]
    negative: np.ndarray        # bool[P]: inhibitory
    initial: np.ndarray         # float32[P]: the weights as built (magnitudes)
    pair: np.ndarray            # int32[P]: index into the pair arrays
    in_indptr: np.ndarray       # int64[N+1], by target
    in_order: np.ndarray        # int64[P]: synapse indices by target (sources ascending)
    pairs: List[Tuple[str, str]]
    params: List[PlasticParams]
    tracked_area: np.ndarray    # bool[A]: areas in some plastic pair

    @property
    def n_synapses(self) -> int:
        """Return the number of plastic synapses P."""
        return int(self.target.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the structure's arrays."""
        arrays = (self.indptr, self.target, self.source, self.negative, self.initial,
                  self.pair, self.in_indptr, self.in_order)
        return int(sum(a.nbytes for a in arrays))

    def pair_arrays(self) -> Dict[str, np.ndarray]:
        """Per-pair window, learns flag, d+ and d- (float32) and max weight (inf: none)."""
        return {
            'window': np.array([p.window for p in self.params], np.int64),
            'learns': np.array([p.learns for p in self.params], np.bool_),
            'd_plus': np.array([p.d_plus for p in self.params], np.float32),
            'd_minus': np.array([p.d_minus for p in self.params], np.float32),
            'max_weight': np.array([np.inf if p.max_weight is None else p.max_weight
                                    for p in self.params], np.float32)}

    def describe(self) -> List[list]:
        """[[src, dst, parameters dict], ...]: what identifies the pairs (checkpoints)."""
        return [[s, d, dict(p.__dict__)] for (s, d), p in zip(self.pairs, self.params)]


def split_plastic(indptr: np.ndarray, target: np.ndarray, weight: np.ndarray,
                  neuron_area: np.ndarray, area_ids: List[str],
                  plastic_pairs: Dict[Tuple[str, str], PlasticParams]
                  ) -> Tuple[np.ndarray, Optional[PlasticSynapses]]:
    """Return (keep mask of the other synapses, the plastic synapses) of a CSR."""
    n = indptr.size - 1
    index = {a: i for i, a in enumerate(area_ids)}
    pairs = sorted(plastic_pairs)
    n_areas = len(area_ids)
    pair_of = np.full((n_areas, n_areas), -1, np.int32)
    tracked = np.zeros(n_areas, np.bool_)
    for q, (src, dst) in enumerate(pairs):
        pair_of[index[src], index[dst]] = q
        tracked[[index[src], index[dst]]] = True
    degree = np.diff(np.asarray(indptr, np.int64))
    src_area = np.repeat(np.asarray(neuron_area), degree)
    syn_pair = pair_of[src_area, np.asarray(neuron_area)[np.asarray(target, np.int64)]]
    del src_area
    plastic = syn_pair >= 0
    if not plastic.any() and not pairs:
        return np.ones(target.size, np.bool_), None
    where = np.flatnonzero(plastic)
    source = np.repeat(np.arange(n, dtype=np.uint32), degree)[where]
    csum = np.zeros(plastic.size + 1, np.int64)
    np.cumsum(plastic, out=csum[1:])
    p_indptr = csum[np.asarray(indptr, np.int64)]
    p_target = np.ascontiguousarray(target[where], np.uint32)
    w = np.asarray(weight[where], np.float32)
    in_order = np.argsort(p_target, kind='stable').astype(np.int64)
    in_indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(p_target, minlength=n), out=in_indptr[1:])
    return ~plastic, PlasticSynapses(
        p_indptr, p_target, source, w < 0, np.abs(w).astype(np.float32),
        syn_pair[where].astype(np.int32), in_indptr, in_order, pairs,
        [plastic_pairs[p] for p in pairs], tracked)


class PlasticState:
    """The learning state of one engine: weights, delivered weights, window history."""

    def __init__(self, syn: PlasticSynapses, neuron_area: np.ndarray):
        self.syn = syn
        self.neuron_area = neuron_area
        n = syn.indptr.size - 1
        self.magnitude = syn.initial.copy()
        self.delivered = np.empty_like(self.magnitude)
        plastic_kernel.signed_weights(self.magnitude, syn.negative, self.delivered)
        self.last_fired = np.full(n, NEVER, np.int64)
        self.recent = np.zeros(n, np.int64)
        self.in_recent = np.zeros(n, np.bool_)
        self.n_recent = 0
        self.touched = np.zeros(syn.n_synapses, np.int64)
        self.n_touched = 0
        self._pairs = syn.pair_arrays()
        self.longest_window = int(self._pairs['window'].max()) if syn.params else 1

    def learn(self, burst: int, fired: np.ndarray, n_fired: int) -> None:
        """Apply FEAGI burst `burst`'s update (fired: that burst's final fired set)."""
        s, p = self.syn, self._pairs
        self.n_recent, self.n_touched = plastic_kernel.learn(
            burst, fired, n_fired, s.tracked_area, self.neuron_area, self.last_fired,
            self.recent, self.in_recent, self.n_recent, self.longest_window, s.indptr,
            s.target, s.in_indptr, s.in_order, s.source, s.pair, s.negative, self.magnitude,
            self.delivered, self.touched, self.n_touched, p['window'], p['learns'],
            p['d_plus'], p['d_minus'], p['max_weight'],
            self.n_touched * DENSE_SHARE > s.n_synapses)

    def arrays(self) -> Dict[str, np.ndarray]:
        """Copies of what a checkpoint holds: weights, delivered weights, last fired."""
        return {'plastic_weight': self.magnitude.copy(),
                'plastic_delivered': np.abs(self.delivered),
                'plastic_last_fired': self.last_fired.copy()}

    def load(self, arrays: Dict[str, np.ndarray], burst: int) -> None:
        """Set the state from `arrays` (as `arrays()` returns) at FEAGI burst `burst`.

        The window history and the update still to be delivered follow from them: the
        recent neurons fired within the longest window, and the touched synapses are those
        whose delivered weight differs from the current one.
        """
        if not arrays:                   # a state without learning: the weights as built
            arrays = {'plastic_weight': self.syn.initial, 'plastic_delivered': self.syn.initial,
                      'plastic_last_fired': np.full(self.last_fired.size, NEVER, np.int64)}
        missing = [k for k in _FIELDS if k not in arrays]
        if missing:
            raise ValueError(f'state fields {", ".join(missing)} are missing')
        weight, delivered = arrays['plastic_weight'], arrays['plastic_delivered']
        last = arrays['plastic_last_fired']
        for name, array, size in (('plastic_weight', weight, self.magnitude.size),
                                  ('plastic_delivered', delivered, self.magnitude.size),
                                  ('plastic_last_fired', last, self.last_fired.size)):
            if np.shape(array) != (size,):
                raise ValueError(f'state field {name} has shape {np.shape(array)}, this brain '
                                 f'needs ({size},)')
        for name, array in (('plastic_weight', weight), ('plastic_delivered', delivered)):
            values = np.asarray(array)
            if values.dtype.kind != 'f' or not np.all(np.isfinite(values)) or np.any(
                    values < 0):
                raise ValueError(f'state field {name} must hold finite weights >= 0')
        if np.asarray(last).dtype.kind not in 'iu':
            raise ValueError('state field plastic_last_fired must hold integers')
        self.magnitude[:] = weight
        plastic_kernel.signed_weights(np.asarray(delivered, np.float32), self.syn.negative,
                                      self.delivered)
        self.last_fired[:] = last
        recent = np.flatnonzero(self.last_fired >= burst - self.longest_window + 1)
        self.in_recent[:] = False
        self.in_recent[recent] = True
        self.recent[:recent.size] = recent
        self.n_recent = recent.size
        touched = np.flatnonzero(self.magnitude.view(np.uint32)
                                 != np.abs(self.delivered).view(np.uint32))
        self.touched[:touched.size] = touched
        self.n_touched = touched.size

    def weights(self) -> np.ndarray:
        """Return the signed current float32 weights, in the plastic CSR's order."""
        out = np.empty_like(self.magnitude)
        plastic_kernel.signed_weights(self.magnitude, self.syn.negative, out)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the learning state."""
        arrays = (self.magnitude, self.delivered, self.last_fired, self.recent,
                  self.in_recent, self.touched)
        return int(sum(a.nbytes for a in arrays))
