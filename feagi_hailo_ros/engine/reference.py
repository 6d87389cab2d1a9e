"""The reference engine: NEURON_MODEL §4 step by step, one neuron at a time (the test oracle).

Written for clarity, not speed: use it on small brains only. Every value is float32
(numpy scalars), and inputs are summed in the order FEAGI fills its fire candidate list:
sensory injections in the order given, then the power amount, then the synapses of the
neurons fired in the previous burst (sources in ascending index, each source's synapses in
CSR order).
"""

from collections import Counter
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
        for src, fired_v in zip(self.prev_fired, self.prev_fired_potential):   # 4. spikes
            area = int(self._area_of[src])
            if params.mp_driven_psp[area]:
                psp = F32(driven_psp(fired_v))
                self.rule_hits['mp_driven_psp'] += 1
            else:
                psp = F32(params.psp[area])
            divisor = F32(1.0) if params.psp_uniform[area] else \
                F32(int(syn.indptr[src + 1]) - int(syn.indptr[src]))   # n: out-degree
            self.rule_hits['psp_divided' if divisor != 1 else 'psp_undivided'] += 1
            for k in range(int(syn.indptr[src]), int(syn.indptr[src + 1])):
                target = int(syn.target[k])
                contribution = F32(F32(syn.weight[k]) * psp) / divisor
                fcl[target] = fcl.get(target, F32(0.0)) + contribution
        return fcl

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
        return np.asarray(fired, dtype=np.int64)

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
