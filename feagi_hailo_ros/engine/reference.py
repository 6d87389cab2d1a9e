"""The reference engine: NEURON_MODEL §4 step by step, one neuron at a time (the test oracle).

Written for clarity, not speed: use it on small brains only. Every value is float32
(numpy scalars), and inputs are summed in the order FEAGI fills its fire candidate list:
sensory injections in the order given, then the power amount, then the synapses of the
neurons fired in the previous burst: those of plastic pairs first, then the others (each
sources in ascending index, each source's synapses in CSR order). Plastic pairs learn after
each burst (NEURON_MODEL §4b), per synapse from the fired sets of the last W bursts.
"""

from collections import Counter, deque
import math
from typing import Dict, List, Sequence

from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.params import EXCITABILITY_ALWAYS
import numpy as np

F32 = np.float32
_U32 = 0xFFFFFFFF
POWER_AMOUNT = F32(1.0)


def pcg_hash(value: int) -> int:
    """Return FEAGI's PCG hash of a u32 (NEURON_MODEL §4), with u32 wrapping."""
    state = (value * 747796405 + 2891336453) & _U32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & _U32
    return ((word >> 22) ^ word) & _U32


def excitability_draw(neuron_id: int, feagi_burst: int) -> np.float32:
    """Return r in [0, 1] for a neuron id and FEAGI burst counter (first burst is 1)."""
    seed = (neuron_id * 2654435761 + feagi_burst * 1597334677) & _U32
    return F32(pcg_hash(seed)) / F32(2.0 ** 32)


def driven_psp(potential: np.float32) -> int:
    """Return the psp of an mp_driven_psp source: V rounded half away from zero, 0..255."""
    value = float(potential)
    rounded = math.copysign(math.floor(abs(value) + 0.5), value)
    return int(min(255.0, max(0.0, rounded)))


