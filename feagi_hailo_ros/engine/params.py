"""Neuron parameters as per-area arrays, with per-neuron arrays only where a rule needs them."""

from dataclasses import dataclass, fields
from typing import Dict, Optional, Sequence

import numpy as np

# Counters are uint16: refractory + snooze and the consecutive-fire limit must fit.
COUNTER_MAX = np.iinfo(np.uint16).max
# An excitability from this value up always fires (NEURON_MODEL §4).
EXCITABILITY_ALWAYS = np.float32(0.999)
_EPS32 = float(np.finfo(np.float32).eps)

# Per-area fields: name -> dtype (NEURON_MODEL §4 genes after FEAGI's conversions).
AREA_FIELDS = {
    'fire_threshold': np.float32,
    'threshold_limit': np.float32,      # 0 = none
    'leak_keep': np.float32,            # f32(1) - f32(leak): V *= leak_keep when not fired
    'refractory': np.uint16,
    'consecutive_limit': np.uint16,     # 0 = unlimited
    'snooze': np.uint16,
    'psp': np.float32,                  # pstcr_ as written (float32, no clamp)
    'psp_uniform': np.uint8,
    'mp_charge_accumulation': np.uint8,
    'mp_driven_psp': np.uint8,
    'excitability': np.float32,
    'has_gradient': np.uint8,           # per-neuron threshold in neuron_threshold
}


