"""Helpers for the ROS tests: a probe node that records topics, images, bounded spinning."""

import time
from typing import Callable, Dict, List

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Float64MultiArray
from visualization_msgs.msg import MarkerArray


def rgb_image(frame: np.ndarray, encoding: str = 'rgb8') -> Image:
    """Return a sensor_msgs/Image of an HxWx3 uint8 frame (rgb8 or bgr8)."""
    if encoding == 'bgr8':
        frame = frame[:, :, ::-1]
    height, width = frame.shape[:2]
    return Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                 step=width * 3, data=np.ascontiguousarray(frame).tobytes())


def top_middle_frame(size: int = 64, bright: bool = True) -> np.ndarray:
    """A frame lit only in its top-middle ninth (FEAGI segment 7), or all black."""
    frame = np.zeros((size, size, 3), dtype=np.uint8)
    if bright:
        frame[:size // 4, size // 3:2 * size // 3] = 255
    return frame


class Probe:
    """A plain node that publishes test inputs and records what the brain node publishes."""

    def __init__(self, namespace: str = '/', cmd_vel_type=Twist, image_topic: str = 'image_raw',
                 cmd_vel_topic: str = 'cmd_vel'):
        """Subscribe to every output of the node in `namespace`."""
        self.node = rclpy.create_node('feagi_probe', namespace=namespace)
        self.received: Dict[str, List] = {}
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for topic, msg_type, qos in (
                (cmd_vel_topic, cmd_vel_type, 10), ('motor_commands', Float64MultiArray, 10),
                ('fired_neurons', PointCloud2, 10), ('cortical_areas', MarkerArray, latched),
                ('/diagnostics', DiagnosticArray, 10)):
            key = 'cmd_vel' if topic == cmd_vel_topic else topic
            self.received[key] = []
            self.node.create_subscription(
                msg_type, topic, lambda msg, k=key: self.received[k].append(msg), qos)
        self.image_pub = self.node.create_publisher(Image, image_topic,
                                                    qos_profile_sensor_data)

    def clear(self) -> None:
        """Forget everything received so far."""
        for messages in self.received.values():
            messages.clear()


def spin_until(executor, predicate: Callable[[], bool], timeout_s: float,
               every: Callable[[], None] = None) -> bool:
    """Spin until predicate() holds or timeout_s passes; call every() between spins."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if every is not None:
            every()
        executor.spin_once(timeout_sec=0.01)
        if predicate():
            return True
    return predicate()


def make_executor(*nodes) -> SingleThreadedExecutor:
    """Return an executor holding the nodes."""
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    return executor
