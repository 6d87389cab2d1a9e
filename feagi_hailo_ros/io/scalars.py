"""FEAGI 2.6 scalar encoding (NEURON_MODEL §7a) and normalisation of ROS-unit values.

A normalised value v (0..1 unsigned, -1..1 signed) fires one neuron of potential 1.0 in its
column at z = min(d-1, floor((1 - |v|) * d)) (float32), so z = 0 means 100%:
- unsigned: column x = channel;
- signed: column 2*channel for v >= 0, 2*channel + 1 for v < 0; v = 0 fires both at z = d-1;
- multi-axis (IMU accelerometer, gyroscope): x = channel*2*axes + axis*2 + (v < 0).
Values reach the encoders already normalised; `normalize_unsigned` / `normalize_signed` turn
ROS units into them with a configured range (clamped) and reject NaN and inf with a reason.
"""

from typing import Sequence, Tuple

import numpy as np

from .injections import Injections

_F32 = np.float32


class ScalarRejected(ValueError):
    """A sensor value that cannot be encoded (NaN or inf); the message says which and why."""


def _finite(values: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        raise ScalarRejected(f'{what}: value {values.ravel()[first]} at index {first} is not '
                             f'finite; the sample is skipped')


def _check_range(value_range: Tuple[float, float], what: str) -> Tuple[float, float]:
    lo, hi = float(value_range[0]), float(value_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f'{what}: range ({lo}, {hi}) must be finite with max > min')
    return lo, hi


def normalize_unsigned(values, value_range: Tuple[float, float],
                       what: str = 'sensor') -> np.ndarray:
    """Map values from value_range = (min, max) linearly to 0..1, clamped (float64)."""
    lo, hi = _check_range(value_range, what)
    arr = np.asarray(values, dtype=np.float64)
    _finite(arr, what)
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0)


def normalize_signed(values, value_range: Tuple[float, float],
                     what: str = 'sensor') -> np.ndarray:
    """Map values from value_range = (min, max) linearly to -1..1, clamped (float64).

    A symmetric range (-L, L) gives v / L, so 0 stays 0.
    """
    lo, hi = _check_range(value_range, what)
    arr = np.asarray(values, dtype=np.float64)
    _finite(arr, what)
    return np.clip(2.0 * (arr - lo) / (hi - lo) - 1.0, -1.0, 1.0)


def magnitude_z(magnitudes, depth: int) -> np.ndarray:
    """Return the z of each magnitude in 0..1: min(d-1, floor((1 - m) * d)) in float32."""
    if depth < 1:
        raise ValueError(f'scalar area depth {depth} must be >= 1')
    m = np.asarray(magnitudes, dtype=_F32)
    z = np.floor((_F32(1.0) - m) * _F32(depth)).astype(np.int64)
    return np.minimum(z, depth - 1).astype(np.int32)


def _check_values(values, lo: float, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    _finite(arr, what)
    if arr.size and (arr.min() < lo or arr.max() > 1.0):
        raise ValueError(f'{what}: values must be normalised to {lo:g}..1 first '
                         f'(got {arr.min():g}..{arr.max():g})')
    return arr


def encode_unsigned(values, depth: int, what: str = 'scalar') -> Tuple[np.ndarray, np.ndarray]:
    """(x, z) of the neurons for unsigned values 0..1, one per channel (x = channel)."""
    arr = _check_values(values, 0.0, what).ravel()
    return np.arange(arr.size, dtype=np.int32), magnitude_z(arr, depth)


def encode_signed(values, depth: int, what: str = 'scalar') -> Tuple[np.ndarray, np.ndarray]:
    """(x, z) for signed values -1..1: column 2c (v >= 0) or 2c+1 (v < 0); v = 0 fires both."""
    arr = _check_values(values, -1.0, what).ravel()
    channel = np.arange(arr.size, dtype=np.int32)
    negative = arr < 0
    zero = arr == 0
    x = np.concatenate([2 * channel + negative, 2 * channel[zero] + 1])
    z = np.concatenate([magnitude_z(np.abs(arr), depth),
                        np.full(int(zero.sum()), depth - 1, np.int32)])
    order = np.lexsort((z, x))
    return x[order].astype(np.int32), z[order]


def encode_multi_axis(values, depth: int, what: str = 'imu') -> Tuple[np.ndarray, np.ndarray]:
    """(x, z) for values of shape (channels, axes): x = channel*2*axes + axis*2 + (v < 0)."""
    arr = _check_values(values, -1.0, what)
    if arr.ndim != 2:
        raise ValueError(f'{what}: multi-axis values need shape (channels, axes), '
                         f'not {arr.shape}')
    return encode_signed(arr.ravel(), depth, what)  # (c, a) flattened: slot c*axes + a


def scalar_injections(area_ids: Sequence[str], area_index: int, x: np.ndarray,
                      z: np.ndarray, width: int) -> Injections:
    """Injections (potential 1.0, y = 0) for one scalar area; columns must fit its width."""
    if x.size and int(x.max()) >= width:
        raise ValueError(f'area {area_ids[area_index]!r}: column {int(x.max())} does not fit '
                         f'its x size {width} (too many channels for the area)')
    n = x.size
    return Injections(tuple(area_ids), np.full(n, area_index, np.int32),
                      x.astype(np.int32), np.zeros(n, np.int32), z.astype(np.int32),
                      np.ones(n, np.float32))