class ReferenceEngine:
    """Per-neuron Python engine over an EngineModel; same API subset as BurstEngine."""

    def __init__(self, model: EngineModel):
        self.model = model
        n = model.n_neurons
        self.potential = np.zeros(n, dtype=np.float32)
        self.refractory_countdown = np.zeros(n, dtype=np.int64)
        self.consecutive_fires = np.zeros(n, dtype=np.int64)
        self.burst_count = 0
        self.prev_fired: List[int] = []
        self.prev_fired_potential: List[np.float32] = []
        self._pending: List[tuple] = []
        self._area_of = model.synapses.neuron_area
        plastic = model.plastic
        self.plastic_weight = (plastic.initial.copy() if plastic is not None
                               else np.zeros(0, np.float32))     # magnitudes, current
        self._delivered = self.plastic_weight.copy()              # ... of the update before
        longest = max((p.window for p in plastic.params), default=1) if plastic else 1
        self._history: deque = deque(maxlen=longest)              # fired sets, newest last
        # How often each rule's branch was taken: lets tests show that a brain exercises it.
        self.rule_hits: Counter = Counter()

    def inject_indices(self, indices: Sequence[int], potentials: Sequence[float]) -> None:
        """Queue sensory injections (neuron index, potential) for the next burst."""
        for i, p in zip(np.asarray(indices).tolist(), np.asarray(potentials).tolist()):
            self._pending.append((int(i), F32(p)))

    def _gather_candidates(self) -> Dict[int, np.float32]:
        """Steps 1, 3, 4: the fire candidate list, neuron -> summed input."""
        params, syn = self.model.params, self.model.synapses
        fcl: Dict[int, np.float32] = {}
        for i, p in self._pending:          # 1. injections; p = 0 is discarded
            if p != 0:
                fcl[i] = fcl.get(i, F32(0.0)) + p
            else:
                self.rule_hits['injection_zero_discarded'] += 1
        self._pending = []
        for i in params.power_neurons.tolist():   # 3. the power area
            fcl[i] = fcl.get(i, F32(0.0)) + POWER_AMOUNT
            self.rule_hits['power'] += 1
        plastic = self.model.plastic
        if plastic is not None:                   # 4. spikes: plastic pairs first
            signed = np.where(plastic.negative, -self._delivered, self._delivered)
            self._deliver(fcl, plastic.indptr, plastic.target, signed, 'plastic_delivery')
        self._deliver(fcl, syn.indptr, syn.target, syn.weight, 'static_delivery')
        return fcl

    def _deliver(self, fcl: Dict[int, np.float32], indptr, target, weight, hit: str) -> None:
        """Add the previous burst's spikes over one CSR (step 4)."""
        params, degree = self.model.params, self.model.degree_indptr
        for src, fired_v in zip(self.prev_fired, self.prev_fired_potential):
            area = int(self._area_of[src])
            if params.mp_driven_psp[area]:
                psp = F32(driven_psp(fired_v))
                self.rule_hits['mp_driven_psp'] += 1
            else:
                psp = F32(params.psp[area])
            divisor = F32(1.0) if params.psp_uniform[area] else \
                F32(int(degree[src + 1]) - int(degree[src]))   # n: the whole out-degree
            if indptr[src + 1] > indptr[src]:
                self.rule_hits['psp_divided' if divisor != 1 else 'psp_undivided'] += 1
                self.rule_hits[hit] += 1
            for k in range(int(indptr[src]), int(indptr[src + 1])):
                contribution = F32(F32(weight[k]) * psp) / divisor
                fcl[int(target[k])] = fcl.get(int(target[k]), F32(0.0)) + contribution

    def burst(self) -> np.ndarray:
        """Run one burst and return the fired neuron indices (sorted int64)."""
        params = self.model.params
        fcl = self._gather_candidates()
        feagi_burst = self.burst_count + 1
        fired: List[int] = []
        fired_v: List[np.float32] = []
        start = params.area_start.tolist()
        for area in range(params.n_areas):
            limit = int(params.consecutive_limit[area])
            threshold_limit = params.threshold_limit[area]
            excitability = params.excitability[area]
            for i in range(start[area], start[area + 1]):
                if not params.mp_charge_accumulation[area]:     # 2.
                    if self.potential[i] != 0:
                        self.rule_hits['charge_reset'] += 1
                    self.potential[i] = F32(0.0)
                # 5. refractory ticks for every neuron
                was_refractory = self.refractory_countdown[i] > 0
                if was_refractory:
                    self.refractory_countdown[i] -= 1
                    if (self.refractory_countdown[i] == 0 and limit > 0
                            and self.consecutive_fires[i] >= limit):
                        self.consecutive_fires[i] = 0
                        self.rule_hits['snooze_end_count_reset'] += 1
                if i not in fcl:
                    continue        # not a candidate: V and count unchanged, no leak
                if was_refractory:
                    self.rule_hits['refractory_candidate_discarded'] += 1
                    continue        # discards its input without leak
                # 6. the other candidates; with charge accumulation a negative sum adds 0
                if params.mp_charge_accumulation[area] and fcl[i] < 0:
                    self.rule_hits['negative_input_ignored'] += 1
                    v = F32(self.potential[i])
                else:
                    v = F32(self.potential[i] + fcl[i])
                if fcl[i] == 0:
                    self.rule_hits['zero_input_candidate'] += 1
                threshold = (params.neuron_threshold[i] if params.has_gradient[area]
                             else params.fire_threshold[area])
                in_window = threshold <= v and (threshold_limit == 0 or v <= threshold_limit)
                if threshold <= v and not in_window:
                    self.rule_hits['above_threshold_limit'] += 1
                if in_window and limit > 0 and self.consecutive_fires[i] >= limit:
                    self.consecutive_fires[i] = 0       # skips one fire, keeps V, no leak
                    self.potential[i] = v
                    self.rule_hits['consecutive_limit_skip'] += 1
                elif in_window and self._excitable(i, excitability, feagi_burst):
                    if params.has_gradient[area]:
                        self.rule_hits['gradient_fire'] += 1
                    fired.append(i)
                    fired_v.append(v)
                    self.potential[i] = F32(0.0)
                    countdown = int(params.refractory[area])
                    if limit > 0:
                        self.consecutive_fires[i] += 1
                        if self.consecutive_fires[i] >= limit:
                            countdown += int(params.snooze[area])
                            self.rule_hits['limit_reached_on_fire'] += 1
                    self.refractory_countdown[i] = countdown
                else:
                    if in_window:
                        self.rule_hits['excitability_failed'] += 1
                    if limit > 0:
                        self.consecutive_fires[i] = 0
                    if params.leak_keep[area] != 1 and v != 0:
                        self.rule_hits['leak'] += 1
                    self.potential[i] = F32(v * params.leak_keep[area])
        self.prev_fired, self.prev_fired_potential = fired, fired_v
        self.burst_count += 1
        if self.model.plastic is not None:
            self._learn(self.burst_count, set(fired))
        return np.asarray(fired, dtype=np.int64)

    def _learn(self, feagi_burst: int, fired: set) -> None:
        """NEURON_MODEL §4b steps 6-10 after burst T (FEAGI's counter), synapse by synapse.

        The next burst delivers with the weights as they were before this update (step 8).
        """
        plastic = self.model.plastic
        self._history.append(fired)
        self._delivered = self.plastic_weight.copy()
        for k in range(plastic.n_synapses):
            params = plastic.params[int(plastic.pair[k])]
            window = params.window
            if params.mode != 'stdp' or feagi_burst < window or (
                    params.d_plus == 0 and params.d_minus == 0):
                self.rule_hits['plastic_unchanged'] += 1
                continue
            recent = list(self._history)[-window:]
            src_active = any(int(plastic.source[k]) in f for f in recent)
            dst_active = any(int(plastic.target[k]) in f for f in recent)
            w = self.plastic_weight[k]
            if src_active and dst_active:
                w = F32(w + params.d_plus)
                if params.max_weight is not None and w > F32(params.max_weight):
                    w = F32(params.max_weight)
                    self.rule_hits['ltp_max_weight'] += 1
                self.rule_hits['ltp'] += 1
            elif src_active or dst_active:
                w = F32(max(F32(0.0), F32(w - params.d_minus)))
                self.rule_hits['ltd_floor' if w == 0 else 'ltd'] += 1
            self.plastic_weight[k] = w

    def _excitable(self, i: int, excitability: np.float32, feagi_burst: int) -> bool:
        """Return whether neuron i passes its excitability check in this burst."""
        if excitability >= EXCITABILITY_ALWAYS:
            return True
        if excitability <= 0:
            return False
        neuron_id = int(self.model.params.excitability_id[i])
        passed = bool(excitability_draw(neuron_id, feagi_burst) < excitability)
        self.rule_hits['excitability_draw_pass' if passed else 'excitability_draw_fail'] += 1
        return passed