@dataclass
class NeuronParams:
    """Per-area neuron parameters (arrays of length A) over neurons laid out by area_start.

    `neuron_threshold` (float32[N]) is meaningful only inside areas with `has_gradient`;
    `excitability_id` (uint32[N]) only inside areas whose excitability is in (0, 0.999);
    both are empty when no area needs them. `power_neurons` receive 1.0 every burst.
    """

    area_start: np.ndarray
    fire_threshold: np.ndarray
    threshold_limit: np.ndarray
    leak_keep: np.ndarray
    refractory: np.ndarray
    consecutive_limit: np.ndarray
    snooze: np.ndarray
    psp: np.ndarray
    psp_uniform: np.ndarray
    mp_charge_accumulation: np.ndarray
    mp_driven_psp: np.ndarray
    excitability: np.ndarray
    has_gradient: np.ndarray
    neuron_threshold: np.ndarray
    excitability_id: np.ndarray
    power_neurons: np.ndarray

    @property
    def n_neurons(self) -> int:
        """Return the number of neurons N."""
        return int(self.area_start[-1])

    @property
    def n_areas(self) -> int:
        """Return the number of areas A."""
        return int(self.area_start.size - 1)

    @classmethod
    def from_arrays(cls, area_start: Sequence[int], *, fire_threshold, leak=0.0,
                    threshold_limit=0.0, refractory=0, consecutive_limit=0, snooze=0,
                    psp=1.0, psp_uniform=False, mp_charge_accumulation=False,
                    mp_driven_psp=False, excitability=1.0,
                    neuron_threshold: Optional[np.ndarray] = None,
                    has_gradient=None, excitability_id: Optional[np.ndarray] = None,
                    power_neurons: Sequence[int] = ()) -> 'NeuronParams':
        """Build parameters from per-area genes (scalars broadcast to every area).

        Genes are converted as FEAGI does (NEURON_MODEL §4): leak clamped to 0..1, psp float32
        as written, snooze truncated. `excitability_id` defaults to 7 + index.
        """
        start = np.asarray(area_start, dtype=np.int64)
        if start.ndim != 1 or start.size < 2 or start[0] != 0 or np.any(np.diff(start) < 0):
            raise ValueError('area_start must be non-decreasing int offsets from 0, length A+1')
        n_areas = start.size - 1
        n = int(start[-1])

        def per_area(name, value, dtype=np.float64):
            arr = np.broadcast_to(np.asarray(value, dtype=dtype), (n_areas,)).copy()
            if not np.all(np.isfinite(arr)):
                raise ValueError(f'neuron parameter {name!r}: values must be finite')
            return arr

        leak_arr = np.clip(per_area('leak', leak), 0.0, 1.0).astype(np.float32)
        counters = {}
        for name, value in (('refractory', refractory), ('consecutive_limit', consecutive_limit),
                            ('snooze', snooze)):
            arr = np.trunc(per_area(name, value))
            if np.any(arr < 0):
                raise ValueError(f'neuron parameter {name!r} must be >= 0, got {arr.min()}')
            counters[name] = arr
        total = counters['refractory'] + counters['snooze']
        if np.any(total > COUNTER_MAX) or np.any(counters['consecutive_limit'] > COUNTER_MAX):
            raise ValueError(f'refractory + snooze and consecutive_limit must be <= '
                             f'{COUNTER_MAX} bursts (uint16 counters); lower them in the genome')
        if neuron_threshold is None:
            gradient = np.zeros(n_areas, dtype=np.uint8)
            neuron_threshold = np.zeros(0, dtype=np.float32)
        else:
            neuron_threshold = np.ascontiguousarray(neuron_threshold, dtype=np.float32)
            if neuron_threshold.shape != (n,):
                raise ValueError(f'neuron_threshold must have shape ({n},)')
            gradient = (np.ones(n_areas, dtype=np.uint8) if has_gradient is None
                        else per_area('has_gradient', has_gradient).astype(np.uint8))
        exc = per_area('excitability', excitability).astype(np.float32)
        if excitability_id is None:
            excitability_id = (7 + np.arange(n, dtype=np.int64)).astype(np.uint32)
        excitability_id = np.ascontiguousarray(excitability_id, dtype=np.uint32)
        if not np.any((exc > 0) & (exc < EXCITABILITY_ALWAYS)):
            excitability_id = np.zeros(0, dtype=np.uint32)
        elif excitability_id.shape != (n,):
            raise ValueError(f'excitability_id must have shape ({n},)')
        power = np.unique(np.asarray(power_neurons, dtype=np.int64))
        if power.size and (power[0] < 0 or power[-1] >= n):
            raise ValueError(f'power neuron index out of range 0..{n - 1}')
        return cls(
            area_start=start,
            fire_threshold=per_area('fire_threshold', fire_threshold).astype(np.float32),
            threshold_limit=per_area('threshold_limit', threshold_limit).astype(np.float32),
            leak_keep=(np.float32(1.0) - leak_arr).astype(np.float32),
            refractory=counters['refractory'].astype(np.uint16),
            consecutive_limit=counters['consecutive_limit'].astype(np.uint16),
            snooze=counters['snooze'].astype(np.uint16),
            psp=per_area('psp', psp).astype(np.float32),
            psp_uniform=per_area('psp_uniform', psp_uniform).astype(bool).astype(np.uint8),
            mp_charge_accumulation=per_area('mp_charge_accumulation', mp_charge_accumulation)
            .astype(bool).astype(np.uint8),
            mp_driven_psp=per_area('mp_driven_psp', mp_driven_psp).astype(bool)
            .astype(np.uint8),
            excitability=exc,
            has_gradient=gradient,
            neuron_threshold=neuron_threshold,
            excitability_id=excitability_id,
            power_neurons=power,
        )

    @classmethod
    def from_connectome(cls, connectome) -> 'NeuronParams':
        """Build the parameters of a brain.connectome.Connectome (NEURON_MODEL §4 conversions)."""
        from feagi_hailo_ros.brain.ids import parse_area_id

        areas = list(connectome.areas)
        layout = connectome.layout
        start = layout.area_start
        n = int(start[-1])
        genes: Dict[str, list] = {name: [] for name in (
            'fire_threshold', 'leak', 'threshold_limit', 'refractory', 'consecutive_limit',
            'snooze', 'psp', 'psp_uniform', 'mp_charge_accumulation', 'mp_driven_psp',
            'excitability')}
        gradient = np.zeros(len(areas), dtype=np.uint8)
        thresholds = None
        power = []
        for a, area in enumerate(areas):
            genes['fire_threshold'].append(area.fire_threshold)
            genes['leak'].append(area.leak_coefficient)
            genes['threshold_limit'].append(area.threshold_limit)
            genes['refractory'].append(area.refractory_period)
            genes['consecutive_limit'].append(area.consecutive_fire_limit)
            genes['snooze'].append(area.snooze_period)
            genes['psp'].append(area.psp)
            genes['psp_uniform'].append(bool(area.psp_uniform))
            genes['mp_charge_accumulation'].append(bool(area.mp_charge_accumulation))
            genes['mp_driven_psp'].append(bool(area.mp_driven_psp))
            genes['excitability'].append(area.excitability)
            lo, hi = int(start[a]), int(start[a + 1])
            inc = np.asarray(area.threshold_increment, dtype=np.float32)
            if hi > lo and np.any(np.abs(inc) > _EPS32):
                if thresholds is None:
                    thresholds = np.zeros(n, dtype=np.float32)
                gradient[a] = 1
                x, y, z = layout.area_coords(a)
                thr = np.float32(area.fire_threshold) + x.astype(np.float32) * inc[0]
                thr = thr + y.astype(np.float32) * inc[1]
                thresholds[lo:hi] = thr + z.astype(np.float32) * inc[2]
            kind = getattr(area, 'core_kind', None) or parse_area_id(area.id).core_kind
            if kind == 'power' and hi > lo:
                power.extend(layout.receivers(a).tolist())
        return cls.from_arrays(
            start, **genes, neuron_threshold=thresholds,
            has_gradient=gradient if thresholds is not None else None,
            excitability_id=np.asarray(connectome.excitability_ids(), dtype=np.uint32),
            power_neurons=power)

    def arrays(self) -> Dict[str, np.ndarray]:
        """Return every array by field name (for saving and kernel calls)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
