"""Every setting of the feagi_hailo node in one table: name, default, meaning, limits.

The table is the single source of names, defaults, ranges and documentation: the node
declares its parameters from it (ros.parameters adds the ROS descriptors), the params YAML
files, the README and the launch file are checked against it in tests, and `validate` gives
the reason a value is refused. No ROS here.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from feagi_hailo_ros.devices.cost_model import DEFAULT_PROFILE, PLACEMENTS, PROFILES

DEVICES = ('cpu', 'emulator', 'hailo', 'auto')


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (which fixes its type), meaning and limits."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    value_range: Optional[Tuple[float, float]] = None
    choices: Optional[Sequence[str]] = None


_RO = True  # read_only: the value is used in on_configure; change it and re-configure

PARAMETERS: List[ParamSpec] = [
    # brain and devices (read at configure)
    ParamSpec('autostart', True, 'configure and activate at start-up (for plain `ros2 run`)',
              _RO),
    ParamSpec('genome', '', 'FEAGI genome JSON path; empty = the built-in demo brain', _RO),
    ParamSpec('synthetic_neurons', 0,
              'when > 0 and genome is empty: a synthetic brain of about this many neurons',
              _RO, (0, 100_000_000)),
    ParamSpec('synthetic_fanout', 10, 'synapses per neuron of the synthetic brain', _RO,
              (1, 10_000)),
    ParamSpec('seed', 0, 'seed of the synthetic brain', _RO, (0, 2**31 - 1)),
    ParamSpec('device', 'cpu', 'where bursts run: cpu | emulator | hailo | auto', _RO,
              choices=DEVICES),
    ParamSpec('partition', 'auto',
              "areas whose integration runs on the accelerator: 'auto' (the planner picks "
              "structured, high fan-in areas), 'size:<min neurons>', or area ids 'a,b'", _RO),
    ParamSpec('devices', 1, 'number of accelerators the device share is split over', _RO,
              (1, 16)),
    ParamSpec('hef_dir', '',
              'device hailo: folder written by `feagi-hailo export` with <partition>/model.hef',
              _RO),
    ParamSpec('device_timeout_ms', 1000.0,
              'a device burst slower than this falls back to the cpu for a while (the '
              'first inference after an open, which compiles and loads, has max(60 s, 10x))',
              _RO,
              (1.0, 60000.0)),
    ParamSpec('shared_device', False,
              'device hailo: share the chip with other processes (hailort.service)', _RO),
    ParamSpec('emulator_latency_ms', 0.0,
              'modelled inference latency of the emulated Hailo (round trip, compute included)',
              _RO, (0.0, 1000.0)),
    ParamSpec('placement', 'device',
              "device partitions: 'device' (always there), 'auto' (only while the cost model "
              "predicts a gain at the measured activity), 'cpu' (none)", _RO,
              choices=PLACEMENTS),
    ParamSpec('device_profile', DEFAULT_PROFILE,
              'device profile of the cost model (estimates): pi5-gen2 | pi5-gen3 | x86-gen3x4; '
              'under placement auto the emulator takes its predicted round trip', _RO,
              choices=tuple(PROFILES)),
    ParamSpec('keep_learned_weights', True,
              'on cleanup then configure, the weights and firing history of plastic mappings '
              'carry over when the genome still has the same plastic mappings; false: they '
              'start as built', False),
    # burst loop (changeable at run time)
    ParamSpec('burst_rate_hz', 30.0, 'bursts per second; changeable at run time', False,
              (0.1, 1000.0)),
    # vision
    ParamSpec('gaze_x', 0.5, 'gaze eccentricity x (0 left .. 1 right)', False, (0.0, 1.0)),
    ParamSpec('gaze_y', 0.5, 'gaze eccentricity y (0 bottom .. 1 top)', False, (0.0, 1.0)),
    ParamSpec('gaze_modulation', 0.5, 'size of the central crop (fraction of the frame)', False,
              (0.01, 1.0)),
    ParamSpec('vision_change_min', 1, 'smallest per-channel change that reaches the brain',
              False, (0, 255)),
    ParamSpec('vision_change_max', 255, 'largest per-channel change that reaches the brain',
              False, (0, 255)),
    ParamSpec('sensor_max_age_s', 0.5,
              'a scalar reading (imu, scan, range, joints) is injected every burst until it '
              'is this old', False, (0.0, 3600.0)),
    # scalar sensors: area ids ('' = first area of the matching unit, 'none' = off)
    ParamSpec('imu_area', '', "input area of imu (Imu); '' = auto by unit, 'none' = off", _RO),
    ParamSpec('imu_accel_range', 19.62, 'linear acceleration mapped to +-1 (m/s^2)', False,
              (1e-6, 1e6)),
    ParamSpec('imu_gyro_range', 8.73, 'angular velocity mapped to +-1 (rad/s)', False,
              (1e-6, 1e6)),
    ParamSpec('proximity_area', '',
              "input area of scan (LaserScan) and range (Range); '' = auto, 'none' = off", _RO),
    ParamSpec('proximity_min_m', 0.05, 'distance mapped to 0', False, (0.0, 1e4)),
    ParamSpec('proximity_max_m', 4.0, 'distance mapped to 1 (and beyond)', False, (1e-3, 1e4)),
    ParamSpec('joint_area', '',
              "input area of joint_states positions; '' = auto, 'none' = off", _RO),
    ParamSpec('joint_names', [''], 'joints in channel order; empty = message order', False),
    ParamSpec('joint_position_min', -3.14159, 'joint position mapped to 0 (rad)', False,
              (-1e4, 1e4)),
    ParamSpec('joint_position_max', 3.14159, 'joint position mapped to 1 (rad)', False,
              (-1e4, 1e4)),
    # motors
    ParamSpec('left_motor_index', 0, 'motor index driving the left wheel', False, (0, 1023)),
    ParamSpec('right_motor_index', 1, 'motor index driving the right wheel', False,
              (0, 1023)),
    ParamSpec('max_wheel_speed', 0.5, 'wheel speed for a motor value of 1 (m/s)', False,
              (1e-6, 100.0)),
    ParamSpec('wheel_separation', 0.3, 'distance between the drive wheels (m)', False,
              (1e-6, 100.0)),
    ParamSpec('max_linear_speed', 0.5, 'cmd_vel linear.x is clamped to +- this (m/s)', False,
              (1e-6, 100.0)),
    ParamSpec('max_angular_speed', 2.0, 'cmd_vel angular.z is clamped to +- this (rad/s)',
              False, (1e-6, 100.0)),
    ParamSpec('cmd_vel_stamped', False, 'publish cmd_vel as TwistStamped instead of Twist',
              _RO),
    ParamSpec('cmd_vel_frame_id', 'base_link', 'frame of a TwistStamped cmd_vel', False),
    ParamSpec('motor_timeout_s', 0.5,
              'motors fall to zero after the motor areas are silent this long (dead-man)',
              False, (0.0, 3600.0)),
    # visualisation and diagnostics
    ParamSpec('frame_id', 'brain', 'frame of fired_neurons and cortical_areas', _RO),
    ParamSpec('viz_rate_hz', 5.0, 'fired_neurons messages per second (0 = off)', False,
              (0.0, 100.0)),
    ParamSpec('viz_max_points', 50_000, 'most points in one fired_neurons cloud', False,
              (1, 10_000_000)),
    ParamSpec('area_scale', 1.0, 'metres per voxel in fired_neurons and cortical_areas', _RO,
              (1e-4, 100.0)),
    ParamSpec('publish_weights_hz', 0.0,
              '~/plastic_weights messages per second: the weights of plastic mappings (0 = off)',
              False, (0.0, 100.0)),
]

PARAMETERS_BY_NAME: Dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


def defaults() -> Dict[str, Any]:
    """Return {name: default} for every parameter."""
    return {spec.name: spec.default for spec in PARAMETERS}


# (low parameter, high parameter, their defaults when absent, whether low may equal high)
_ORDERED_PAIRS = (('vision_change_min', 'vision_change_max', 1, 255, True),
                  ('proximity_min_m', 'proximity_max_m', 0.0, 1.0, False),
                  ('joint_position_min', 'joint_position_max', -1.0, 1.0, False))


def validate(name: str, value: Any, current: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Return why `value` is refused for parameter `name`, or None when it is acceptable.

    `current` holds the other parameters' values, for checks between two parameters
    (vision_change_min <= vision_change_max).
    """
    spec = PARAMETERS_BY_NAME.get(name)
    if spec is None:
        return None  # not ours (use_sim_time, qos overrides...)
    if spec.value_range is not None and not isinstance(value, bool) and \
            isinstance(value, (int, float)):
        low, high = spec.value_range
        if not low <= value <= high:
            return f'{name} = {value} is out of range [{low}, {high}]'
    if spec.choices and value not in spec.choices:
        return f"{name} = '{value}' is not one of {', '.join(spec.choices)}"
    merged = dict(current or {})
    merged[name] = value
    for low_name, high_name, low_default, high_default, may_equal in _ORDERED_PAIRS:
        if name not in (low_name, high_name):
            continue
        low = merged.get(low_name, low_default)
        high = merged.get(high_name, high_default)
        if low > high or (low == high and not may_equal):
            relation = 'must not exceed' if may_equal else 'must be below'
            return f'{low_name} ({low}) {relation} {high_name} ({high})'
    return None


def first_problem(settings: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """Return (name, reason) of the first refused value among all settings, or None.

    rcl checks a start-up value's type and range as it is declared; this adds the choices and
    the checks between two parameters that only `validate` knows.
    """
    for spec in PARAMETERS:
        if spec.name in settings:
            reason = validate(spec.name, settings[spec.name], settings)
            if reason:
                return spec.name, reason
    return None


def clean_string_list(values: Sequence[str]) -> List[str]:
    """Drop the empty strings that stand for an empty list in a string-array parameter."""
    return [value for value in values if value]
