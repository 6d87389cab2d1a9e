"""Message conversions of the ROS layer, without spinning a node."""

import math
import time

from diagnostic_msgs.msg import DiagnosticStatus
from feagi_hailo_ros.ros import brain_viz, motion, sensor_values
from feagi_hailo_ros.ros.diagnostics import burst_status
from feagi_hailo_ros.ros.parameters import descriptor
from feagi_hailo_ros.runtime import fired_view
from feagi_hailo_ros.runtime.burst_clock import BurstClock
from feagi_hailo_ros.runtime.settings import PARAMETERS, PARAMETERS_BY_NAME, validate
from geometry_msgs.msg import Vector3
import numpy as np
import pytest
from sensor_msgs.msg import Imu, JointState, LaserScan, PointField, Range
from std_msgs.msg import Header
from visualization_msgs.msg import Marker


def test_cloud_packs_xyz_intensity_float32_little_endian():
    xyz = np.array([[0.5, 1.5, 2.5], [-1.0, 0.0, 3.25]], dtype=np.float32)
    intensity = np.array([3.0, 7.0], dtype=np.float32)
    cloud = brain_viz.fired_cloud(Header(frame_id='brain'), xyz, intensity)
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'intensity']
    assert [f.offset for f in cloud.fields] == [0, 4, 8, 12]
    assert all(f.datatype == PointField.FLOAT32 and f.count == 1 for f in cloud.fields)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 2, 16, 32)
    assert not cloud.is_bigendian and cloud.header.frame_id == 'brain'
    raw = np.frombuffer(bytes(cloud.data), dtype='<f4').reshape(2, 4)
    np.testing.assert_array_equal(raw[:, :3], xyz)
    np.testing.assert_array_equal(raw[:, 3], intensity)
    back = brain_viz.cloud_points(cloud)
    np.testing.assert_array_equal(back['intensity'], intensity)


def test_empty_cloud_is_valid():
    cloud = brain_viz.fired_cloud(Header(), np.zeros((0, 3), np.float32), np.zeros(0))
    assert cloud.width == 0 and len(cloud.data) == 0 and cloud.point_step == 16


def test_decimate_caps_and_spreads_evenly():
    indices = np.arange(1000, dtype=np.int64)
    picked = fired_view.decimate(indices, 10)
    assert len(picked) == 10
    np.testing.assert_array_equal(picked, np.arange(0, 1000, 100))
    assert fired_view.decimate(indices[:5], 10) is not None
    np.testing.assert_array_equal(fired_view.decimate(indices[:5], 10), indices[:5])


def test_union_of_fired_sets():
    parts = [np.array([5, 1, 9]), np.array([9, 2]), np.array([], dtype=np.int64)]
    np.testing.assert_array_equal(fired_view.union(parts), [1, 2, 5, 9])
    assert fired_view.union([]).size == 0
    np.testing.assert_array_equal(fired_view.union([np.array([3])]), [3])


def test_area_markers_box_and_label_per_area():
    areas = [('iic400', (10, 0, 0), (4, 2, 1)), ('omot00', (0, 5, 0), (8, 1, 3))]
    markers = brain_viz.area_markers(Header(frame_id='brain'), areas, 0.5).markers
    assert [m.type for m in markers] == [Marker.CUBE, Marker.TEXT_VIEW_FACING] * 2
    assert len({(m.ns, m.id) for m in markers}) == 4
    box = markers[0]
    assert (box.scale.x, box.scale.y, box.scale.z) == (2.0, 1.0, 0.5)
    assert (box.pose.position.x, box.pose.position.y) == (6.0, 0.5)
    assert markers[3].text == 'omot00'
    assert markers[1].pose.position.z > box.pose.position.z


def test_cmd_vel_messages():
    stamped = motion.twist_stamped(Header(frame_id='base_link'), 0.2, -0.1)
    assert stamped.twist.linear.x == 0.2 and stamped.header.frame_id == 'base_link'
    assert list(motion.motor_array(np.array([0.25, -1])).data) == [0.25, -1.0]


