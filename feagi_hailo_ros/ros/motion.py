"""Robot command messages: cmd_vel (Twist or TwistStamped) and the motor array."""

from geometry_msgs.msg import Twist, TwistStamped
import numpy as np
from std_msgs.msg import Float64MultiArray, Header


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
