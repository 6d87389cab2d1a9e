"""FEAGI 2.6 motor decoding (NEURON_MODEL §7a), gaze decoding, differential drive and a dead-man.

Decoders take the fired neurons of one output area as coordinate arrays (x, y, z) and return
one float64 per motor. A motor whose column(s) did not fire gets `silent` (0.0 by default;
FEAGI latches the last value instead, see `DeadMan` for what we do about it).
"""

from dataclasses import dataclass
import math
from typing import Optional, Tuple

import numpy as np


def _columns(x, z, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Validated int64 x and z arrays; neurons outside 0..width-1 are dropped."""
    x = np.asarray(x, dtype=np.int64).ravel()
    z = np.asarray(z, dtype=np.int64).ravel()
    if x.shape != z.shape:
        raise ValueError(f'fired coordinates: {x.size} x values but {z.size} z values')
    keep = (x >= 0) & (x < width)
    return x[keep], z[keep]


def _mean_z(x: np.ndarray, z: np.ndarray, columns: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-column (mean z, fired) over the column's fired neurons."""
    count = np.bincount(x, minlength=columns)[:columns]
    total = np.bincount(x, weights=z, minlength=columns)[:columns]
    fired = count > 0
    return np.divide(total, count, out=np.zeros(columns), where=fired), fired


def decode_rotary(x, z, channels: int, depth: int, silent: float = 0.0) -> np.ndarray:
    """2.x rotary motor, linear: x = motor, value = 1 - 2*mean(z)/(d-1) (d = 1 gives 0)."""
    x, z = _columns(x, z, channels)
    mean, fired = _mean_z(x, z, channels)
    value = 1.0 - 2.0 * mean / (depth - 1) if depth > 1 else np.zeros(channels)
    return np.where(fired, value, silent)


def decode_rotary_fractional(x, z, channels: int, silent: float = 0.0) -> np.ndarray:
    """2.x rotary motor, fractional: x = 2*motor (+) or 2*motor+1 (-), value = sum of 0.5^z."""
    x, z = _columns(x, z, 2 * channels)
    sign = np.where(x % 2 == 1, -1.0, 1.0)
    value = np.bincount(x // 2, weights=sign * np.power(0.5, z), minlength=channels)
    fired = np.bincount(x // 2, minlength=channels) > 0
    return np.where(fired, value[:channels], silent)


def decode_servo(x, z, channels: int, depth: int, silent: float = 0.0) -> np.ndarray:
    """2.x servo position (unsigned, linear): x = servo, value = 1 - mean(z)/(d-1) in 0..1."""
    x, z = _columns(x, z, channels)
    mean, fired = _mean_z(x, z, channels)
    value = 1.0 - mean / (depth - 1) if depth > 1 else np.ones(channels)
    return np.where(fired, value, silent)


def decode_legacy_motor(x, z, width: int, depth: int, silent: float = 0.0) -> np.ndarray:
    """Legacy `omot00`: motor = x // 2, even x forward, odd x reverse.

    Each column's magnitude is (z+1)/d averaged over its fired neurons (d = 1: full); a motor
    is forward - reverse, so one firing column gives +m or -m and both cancel.
    """
    motors = (width + 1) // 2
    x, z = _columns(x, z, width)
    count = np.bincount(x, minlength=2 * motors)
    total = np.bincount(x, weights=(z + 1) / float(depth), minlength=2 * motors)
    magnitude = np.divide(total, count, out=np.zeros(2 * motors), where=count > 0)
    value = magnitude[0::2] - magnitude[1::2]
    fired = (count[0::2] + count[1::2]) > 0
    return np.where(fired, value, silent)


def decode_area(kind: str, x, z, dims: Tuple[int, int, int],
                silent: float = 0.0) -> np.ndarray:
    """Decode one motor area by the kind `io.areas.find_motor_areas` gives it."""
    width, _, depth = dims
    if kind == 'legacy':
        return decode_legacy_motor(x, z, width, depth, silent)
    if kind == 'rotary':
        return decode_rotary(x, z, width, depth, silent)
    if kind == 'rotary_fractional':
        return decode_rotary_fractional(x, z, width // 2, silent)
    if kind == 'servo':
        return decode_servo(x, z, width, depth, silent)
    raise ValueError(f'unknown motor kind {kind!r}; known: legacy, rotary, '
                     f'rotary_fractional, servo')


def decode_gaze(x, z, dims: Tuple[int, int, int]) -> Tuple[Optional[float], Optional[float],
                                                           Optional[float]]:
    """Decode the gaze eccentricity area (`ogaz00`, 2.x `gaz` index 0): (ex, ey, None).

    As FEAGI 2.6 reads it (checked through feagi-rust-py-libs 0.0.120): column 0 is
    eccentricity x, column 1 eccentricity y (y up), each 1 - mean(z)/(d-1) like a servo
    position (d = 1: 1.0). Other columns (legacy ogaz00 is 4 wide) belong to further gaze
    channels and are ignored. The modulation lives in its own area (2.x `gaz` index 1, see
    `decode_gaze_modulation`), so the third value is always None here. A column that did not
    fire gives None: keep the current value (FEAGI latches it).
    """
    width, _, depth = dims
    values = decode_servo(x, z, min(width, 2), depth, silent=math.nan)
    out = [None if math.isnan(v) else float(v) for v in values] + [None, None]
    return out[0], out[1], None


def decode_gaze_modulation(x, z, dims: Tuple[int, int, int]) -> Optional[float]:
    """Decode the gaze modulation area (2.x `gaz` index 1): column 0, 1 - mean(z)/(d-1).

    None when it did not fire or decodes to 0 (a crop of no size; keep the current value).
    """
    width, _, depth = dims
    value = float(decode_servo(x, z, min(width, 1), depth, silent=math.nan)[0])
    return None if math.isnan(value) or value <= 0.0 else value


@dataclass(frozen=True)
class DriveLimits:
    """Differential-drive geometry and limits for turning wheel commands into a Twist."""

    max_wheel_speed_mps: float = 0.5   # wheel speed for a motor value of 1.0
    wheel_separation_m: float = 0.3
    max_linear_mps: float = 0.5
    max_angular_rps: float = 2.0

    def __post_init__(self):
        """Reject non-positive or non-finite limits with the name of the bad one."""
        for name in ('max_wheel_speed_mps', 'wheel_separation_m', 'max_linear_mps',
                     'max_angular_rps'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'drive limit {name} = {value} must be finite and > 0')


def differential_drive(left: float, right: float, limits: DriveLimits) -> Tuple[float, float]:
    """(linear m/s, angular rad/s) from left/right motor values in -1..1 (clamped)."""
    left = min(1.0, max(-1.0, float(left))) if math.isfinite(left) else 0.0
    right = min(1.0, max(-1.0, float(right))) if math.isfinite(right) else 0.0
    v_left = left * limits.max_wheel_speed_mps
    v_right = right * limits.max_wheel_speed_mps
    linear = (v_left + v_right) / 2.0
    angular = (v_right - v_left) / limits.wheel_separation_m
    linear = min(limits.max_linear_mps, max(-limits.max_linear_mps, linear))
    angular = min(limits.max_angular_rps, max(-limits.max_angular_rps, angular))
    return linear, angular


class DeadMan:
    """Hold motor values while the brain speaks; zero them after `timeout_s` of silence.

    FEAGI latches the last motor value; a robot must stop when its brain goes quiet, so the
    node calls `update(now_s, values)` when a motor area fired and `output(now_s)` each burst.
    """

    def __init__(self, size: int, timeout_s: float):
        """Start with all motors at zero."""
        if not (math.isfinite(timeout_s) and timeout_s >= 0):
            raise ValueError(f'dead-man timeout {timeout_s} s must be finite and >= 0')
        self.timeout_s = float(timeout_s)
        self._values = np.zeros(int(size))
        self._last_s = np.full(int(size), -math.inf)

    def update(self, now_s: float, values, fired=None) -> None:
        """Record new values (only where `fired` is true, if given) at time now_s."""
        values = np.asarray(values, dtype=np.float64)
        mask = np.ones(self._values.size, bool) if fired is None else np.asarray(fired, bool)
        self._values[mask] = values[mask]
        self._last_s[mask] = now_s

    def output(self, now_s: float) -> np.ndarray:
        """Current values; motors silent for longer than the timeout read 0."""
        return np.where(now_s - self._last_s <= self.timeout_s, self._values, 0.0)

    def stop(self) -> None:
        """Zero everything now (deactivate)."""
        self._values[:] = 0.0
        self._last_s[:] = -math.inf
