"""What the robot is commanded: motor values held by a dead-man, and a differential drive.

The brain's motor areas speak in some bursts only: a motor that spoke keeps its value until
it is silent for `motor_timeout_s` (then it reads 0, so a quiet brain stops the robot); the
left and right wheel motors become cmd_vel (linear, angular) within the drive limits.
"""

from typing import Any, Dict, Mapping, Tuple

from feagi_hailo_ros.io import motors as io_motors
import numpy as np

DRIVE_SETTINGS = ('max_wheel_speed', 'wheel_separation', 'max_linear_speed',
                  'max_angular_speed')


def drive_limits(settings: Mapping[str, Any]) -> io_motors.DriveLimits:
    """The drive limits of the settings (ValueError naming a bad one)."""
    return io_motors.DriveLimits(
        max_wheel_speed_mps=settings['max_wheel_speed'],
        wheel_separation_m=settings['wheel_separation'],
        max_linear_mps=settings['max_linear_speed'],
        max_angular_rps=settings['max_angular_speed'])


class MotorOutput:
    """Motor values (dead-man held) and the drive command derived from two of them."""

    def __init__(self, motor_count: int, settings: Mapping[str, Any]):
        """All motors at zero; limits, timeout and wheel indices from the settings."""
        self._dead_man = io_motors.DeadMan(motor_count, settings['motor_timeout_s'])
        self._settings: Dict[str, Any] = {}
        self._limits = drive_limits(settings)
        self.values = np.zeros(int(motor_count))
        self.apply(settings)

    def apply(self, settings: Mapping[str, Any]) -> None:
        """Take new settings (drive limits, timeout, wheel indices) into effect."""
        if any(settings.get(k) != self._settings.get(k) for k in DRIVE_SETTINGS):
            self._limits = drive_limits(settings)
        self._dead_man.timeout_s = float(settings['motor_timeout_s'])
        self._settings = dict(settings)

    def update(self, now_s: float, values: np.ndarray, spoke: np.ndarray) -> np.ndarray:
        """Take the motors that spoke this burst; return the values now (silent ones: 0)."""
        if np.any(spoke):
            self._dead_man.update(now_s, values, spoke)
        self.values = self._dead_man.output(now_s)
        return self.values

    def stop(self) -> np.ndarray:
        """Zero every motor now (deactivate, shutdown); return the zeros."""
        self._dead_man.stop()
        self.values = np.zeros_like(self.values)
        return self.values

    def drive(self) -> Tuple[float, float]:
        """(linear m/s, angular rad/s) of the wheel motors (a missing index reads 0)."""
        motors, s = self.values, self._settings
        left, right = (float(motors[i]) if 0 <= i < len(motors) else 0.0
                       for i in (s['left_motor_index'], s['right_motor_index']))
        return io_motors.differential_drive(left, right, self._limits)
