"""The node's sensor inputs in one table: topic, the brain input each feeds, its area.

The ROS layer subscribes from this table (ros.sensor_inbox adds each input's message type
and reader); the brain runtime finds each input's area from it.
"""

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class SensorInput:
    """One scalar sensor input of the node."""

    kind: str                 # the input: imu, proximity, range, joints
    topic: str                # the topic the node subscribes to (relative: remappable)
    area_kind: str            # the brain input it feeds (a Range feeds proximity)
    units: Tuple[str, ...]    # area units (brain.ids) that mark its input area
    area_parameter: str       # the setting naming its area ('' = auto, 'none' = off)
    signed: bool              # values in -1..1 (else 0..1)


SCALAR_INPUTS: Tuple[SensorInput, ...] = (
    SensorInput('imu', 'imu', 'imu', ('rim',), 'imu_area', True),
    SensorInput('proximity', 'scan', 'proximity', ('pro',), 'proximity_area', False),
    SensorInput('range', 'range', 'proximity', ('pro',), 'proximity_area', False),
    SensorInput('joints', 'joint_states', 'joints', ('svm',), 'joint_area', False),
)
VISION_TOPICS = {'raw': 'image_raw', 'compressed': 'image_raw/compressed'}
IMU_AXES = 3                  # accelerometer (or gyroscope) x, y, z


def input_areas() -> Dict[str, Tuple[Tuple[str, ...], str]]:
    """{brain input kind: (area units, area parameter)} of the scalar inputs."""
    return {s.area_kind: (s.units, s.area_parameter) for s in SCALAR_INPUTS}


SCALAR_BY_KIND: Dict[str, SensorInput] = {s.kind: s for s in SCALAR_INPUTS}
