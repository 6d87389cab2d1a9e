"""The newest message of each sensor input, stored by callbacks and encoded once per burst.

Callbacks only store (nothing heavy runs in them); at burst time `feed` converts the newest
unseen frame and the fresh scalar readings and hands them to the brain runtime's encoders.
A malformed message is reported through `warn(source, text)` and skipped. The inputs are
runtime.sensors.SCALAR_INPUTS; `SCALAR_MESSAGES` gives each its message type and reader.
"""

import math
import time
from typing import Any, Callable, Dict, Optional, Tuple

from feagi_hailo_ros.ros import sensor_values
from feagi_hailo_ros.runtime.sensors import SCALAR_BY_KIND, VISION_TOPICS
from feagi_hailo_ros.runtime.settings import clean_string_list
import numpy as np
from sensor_msgs.msg import Imu, JointState, LaserScan, Range

Reader = Callable[[Any, Dict[str, Any], Any], np.ndarray]

# kind (runtime.sensors) -> (message type, reader(msg, settings, runtime) -> values)
SCALAR_MESSAGES: Dict[str, Tuple[type, Reader]] = {
    'imu': (Imu, lambda msg, s, runtime: sensor_values.imu_values(
        msg, s['imu_accel_range'], s['imu_gyro_range'])),
    'proximity': (LaserScan, lambda msg, s, runtime: sensor_values.scan_values(
        msg, runtime.channels('proximity'), s['proximity_min_m'], s['proximity_max_m'])),
    'range': (Range, lambda msg, s, runtime: sensor_values.range_values(
        msg, s['proximity_min_m'], s['proximity_max_m'])),
    'joints': (JointState, lambda msg, s, runtime: sensor_values.joint_values(
        msg, clean_string_list(s['joint_names']), s['joint_position_min'],
        s['joint_position_max'])),
}


class SensorInbox:
    """Hold the newest frame (until encoded) and the newest reading of each scalar input."""

    def __init__(self, warn: Callable[[str, str], None]):
        """Start empty; `warn(source, text)` reports bad inputs."""
        self._warn = warn
        self.frame: Optional[Tuple[str, Any]] = None   # (raw|compressed, msg) not yet encoded
        self.scalars: Dict[str, Tuple[float, Any]] = {}  # kind -> (receipt time, msg)
        self.last_frame_arrival_s = -math.inf
        self.vision_dirty = False   # gaze or change range changed: apply before the next frame

    def frame_store(self, kind: str) -> Callable[[Any], None]:
        """Return the callback that keeps the newest frame of `kind` (raw or compressed)."""
        def store(msg) -> None:
            self.frame = (kind, msg)
            self.last_frame_arrival_s = time.monotonic()
        return store

    def scalar_store(self, kind: str) -> Callable[[Any], None]:
        """Return the callback that keeps the newest reading of a scalar input."""
        def store(msg) -> None:
            self.scalars[kind] = (time.monotonic(), msg)
        return store

    def clear(self) -> None:
        """Forget everything stored (deactivate)."""
        self.frame = None
        self.scalars = {}

    def feed(self, runtime, settings: Dict[str, Any], now_s: float) -> None:
        """Encode the newest unseen frame and the fresh scalar readings into the brain."""
        if self.vision_dirty:
            self.vision_dirty = False
            try:
                runtime.set_vision(settings['gaze_x'], settings['gaze_y'],
                                   settings['gaze_modulation'], settings['vision_change_min'],
                                   settings['vision_change_max'])
            except ValueError as exc:
                self._warn('vision parameters', f'gaze/vision parameters not applied: {exc}')
        frame, self.frame = self.frame, None
        if frame is not None:
            kind, msg = frame
            try:
                if kind == 'raw':
                    runtime.encode_image(**sensor_values.image_fields(msg))
                else:
                    runtime.encode_compressed(msg.format, msg.data)
            except ValueError as exc:
                topic = VISION_TOPICS[kind]
                self._warn(topic, f'{topic} frame ignored: {exc}')
        for kind, (received_s, msg) in list(self.scalars.items()):
            if now_s - received_s > settings['sensor_max_age_s']:
                continue
            sensor = SCALAR_BY_KIND[kind]
            try:
                values = SCALAR_MESSAGES[kind][1](msg, settings, runtime)
                runtime.encode_scalars(sensor.area_kind, values, signed=sensor.signed)
            except ValueError as exc:
                self._warn(kind, f'{kind} reading ignored: {exc}')
                del self.scalars[kind]
