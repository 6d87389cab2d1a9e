"""Plastic mapping rules as FEAGI 2.6.10 loads them (NEURON_MODEL §4b, loading steps 1, 2, 5).

A rule is plastic iff its plasticity_flag is JSON `true`. Its parameters are truncated toward
zero and checked; a rule that fails stops its source area's building (the builder applies
that, step 3), a plastic object missing one of the four parameters is dropped whole.
"""

from dataclasses import dataclass
import math
from typing import Any, Dict, Optional, Tuple

import numpy as np

PARAMETER_KEYS = ('plasticity_constant', 'ltp_multiplier', 'ltd_multiplier',
                  'plasticity_window')
MODES = ('stdp', 'rstdp', 'off')
_RATE_MAX = 255


@dataclass(frozen=True)
class PlasticParams:
    """A valid plastic rule's parameters, truncated as FEAGI holds them."""

    constant: int
    ltp: int
    ltd: int
    window: int
    mode: str = 'stdp'
    eta: float = 1.0
    max_weight: Optional[float] = None

    @property
    def d_plus(self) -> np.float32:
        """LTP step: min(255, max(0, c * ltp)) * eta in float32."""
        return np.float32(min(_RATE_MAX, max(0, self.constant * self.ltp))) \
            * np.float32(self.eta)

    @property
    def d_minus(self) -> np.float32:
        """LTD step: min(255, max(0, c * ltd)) * eta in float32."""
        return np.float32(min(_RATE_MAX, max(0, self.constant * self.ltd))) \
            * np.float32(self.eta)

    @property
    def learns(self) -> bool:
        """Whether weights change without reward: STDP with a non-zero step."""
        return self.mode == 'stdp' and (self.d_plus > 0 or self.d_minus > 0)

    def describe(self) -> str:
        """One line: the parameters as read and the steps they give."""
        text = (f'{self.mode}, c {self.constant}, ltp {self.ltp}, ltd {self.ltd}, window '
                f'{self.window}, d+ {float(self.d_plus):g}, d- {float(self.d_minus):g}')
        if self.eta != 1.0:
            text += f', eta {self.eta:g}'
        if self.max_weight is not None:
            text += f', max_weight {self.max_weight:g}'
        return text


@dataclass(frozen=True)
class RulePlasticity:
    """What loading makes of a rule's plasticity: status 'static', 'plastic', 'fail', 'drop'."""

    status: str = 'static'
    params: Optional[PlasticParams] = None
    reason: str = ''


STATIC = RulePlasticity()


def read_plasticity(values: Dict[str, Any], is_object: bool) -> RulePlasticity:
    """Read a rule's plasticity from its keys (array elements 3..7 or object keys)."""
    if values.get('plasticity_flag') is not True:        # JSON true only; 1 is not
        return STATIC
    mode = values.get('plasticity_mode', 'stdp') if is_object else 'stdp'
    extra = [k for k in ('plasticity_eta', 'max_weight') if is_object and k in values]
    if mode == 'off':
        if extra:
            return _fail(f"{' and '.join(extra)} with plasticity_mode 'off'")
        return STATIC
    if is_object:
        missing = [k for k in PARAMETER_KEYS if k not in values]
        if missing:
            return RulePlasticity('drop', reason=f'plastic rule object without '
                                  f'{", ".join(missing)}')
    numbers = []
    for key in PARAMETER_KEYS:       # an array of 4 to 7 elements lacks them: 0
        value = _truncated(values.get(key, 0))
        if value is None:
            return _fail(f'{key} {_shown(values.get(key))} is not a finite number')
        numbers.append(value)
    constant, ltp, ltd, window = numbers
    if window < 1:
        return _fail(f'plasticity_window {window} < 1' + (
            '' if 'plasticity_window' in values else ' (a rule array of 4 to 7 elements)'))
    for name, value in (('ltp_multiplier', ltp), ('ltd_multiplier', ltd)):
        if not -128 <= value <= 127:
            return _fail(f'{name} {value} is outside -128..127')
    if mode not in MODES:
        return _fail(f'plasticity_mode {_shown(mode)} is not stdp, rstdp or off')
    eta, max_weight = 1.0, None
    if 'plasticity_eta' in extra:
        eta = _number(values['plasticity_eta'])
        if eta is None or not eta > 0:
            return _fail(f'plasticity_eta {_shown(values["plasticity_eta"])} is not a finite '
                         'number > 0')
    if 'max_weight' in extra:
        max_weight = _number(values['max_weight'])
        if max_weight is None or not max_weight > 0:
            return _fail(f'max_weight {_shown(values["max_weight"])} is not a number > 0')
        max_weight = float(np.float32(max_weight))
    return RulePlasticity('plastic', PlasticParams(constant, ltp, ltd, window, mode,
                                                   float(eta), max_weight))


def _fail(reason: str) -> RulePlasticity:
    return RulePlasticity('fail', reason=reason)


def _number(value: Any) -> Optional[float]:
    """A finite JSON number as float, else None (booleans and text are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _truncated(value: Any) -> Optional[int]:
    """A JSON number truncated toward zero (2.7 -> 2, -2.7 -> -2), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    return None if number is None else int(math.trunc(number))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def rule_plasticity_from_json(data: Optional[dict]) -> RulePlasticity:
    """Rebuild a RulePlasticity from its `asdict` form (a connectome file's header)."""
    if not data:
        return STATIC
    params = data.get('params')
    return RulePlasticity(data.get('status', 'static'),
                          PlasticParams(**params) if params else None, data.get('reason', ''))


def pair_table(pairs: Dict[Tuple[str, str], PlasticParams]) -> list:
    """Rows [src, dst, params] (JSON-ready) of registered plastic pairs, sorted."""
    return [[src, dst, params.__dict__.copy()] for (src, dst), params in sorted(pairs.items())]
