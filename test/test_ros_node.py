"""The feagi_hailo node over real DDS: lifecycle, frames to motors, parameters, faults."""

import json
import math
import time

from diagnostic_msgs.msg import DiagnosticStatus
from feagi_hailo_ros.ros.brain_viz import cloud_points
from feagi_hailo_ros.ros.node import FeagiHailoNode
from feagi_hailo_ros.runtime.burst_clock import WarnThrottle
import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from ros_harness import make_executor, Probe, rgb_image, spin_until, top_middle_frame
from sensor_msgs.msg import Image, Imu, JointState, LaserScan
from visualization_msgs.msg import MarkerArray

pytestmark = pytest.mark.ros


@pytest.fixture
def genome_path(data_dir):
    return str(data_dir / 'essential_genome.json')


def make_node(genome: str, **overrides) -> FeagiHailoNode:
    values = {'genome': genome, 'autostart': False, 'burst_rate_hz': 50.0,
              'viz_rate_hz': 25.0, 'motor_timeout_s': 0.3}
    values.update(overrides)
    return FeagiHailoNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


@pytest.fixture
def harness(ros_context, genome_path):
    node = make_node(genome_path)
    probe = Probe()
    executor = make_executor(node, probe.node)
    try:
        yield node, probe, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.node.destroy_node()


def _last_values(messages):
    return list(messages[-1].data) if messages else None