def test_imu_normalised_and_nan_refused():
    msg = Imu(linear_acceleration=Vector3(x=9.81, y=-19.62, z=100.0),
              angular_velocity=Vector3(x=0.0, y=1.0, z=-2.0))
    values = sensor_values.imu_values(msg, 19.62, 2.0)
    np.testing.assert_allclose(values, [0.5, -1.0, 1.0, 0.0, 0.5, -1.0])
    msg.angular_velocity.y = math.nan
    with pytest.raises(ValueError, match='non-finite'):
        sensor_values.imu_values(msg, 19.62, 2.0)


def test_scan_sectors_follow_rep117():
    msg = LaserScan(ranges=[1.0, 3.0, math.inf, math.inf, math.nan, 0.5, -math.inf, 2.0])
    values = sensor_values.scan_values(msg, 4, 0.0, 4.0)
    # sectors: [1,3] -> 1.0 m; [inf,inf] -> nothing; [nan,0.5] -> 0.5 m; [-inf,2] -> too close
    np.testing.assert_allclose(values, [0.25, 1.0, 0.125, 0.0])
    with pytest.raises(ValueError, match='no ranges'):
        sensor_values.scan_values(LaserScan(), 4, 0.0, 4.0)
    with pytest.raises(ValueError, match='NaN'):
        sensor_values.scan_values(LaserScan(ranges=[math.nan] * 3), 2, 0.0, 4.0)


def test_range_and_joints():
    np.testing.assert_allclose(sensor_values.range_values(Range(range=1.0), 0.0, 2.0), [0.5])
    with pytest.raises(ValueError):
        sensor_values.range_values(Range(range=math.nan), 0.0, 2.0)
    msg = JointState(name=['a', 'b'], position=[0.0, 1.0])
    np.testing.assert_allclose(sensor_values.joint_values(msg, ['b', 'zz'], -1.0, 1.0),
                               [1.0, 0.5])
    np.testing.assert_allclose(sensor_values.joint_values(msg, [], -1.0, 1.0), [0.5, 1.0])
    with pytest.raises(ValueError, match='names'):
        sensor_values.joint_values(JointState(name=['a'], position=[0.0, 1.0]), [], -1, 1)


def test_burst_clock_skips_ticks_inside_an_overrun_and_never_queues():
    clock = BurstClock(period_s=0.1)
    assert clock.should_run(0.0)
    clock.record(0.0, 0.25, fired=5)          # 2.5 periods: overrun
    assert clock.overruns == 1
    assert not clock.should_run(0.26)         # the late tick of 0.1/0.2 is skipped
    assert clock.skipped == 1
    assert clock.should_run(0.3)              # back on the grid
    clock.record(0.3, 0.31, fired=7)
    assert clock.should_run(0.4) and clock.overruns == 1
    stats = clock.stats(0.31)
    assert stats.bursts == 2 and stats.mean_fired == 6.0
    assert stats.p50_ms == pytest.approx(130.0) and stats.max_ms == pytest.approx(250.0)


def test_burst_clock_achieved_rate():
    clock = BurstClock(period_s=0.01, rate_window_s=1.0)
    for k in range(50):
        clock.record(k * 0.01, k * 0.01 + 0.001, 0)
    assert clock.achieved_rate_hz(0.5) == pytest.approx(100.0, rel=0.01)
    assert clock.achieved_rate_hz(10.0) == 0.0  # stalled: everything left the window


def _stats(**changes):
    clock = BurstClock(0.1)
    clock.record(0.0, 0.01, 3)
    stats = clock.stats(0.01)
    for key, value in changes.items():
        setattr(stats, key, value)
    return stats


def test_diagnostics_levels_and_values():
    status = burst_status('n', 'cpu', {'temperature_c': 40}, _stats(), 10.0, 0, 0, True)
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.OK and status.hardware_id == 'cpu'
    for key in ('achieved_rate_hz', 'burst_p50_ms', 'burst_p99_ms', 'overruns', 'fallbacks',
                'fired_per_burst', 'device_temperature_c'):
        assert key in values
    assert values['fired_per_burst'] == '3.0'
    assert burst_status('n', 'cpu', {}, _stats(), 10.0, 2, 0, True).level == \
        DiagnosticStatus.WARN
    assert burst_status('n', 'cpu', {}, _stats(bursts=10, overruns=5), 10.0, 0, 0,
                        True).level == DiagnosticStatus.WARN
    bad = burst_status('n', 'hailo0', {'healthy': False, 'error': 'in use'}, _stats(), 10.0,
                       0, 0, True)
    assert bad.level == DiagnosticStatus.ERROR and 'in use' in bad.message


