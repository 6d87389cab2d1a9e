"""ROS sensor messages to plain values: image fields, and scalars normalised by configured ranges.

Each function raises ValueError naming the message and the fault (NaN, empty, short data) so
that the node can warn and carry on; none of them touches the brain.
"""

import math
from typing import Dict, Sequence

from feagi_hailo_ros.io.scalars import normalize_unsigned
import numpy as np


def image_fields(msg) -> Dict[str, object]:
    """Return the fields of a sensor_msgs/Image that the io image converter needs.

    `data` is the message's own buffer (array('B')), not a copy: the converter only reads it.
    """
    return {
        'encoding': msg.encoding, 'width': int(msg.width), 'height': int(msg.height),
        'step': int(msg.step), 'is_bigendian': bool(msg.is_bigendian),
        'data': msg.data,
    }


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise ValueError(f'{what}: non-finite values {values.tolist()} (NaN or inf); '
                         'message ignored')
    return values


def imu_values(msg, accel_range: float, gyro_range: float) -> np.ndarray:
    """Return accelerometer x, y, z then gyroscope x, y, z of an Imu, each in -1..1."""
    accel = np.array([msg.linear_acceleration.x, msg.linear_acceleration.y,
                      msg.linear_acceleration.z], dtype=np.float64)
    gyro = np.array([msg.angular_velocity.x, msg.angular_velocity.y,
                     msg.angular_velocity.z], dtype=np.float64)
    values = np.concatenate([accel / accel_range, gyro / gyro_range])
    return np.clip(_finite(values, 'imu'), -1.0, 1.0)


def scan_values(msg, sectors: int, min_m: float, max_m: float) -> np.ndarray:
    """Return the nearest distance in each of `sectors` equal slices of a LaserScan, in 0..1.

    Per REP 117, +inf is "nothing in range" (1.0) and -inf "too close" (0.0); NaN readings
    are left out, and a sector of only NaN reads as nothing in range. Sector 0 starts at
    angle_min.
    """
    ranges = np.asarray(msg.ranges, dtype=np.float64)
    if ranges.size == 0:
        raise ValueError('scan: no ranges; message ignored')
    if sectors < 1:
        raise ValueError(f'scan: {sectors} sectors requested; the proximity area needs >= 1')
    if np.all(np.isnan(ranges)):
        raise ValueError('scan: every range is NaN; message ignored')
    ranges = np.where(np.isnan(ranges), np.inf, ranges)
    ranges = np.where(ranges == -np.inf, min_m, np.minimum(ranges, max_m))
    edges = (np.arange(sectors + 1) * ranges.size) // sectors
    nearest = np.full(sectors, max_m, dtype=np.float64)
    for sector in range(sectors):  # one per proximity channel: a handful, not per neuron
        chunk = ranges[edges[sector]:edges[sector + 1]]
        if chunk.size:
            nearest[sector] = chunk.min()
    return normalize_unsigned(nearest, (min_m, max_m), 'scan')


def range_values(msg, min_m: float, max_m: float) -> np.ndarray:
    """Return a sensor_msgs/Range reading as one value in 0..1 (REP 117 infinities)."""
    distance = float(msg.range)
    if math.isnan(distance):
        raise ValueError('range: NaN reading; message ignored')
    if distance == -math.inf:
        distance = min_m
    return normalize_unsigned([min(distance, max_m)], (min_m, max_m), 'range')


def joint_values(msg, names: Sequence[str], low: float, high: float) -> np.ndarray:
    """Return joint positions in 0..1 (`names` order, or the message's when names is empty).

    A joint named in `names` but absent from the message reads 0.5 (mid-range).
    """
    positions = np.asarray(msg.position, dtype=np.float64)
    if positions.size == 0:
        raise ValueError('joint_states: no positions; message ignored')
    if len(msg.name) not in (0, positions.size):
        raise ValueError(f'joint_states: {len(msg.name)} names for {positions.size} '
                         'positions; message ignored')
    if names:
        index = {name: i for i, name in enumerate(msg.name)}
        picked = np.array([positions[index[name]] if name in index else
                           (low + high) / 2.0 for name in names], dtype=np.float64)
    else:
        picked = positions
    _finite(picked, 'joint_states')
    return normalize_unsigned(picked, (low, high), 'joint_states')