def test_lifecycle_configure_activate_deactivate_cleanup(harness):
    node, probe, executor = harness
    assert node.runtime is None
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.runtime is not None and node.runtime.motor_count == 4
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert spin_until(executor, lambda: probe.received['cortical_areas'] and
                      len(probe.received['fired_neurons']) >= 2 and
                      probe.received['/diagnostics'], 20.0)  # first burst may JIT-compile
    markers = probe.received['cortical_areas'][-1].markers
    labels = [m.text for m in markers if m.text]
    assert len(markers) == 2 * len(node.runtime.areas) and any('omot00' in t for t in labels)
    status = probe.received['/diagnostics'][-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert values['device'] == 'cpu' and int(values['bursts']) > 0
    assert node.burst_stats().bursts > 0
    # transient-local: a subscriber that comes after activation still gets the areas
    late = []
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.node.create_subscription(MarkerArray, 'cortical_areas', late.append, latched)
    assert spin_until(executor, lambda: late, 5.0)
    assert len(late[0].markers) == len(markers)

    bursts_before = node.burst_stats().bursts
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    spin_until(executor, lambda: False, 0.3)   # messages sent before it may still arrive
    probe.clear()
    spin_until(executor, lambda: False, 0.3)
    assert node.burst_stats().bursts == bursts_before  # the timer stopped
    assert not probe.received['fired_neurons']
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.runtime is None
    # and the cycle can start again
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS


def test_missing_genome_fails_configure_with_reason(ros_context, tmp_path):
    node = make_node(str(tmp_path / 'no_such_genome.json'))
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.runtime is None
        assert node.autostart() is True  # autostart is off here: nothing to do
    finally:
        node.destroy_node()


def test_top_middle_vision_drives_motors_forward_then_dead_man_stops(harness):
    node, probe, executor = harness
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    frames = [rgb_image(top_middle_frame(bright=True)), rgb_image(top_middle_frame(bright=False))]
    sent = [0]

    def publish_frame():
        probe.image_pub.publish(frames[sent[0] % 2])
        sent[0] += 1

    def forward():
        values = _last_values(probe.received['motor_commands'])
        return values is not None and values == [1.0, 1.0, 1.0, 1.0]

    assert spin_until(executor, forward, 8.0, every=publish_frame), \
        f'motor_commands: {_last_values(probe.received["motor_commands"])}'
    twist = probe.received['cmd_vel'][-1]
    assert twist.linear.x == pytest.approx(0.5) and twist.angular.z == pytest.approx(0.0)
    # fired_neurons shows points inside the areas that fired (vision top-middle among them)
    area_index = [a.id for a in node.runtime.areas].index('iic700')
    clouds = [cloud_points(c) for c in probe.received['fired_neurons'] if c.width]
    assert any(np.any(points['intensity'] == area_index) for points in clouds)
    iic700 = node.runtime.areas[area_index]
    lit = np.concatenate([p[p['intensity'] == area_index] for p in clouds])
    assert np.all(lit['x'] >= iic700.position[0]) and \
        np.all(lit['x'] <= iic700.position[0] + iic700.dims[0])
    # no more frames: the motor area falls silent and the dead-man zeroes the motors
    assert spin_until(executor, lambda: _last_values(probe.received['motor_commands'])
                      == [0.0] * 4, 3.0)
    assert probe.received['cmd_vel'][-1].linear.x == 0.0
    # deactivate publishes a final zero as well
    probe.clear()
    node.trigger_deactivate()
    assert spin_until(executor, lambda: probe.received['cmd_vel'], 2.0)
    assert probe.received['cmd_vel'][-1].linear.x == 0.0


def test_parameters_are_validated_and_burst_rate_changes_at_run_time(harness):
    node, probe, executor = harness
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    for name, value in (('burst_rate_hz', 0.0), ('burst_rate_hz', 5000.0),
                        ('vision_change_min', 300)):
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and result.reason, (name, value)
    result = node.set_parameters_atomically([Parameter('vision_change_max', value=10),
                                             Parameter('vision_change_min', value=20)])
    assert not result.successful and 'vision_change_min' in result.reason
    assert node.get_parameter('vision_change_max').value == 255  # nothing was applied
    result = node.set_parameters([Parameter('genome', value='/other.json')])[0]
    assert not result.successful  # read-only: needs a re-configure
    assert node.get_parameter('burst_rate_hz').value == 50.0

    assert node.set_parameters([Parameter('burst_rate_hz', value=10.0)])[0].successful
    spin_until(executor, lambda: False, 0.3)
    start = node.burst_stats().bursts
    started = time.monotonic()
    spin_until(executor, lambda: False, 1.0)
    rate = (node.burst_stats().bursts - start) / (time.monotonic() - started)
    assert 3.0 <= rate <= 12.0, rate  # 10 Hz asked (50 before); a loaded machine lags


def test_bad_inputs_warn_and_never_stop_the_bursts(harness):
    node, probe, executor = harness
    node.set_parameters([Parameter('imu_area', value='none')])  # read-only: refused, fine
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    good = rgb_image(top_middle_frame())
    bad = [
        Image(height=4, width=4, encoding='weird16', step=8, data=bytes(32)),
        Image(height=4, width=4, encoding='rgb8', step=12, data=bytes(10)),   # truncated
        Image(height=4, width=4, encoding='rgb8', step=6, data=bytes(48)),    # step < row
        Image(height=0, width=0, encoding='rgb8', step=0, data=b''),         # empty
    ]
    for msg in bad:
        before = node.bad_inputs
        bursts = node.burst_stats().bursts
        probe.image_pub.publish(msg)
        assert spin_until(executor, lambda: node.bad_inputs > before and
                          node.burst_stats().bursts > bursts + 2, 3.0), msg.encoding
    # a new frame size is re-planned, not refused
    before = node.bad_inputs
    for size in (64, 48, 96):
        probe.image_pub.publish(rgb_image(top_middle_frame(size)))
        spin_until(executor, lambda: False, 0.1)
    probe.image_pub.publish(good)
    spin_until(executor, lambda: False, 0.1)
    # rows padded beyond width * 3 (step > row) and a mono8 frame are fine too
    frame = top_middle_frame(32)
    padded = np.zeros((32, 32 * 3 + 8), np.uint8)
    padded[:, :32 * 3] = frame.reshape(32, -1)
    probe.image_pub.publish(Image(height=32, width=32, encoding='rgb8', step=32 * 3 + 8,
                                  data=padded.tobytes()))
    spin_until(executor, lambda: False, 0.1)
    probe.image_pub.publish(Image(height=32, width=32, encoding='mono8', step=32,
                                  data=frame[:, :, 0].tobytes()))
    spin_until(executor, lambda: False, 0.1)
    assert node.bad_inputs == before and node.burst_errors == 0


def _area_genes(area_id: str, dims, position, fire_t: float = 1.0) -> dict:
    genes = {'___bbx-i': dims[0], '___bby-i': dims[1], '___bbz-i': dims[2],
             'rcordx-i': position[0], 'rcordy-i': position[1], 'rcordz-i': position[2],
             '_n_cnt-i': 1, 'fire_t-f': fire_t, 'dstmap-d': {}, '__name-t': area_id}
    return {f'_____10c-{area_id}-cx-{gene}': value for gene, value in genes.items()}


@pytest.fixture
def scalar_genome(tmp_path):
    """A genome with IMU, proximity and servo-position inputs and a legacy motor area."""
    blueprint = {}
    for area_id, dims, position in (('i__imu', (12, 1, 10), (0, 0, 0)),
                                    ('i__pro', (4, 1, 10), (20, 0, 0)),
                                    ('i_spos', (2, 1, 10), (30, 0, 0)),
                                    ('omot00', (4, 1, 1), (40, 0, 0))):
        blueprint.update(_area_genes(area_id, dims, position))
    path = tmp_path / 'scalar_genome.json'
    path.write_text(json.dumps({'genome_id': 'scalar-test', 'genome_title': 'scalar test',
                                'version': '2.0', 'neuron_morphologies': {},
                                'blueprint': blueprint}))
    return str(path)


def _fired_cells(node, clouds, area_id):
    """(x, z) voxel cells of one area seen in the clouds (area_scale 1, voxel centres)."""
    index = [a.id for a in node.runtime.areas].index(area_id)
    area = node.runtime.areas[index]
    cells = set()
    for points in clouds:
        mine = points[points['intensity'] == index]
        for x, z in zip(mine['x'], mine['z']):
            cells.add((int(x - 0.5 - area.position[0]), int(z - 0.5 - area.position[2])))
    return cells


def test_scalar_sensors_reach_their_areas_and_nan_is_ignored(ros_context, scalar_genome):
    node = make_node(scalar_genome, viz_rate_hz=50.0)
    probe = Probe()
    imu_pub = probe.node.create_publisher(Imu, 'imu', qos_profile_sensor_data)
    scan_pub = probe.node.create_publisher(LaserScan, 'scan', qos_profile_sensor_data)
    joint_pub = probe.node.create_publisher(JointState, 'joint_states', qos_profile_sensor_data)
    executor = make_executor(node, probe.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.runtime.inputs == {'imu', 'proximity', 'joints'}
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        imu = Imu()
        imu.linear_acceleration.x = 9.81        # +0.5 of 19.62: column 0, z = 5
        imu.angular_velocity.z = -8.73          # -1.0: gyro z negative, column 11, z = 0
        scan = LaserScan(ranges=[0.05, 4.0, 4.0, 4.0])   # sector 0 at min range: value 0
        joints = JointState(name=['a', 'b'], position=[3.14159, -3.14159])

        def publish():
            imu_pub.publish(imu)
            scan_pub.publish(scan)
            joint_pub.publish(joints)

        def clouds():
            return [cloud_points(c) for c in probe.received['fired_neurons'] if c.width]

        assert spin_until(executor, lambda: len(clouds()) >= 3 and
                          _fired_cells(node, clouds(), 'i__imu'), 5.0, every=publish)
        spin_until(executor, lambda: False, 0.2, every=publish)
        # slot = channel*3 + axis, x = 2*slot + (v < 0); v = 0 fires both columns at z = d-1
        zeros = {(2 * slot + sign, 9) for slot in (1, 2, 3, 4) for sign in (0, 1)}
        assert _fired_cells(node, clouds(), 'i__imu') == {(0, 5), (11, 0)} | zeros
        # proximity: distance 0 -> z = 9 (1 - 0 = 100% far scale: z = d-1), far -> z = 0
        assert _fired_cells(node, clouds(), 'i__pro') == {(0, 9), (1, 0), (2, 0), (3, 0)}
        assert _fired_cells(node, clouds(), 'i_spos') == {(0, 0), (1, 9)}
        before = node.bad_inputs
        bursts = node.burst_stats().bursts
        imu.angular_velocity.x = math.nan
        scan.ranges = [math.nan] * 4
        assert spin_until(executor, lambda: node.bad_inputs >= before + 2 and
                          node.burst_stats().bursts > bursts + 5, 3.0, every=publish)
        assert node.burst_errors == 0
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.node.destroy_node()


def test_compressed_frames_and_twist_stamped(ros_context, genome_path):
    import cv2
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import CompressedImage
    node = make_node(genome_path, cmd_vel_stamped=True)
    probe = Probe(cmd_vel_type=TwistStamped)
    stamped = probe.received['cmd_vel']
    compressed_pub = probe.node.create_publisher(CompressedImage, 'image_raw/compressed',
                                                 qos_profile_sensor_data)
    executor = make_executor(node, probe.node)
    pngs = []
    for bright in (True, False):
        ok, encoded = cv2.imencode('.png', top_middle_frame(bright=bright)[:, :, ::-1])
        assert ok
        pngs.append(CompressedImage(format='png', data=encoded.tobytes()))
    sent = [0]

    def publish():
        compressed_pub.publish(pngs[sent[0] % 2])
        sent[0] += 1

    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert spin_until(executor, lambda: stamped and stamped[-1].twist.linear.x > 0.0,
                          8.0, every=publish)
        assert stamped[-1].header.frame_id == 'base_link'
        before = node.bad_inputs
        compressed_pub.publish(CompressedImage(format='jpeg', data=b'not a jpeg'))
        assert spin_until(executor, lambda: node.bad_inputs > before, 3.0)
        assert node.burst_errors == 0
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.node.destroy_node()


class SlowRuntime:
    """A stand-in brain whose bursts take longer than the burst period."""

    device_name = 'fake'
    motor_count = 2
    inputs = set()
    areas = []
    fallbacks = 0

    def __init__(self, burst_s: float):
        self.burst_s = burst_s
        self.closed = False

    def summary(self) -> str:
        return 'slow fake brain'

    def area_boxes(self):
        return [('slow', (0, 0, 0), (1, 1, 1))]

    def burst(self):
        time.sleep(self.burst_s)
        return np.array([0], dtype=np.int64)

    def decode_motors(self, fired):
        return np.array([0.5, 0.5]), np.array([True, True])

    def fired_points(self, indices, scale):
        return np.zeros((len(indices), 3), np.float32), np.zeros(len(indices), np.float32)

    def health(self):
        return {'healthy': True}

    def close(self):
        self.closed = True


def test_overrunning_bursts_are_skipped_not_queued(ros_context):
    made = []

    def factory(settings, logger):
        made.append(SlowRuntime(burst_s=0.025))
        return made[-1]

    node = FeagiHailoNode(runtime_factory=factory, parameter_overrides=[
        Parameter('autostart', value=False), Parameter('burst_rate_hz', value=100.0)])
    executor = make_executor(node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        started = time.monotonic()
        spin_until(executor, lambda: False, 1.0)
        elapsed = time.monotonic() - started
        stats = node.burst_stats()
        # each burst takes 2.5 periods: at most one burst per 3 periods, no backlog after
        assert stats.bursts <= elapsed / 0.025 + 1
        assert stats.overruns >= stats.bursts - 1 and stats.overruns > 0
        assert stats.p50_ms >= 25.0
        assert list(node.motor_values) == [0.5, 0.5]
        node.trigger_deactivate()
        assert list(node.motor_values) == [0.0, 0.0]
        node.trigger_cleanup()
        assert made[0].closed
    finally:
        executor.shutdown()
        node.destroy_node()


def test_device_choice_hailo_without_hailort_fails_with_help_auto_falls_to_cpu(
        ros_context, genome_path):
    from feagi_hailo_ros.engine.factory import hailo_available
    from feagi_hailo_ros.runtime.loading import build_runtime
    from feagi_hailo_ros.runtime.settings import defaults
    settings = dict(defaults(), genome=genome_path, device='auto')
    runtime = build_runtime(settings)
    try:
        assert runtime.device_name == ('hailo' if hailo_available() else 'cpu')
    finally:
        runtime.close()
    if hailo_available():
        pytest.skip('HailoRT is installed here: the failure path cannot be shown')
    with pytest.raises(Exception, match='HailoRT'):
        build_runtime(dict(settings, device='hailo'))
    node = make_node(genome_path, device='hailo')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


def test_emulator_device_bursts_and_reports_health(ros_context, genome_path):
    from feagi_hailo_ros.runtime.loading import build_runtime
    from feagi_hailo_ros.runtime.settings import defaults
    runtime = build_runtime(dict(defaults(), device='emulator'))  # the demo brain
    try:
        assert runtime.device_name == 'emulator'
        health = runtime.health()
        assert health['partitions'] >= 1 and health['p0_mode'] == 'device'
        assert health['p0_emulated'] is True
        frame = top_middle_frame(96)
        runtime.encode_frame(frame)
        fired = [runtime.burst() for _ in range(4)]
        assert len(fired[0]) > 0 and runtime.fallbacks == 0
    finally:
        runtime.close()


def test_device_fault_falls_back_and_diagnostics_warn(ros_context):
    from feagi_hailo_ros.devices.emulator import EmulatedHailo
    from feagi_hailo_ros.runtime.loading import build_runtime
    from feagi_hailo_ros.testing.faulty import FaultPlan, FaultyDevice

    def factory(settings, logger):
        # inference 10: well after the configure-time warm-up bursts (and their prefetch)
        return build_runtime(settings, logger, device_factory=lambda p: FaultyDevice(
            EmulatedHailo(p.name), FaultPlan(fail_on={10})))

    node = FeagiHailoNode(runtime_factory=factory, parameter_overrides=[
        Parameter('autostart', value=False), Parameter('device', value='emulator'),
        Parameter('burst_rate_hz', value=50.0)])
    probe = Probe()
    executor = make_executor(node, probe.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

        def warned():
            messages = probe.received['/diagnostics']
            return messages and 'fallback' in messages[-1].status[0].message

        assert spin_until(executor, warned, 8.0)
        status = probe.received['/diagnostics'][-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        assert status.level == DiagnosticStatus.WARN and values['fallbacks'] == '1'
        assert 'injected failure' in values['device_last_fault']
        bursts = node.burst_stats().bursts
        assert spin_until(executor, lambda: node.burst_stats().bursts > bursts + 10, 3.0)
        assert node.burst_errors == 0
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.node.destroy_node()


def test_lifecycle_services_drive_the_node_over_dds(harness):
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    node, probe, executor = harness
    change = probe.node.create_client(ChangeState, '/feagi_hailo/change_state')
    get = probe.node.create_client(GetState, '/feagi_hailo/get_state')
    assert spin_until(executor, lambda: change.service_is_ready() and get.service_is_ready(),
                      5.0)

    def call(client, request):
        future = client.call_async(request)
        assert spin_until(executor, future.done, 10.0)
        return future.result()

    for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert call(change, ChangeState.Request(
            transition=Transition(id=transition))).success
    assert call(get, GetState.Request()).current_state.id == State.PRIMARY_STATE_ACTIVE
    assert spin_until(executor, lambda: probe.received['motor_commands'], 5.0)
    assert call(change, ChangeState.Request(
        transition=Transition(id=Transition.TRANSITION_DEACTIVATE))).success
    assert call(get, GetState.Request()).current_state.id == State.PRIMARY_STATE_INACTIVE


def test_warnings_are_rate_limited_per_source(ros_context, genome_path):
    node = make_node(genome_path)
    logged = []
    node.get_logger = lambda: type('Logger', (), {'warning': lambda self, t: logged.append(t)})()
    try:
        for _ in range(5):
            node._warn('image_raw', 'image_raw frame ignored: short data')
        node._warn('imu', 'imu reading ignored: NaN')
        assert node.bad_inputs == 6
        assert logged == ['image_raw frame ignored: short data', 'imu reading ignored: NaN']
    finally:
        del node.get_logger
        node.destroy_node()
    throttle = WarnThrottle(logged.append, period_s=5.0)
    for now_s in (100.0, 101.0, 102.0, 103.0, 104.0):
        throttle.warn('image_raw', 'short data', now_s)
    throttle.warn('image_raw', 'short data', 105.5)
    assert throttle.count == 6 and logged[-2:] == [
        'short data', 'short data (4 more from image_raw since the last warning)']