def test_parameter_table_and_validation():
    assert len(PARAMETERS_BY_NAME) == len(PARAMETERS)
    for spec in PARAMETERS:
        assert descriptor(spec).description, spec.name
        assert validate(spec.name, spec.default, {}) is None, spec.name
    rate = descriptor(PARAMETERS_BY_NAME['burst_rate_hz'])
    assert not rate.read_only and rate.floating_point_range[0].to_value == 1000.0
    assert descriptor(PARAMETERS_BY_NAME['genome']).read_only
    assert 'out of range' in validate('burst_rate_hz', 0.0)
    assert 'out of range' in validate('burst_rate_hz', 5000.0)
    assert 'not one of' in validate('device', 'gpu')
    assert 'must not exceed' in validate('vision_change_min', 200, {'vision_change_max': 100})
    assert validate('vision_change_min', 50, {'vision_change_max': 100}) is None


def test_synthetic_camera_pattern_moves_and_packs_every_encoding():
    from builtin_interfaces.msg import Time

    from feagi_hailo_ros.io.image import image_to_rgb
    from feagi_hailo_ros.ros.synthetic_camera import (image_message,
                                                      pattern_frame)
    first = pattern_frame(0.0, 120, 90)
    later = pattern_frame(1.0, 120, 90)
    assert first.shape == (90, 120, 3) and first.dtype == np.uint8
    assert np.any(first != later)  # it moves
    # at t = 0 the disc is at the top centre: the top-middle ninth is the brightest
    ninths = first[:30, 40:80].mean(), first[60:, 40:80].mean(), first[30:60, :40].mean()
    assert ninths[0] > 2 * max(ninths[1:])
    for encoding in ('rgb8', 'bgr8', 'mono8'):
        msg = image_message(first, encoding, Time(), 'camera')
        rgb = image_to_rgb(bytes(msg.data), msg.width, msg.height, msg.encoding, msg.step)
        assert rgb.shape == first.shape, encoding
        if encoding != 'mono8':
            np.testing.assert_array_equal(rgb, first)


class RecordingRuntime:
    """Records what the inbox hands to the brain."""

    def __init__(self):
        self.calls = []

    def encode_image(self, **fields):
        self.calls.append(('image', fields['width']))

    def encode_scalars(self, kind, values, signed):
        self.calls.append((kind, list(np.round(values, 3)), signed))

    def channels(self, kind):
        return 2

    def set_vision(self, *values):
        self.calls.append(('vision',) + values)


def test_sensor_inbox_encodes_each_frame_once_and_drops_stale_or_bad_readings():
    from sensor_msgs.msg import Image

    from feagi_hailo_ros.runtime.settings import defaults
    from feagi_hailo_ros.ros.sensor_inbox import SensorInbox
    warnings = []
    inbox = SensorInbox(lambda source, text: warnings.append(source))
    runtime, settings = RecordingRuntime(), defaults()
    inbox.frame_store('raw')(Image(width=4, height=1, encoding='rgb8', step=12,
                                   data=bytes(12)))
    inbox.scalar_store('range')(Range(range=2.0))
    inbox.feed(runtime, settings, time.monotonic())
    inbox.feed(runtime, settings, time.monotonic())   # the frame is not encoded again
    expected = (2.0 - 0.05) / (4.0 - 0.05)
    assert runtime.calls == [('image', 4), ('proximity', [round(expected, 3)], False),
                             ('proximity', [round(expected, 3)], False)]
    runtime.calls.clear()
    inbox.feed(runtime, settings, time.monotonic() + 10.0)   # reading too old: not injected
    assert runtime.calls == []
    bad = Imu()
    bad.linear_acceleration.x = math.nan
    inbox.scalar_store('imu')(bad)
    inbox.feed(runtime, settings, time.monotonic())
    assert warnings == ['imu'] and 'imu' not in inbox.scalars
    runtime.calls.clear()
    inbox.vision_dirty = True
    inbox.feed(runtime, settings, time.monotonic())
    assert runtime.calls[0] == ('vision', 0.5, 0.5, 0.5, 1, 255) and not inbox.vision_dirty
