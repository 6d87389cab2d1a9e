"""A camera stand-in: publishes a moving pattern on image_raw, for demos and tests without one.

A bright disc circles the frame (passing the top-middle and bottom-middle vision segments,
which the demo brain maps to forward and reverse) over a slowly scrolling dim grid.
"""

import math
import sys
from typing import List, Optional

import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

ENCODINGS = ('rgb8', 'bgr8', 'mono8')


def pattern_frame(t_s: float, width: int, height: int, period_s: float = 4.0) -> np.ndarray:
    """Return the uint8 HxWx3 RGB frame at time t_s (pure function of time, vectorised)."""
    angle = 2.0 * math.pi * t_s / period_s
    cx = width / 2.0 + 0.3 * width * math.sin(angle)
    cy = height / 2.0 - 0.38 * height * math.cos(angle)   # starts at the top
    radius = 0.12 * min(width, height)
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    disc = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2
    shift = int(t_s * 8.0)
    grid = (((cols.astype(np.int64) + shift) // 8 + rows.astype(np.int64) // 8) % 2) * 40
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:, :, 0] = np.where(disc, 255, grid)
    frame[:, :, 1] = np.where(disc, 220, grid)
    frame[:, :, 2] = np.where(disc, 60, grid // 2)
    return frame


def image_message(frame: np.ndarray, encoding: str, stamp, frame_id: str) -> Image:
    """Pack an RGB frame as a sensor_msgs/Image of the given encoding."""
    if encoding == 'bgr8':
        frame = frame[:, :, ::-1]
    elif encoding == 'mono8':
        frame = frame.mean(axis=2).astype(np.uint8)[:, :, None]
    height, width, channels = frame.shape
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                step=width * channels, data=np.ascontiguousarray(frame).tobytes())
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


class SyntheticCamera(Node):
    """Publish `pattern_frame` at `rate_hz` on image_raw."""

    def __init__(self, **kwargs):
        """Declare rate, size, encoding and frame id; start publishing."""
        super().__init__('feagi_hailo_camera', **kwargs)
        self.declare_parameter('rate_hz', 15.0, ParameterDescriptor(
            description='frames per second', read_only=True,
            floating_point_range=[FloatingPointRange(from_value=0.1, to_value=1000.0)]))
        for name, default in (('width', 128), ('height', 96)):
            self.declare_parameter(name, default, ParameterDescriptor(
                description=f'image {name} in pixels', read_only=True,
                integer_range=[IntegerRange(from_value=2, to_value=8192)]))
        self.declare_parameter('encoding', 'rgb8', ParameterDescriptor(
            description='rgb8, bgr8 or mono8', read_only=True,
            additional_constraints='one of: ' + ', '.join(ENCODINGS)))
        self.declare_parameter('frame_id', 'camera', ParameterDescriptor(
            description='header frame_id of the images', read_only=True))
        self.encoding = self.get_parameter('encoding').value
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding '{self.encoding}': use one of {', '.join(ENCODINGS)}")
        self.width = self.get_parameter('width').value
        self.height = self.get_parameter('height').value
        self.frame_id = self.get_parameter('frame_id').value
        self.frames_published = 0
        self._start = self.get_clock().now()
        self._publisher = self.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
        self._timer = self.create_timer(1.0 / self.get_parameter('rate_hz').value,
                                        self._publish)

    def _publish(self) -> None:
        now = self.get_clock().now()
        t_s = (now - self._start).nanoseconds * 1e-9
        frame = pattern_frame(t_s, self.width, self.height)
        self._publisher.publish(image_message(frame, self.encoding, now.to_msg(),
                                              self.frame_id))
        self.frames_published += 1


def main(args: Optional[List[str]] = None) -> int:
    """Publish frames until Ctrl-C or ROS shutdown."""
    rclpy.init(args=args)
    node = None
    try:
        node = SyntheticCamera()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
