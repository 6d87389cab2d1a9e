"""Motor values to robot commands: differential-drive cmd_vel and a motor array."""

import math
from typing import Tuple

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from std_msgs.msg import Float64MultiArray, Header


def wheels_to_velocity(motors: np.ndarray, left_index: int, right_index: int,
                       max_linear: float, max_angular: float) -> Tuple[float, float]:
    """Return (linear m/s, angular rad/s) of a differential drive from motor values in -1..1.

    A missing or non-finite wheel value counts as 0 (stopped).
    """
    def wheel(index: int) -> float:
        if 0 <= index < len(motors) and math.isfinite(float(motors[index])):
            return max(-1.0, min(1.0, float(motors[index])))
        return 0.0
    left, right = wheel(left_index), wheel(right_index)
    return (left + right) / 2.0 * max_linear, (right - left) / 2.0 * max_angular


def twist(linear: float, angular: float) -> Twist:
    """Return a Twist moving forward at `linear` and turning at `angular`."""
    command = Twist()
    command.linear.x = float(linear)
    command.angular.z = float(angular)
    return command


def twist_stamped(header: Header, linear: float, angular: float) -> TwistStamped:
    """Return a TwistStamped version of `twist`."""
    return TwistStamped(header=header, twist=twist(linear, angular))


def motor_array(motors: np.ndarray) -> Float64MultiArray:
    """Return the motor values as a Float64MultiArray (forward_command_controller layout)."""
    return Float64MultiArray(data=[float(value) for value in np.asarray(motors).ravel()])
