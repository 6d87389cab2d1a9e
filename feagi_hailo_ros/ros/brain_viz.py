"""Messages that show the brain in rviz: fired neurons as a PointCloud2, areas as markers."""

from typing import Sequence, Tuple

from geometry_msgs.msg import Point, Vector3
import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

CLOUD_DTYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
CLOUD_FIELDS = [
    PointField(name=name, offset=CLOUD_DTYPE.fields[name][1], datatype=PointField.FLOAT32,
               count=1)
    for name in CLOUD_DTYPE.names
]


def fired_cloud(header: Header, xyz: np.ndarray, intensity: np.ndarray) -> PointCloud2:
    """Pack points (float32 [k, 3], metres) and intensities into an x, y, z, intensity cloud."""
    points = np.empty(len(xyz), dtype=CLOUD_DTYPE)
    if len(xyz):
        points['x'] = xyz[:, 0]
        points['y'] = xyz[:, 1]
        points['z'] = xyz[:, 2]
        points['intensity'] = intensity
    cloud = PointCloud2()
    cloud.header = header
    cloud.height = 1
    cloud.width = len(points)
    cloud.fields = CLOUD_FIELDS
    cloud.is_bigendian = False
    cloud.point_step = CLOUD_DTYPE.itemsize
    cloud.row_step = CLOUD_DTYPE.itemsize * len(points)
    cloud.is_dense = True
    cloud.data = points.tobytes()
    return cloud


def cloud_points(cloud: PointCloud2) -> np.ndarray:
    """Unpack a cloud packed by `fired_cloud` into a structured array (for tests and tools)."""
    if cloud.point_step != CLOUD_DTYPE.itemsize:
        raise ValueError(f'cloud point_step {cloud.point_step}: expected '
                         f'{CLOUD_DTYPE.itemsize} (x, y, z, intensity float32)')
    return np.frombuffer(bytes(cloud.data), dtype=CLOUD_DTYPE, count=cloud.width)


def area_colour(index: int, count: int, alpha: float) -> ColorRGBA:
    """Return a distinct colour per area index (hue wheel), matching the cloud's intensity."""
    hue = (index / max(1, count)) * 6.0
    sector = int(hue) % 6
    fraction = hue - int(hue)
    rising, falling = fraction, 1.0 - fraction
    r, g, b = [(1, rising, 0), (falling, 1, 0), (0, 1, rising), (0, falling, 1),
               (rising, 0, 1), (1, 0, falling)][sector]
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(alpha))


AreaBox = Tuple[str, Tuple[int, int, int], Tuple[int, int, int]]


def area_markers(header: Header, areas: Sequence[AreaBox],
                 scale_m: float) -> MarkerArray:
    """Return one translucent box and one text label per area (id, position, dims), in voxels."""
    markers = MarkerArray()
    count = len(areas)
    for index, (name, position, dims) in enumerate(areas):
        size = np.asarray(dims, dtype=np.float64) * scale_m
        centre = np.asarray(position, dtype=np.float64) * scale_m + size / 2.0
        box = Marker(header=header, ns='cortical_areas', id=2 * index, type=Marker.CUBE,
                     action=Marker.ADD)
        box.pose.position = Point(x=centre[0], y=centre[1], z=centre[2])
        box.pose.orientation.w = 1.0
        box.scale = Vector3(x=max(size[0], 1e-3), y=max(size[1], 1e-3),
                            z=max(size[2], 1e-3))
        box.color = area_colour(index, count, 0.15)
        label = Marker(header=header, ns='cortical_area_labels', id=2 * index + 1,
                       type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, text=name)
        label.pose.position = Point(x=centre[0], y=centre[1],
                                    z=centre[2] + size[2] / 2.0 + scale_m)
        label.pose.orientation.w = 1.0
        label.scale.z = max(scale_m, 1e-3) * 2.0
        label.color = area_colour(index, count, 1.0)
        markers.markers.append(box)
        markers.markers.append(label)
    return markers
