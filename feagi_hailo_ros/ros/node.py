"""The feagi_hailo lifecycle node: sensors in, bursts on a timer, motors and brain views out.

The node only moves messages and parameters: the brain, encoders and decoders live behind
`BrainRuntime` (runtime/), motor values and the drive command in `MotorOutput`, the burst
loop's bookkeeping in `BurstClock`, the diagnostics in `BurstDiagnosticsTask`.
"""

import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from feagi_hailo_ros.ros import brain_viz, motion, plastic_weights
from feagi_hailo_ros.ros.diagnostics import BurstDiagnosticsTask, diagnostic_array
from feagi_hailo_ros.ros.parameters import descriptor
from feagi_hailo_ros.ros.sensor_inbox import SCALAR_MESSAGES, SensorInbox
from feagi_hailo_ros.runtime.burst_clock import BurstClock, RateGate, SampleWindow, WarnThrottle
from feagi_hailo_ros.runtime.fired_view import FiredView
from feagi_hailo_ros.runtime.motor_output import MotorOutput
from feagi_hailo_ros.runtime.sensors import SCALAR_INPUTS, VISION_TOPICS
from feagi_hailo_ros.runtime.settings import PARAMETERS, validate
from geometry_msgs.msg import Twist, TwistStamped
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image, PointCloud2
from std_msgs.msg import Float32MultiArray, Float64MultiArray, Header
from visualization_msgs.msg import MarkerArray

NODE_NAME = 'feagi_hailo'
WARN_PERIOD_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
STOP_ACK_S = 0.5        # on stop, wait at most this long for the zero command's acks

RuntimeFactory = Callable[[Dict[str, Any], Any], Any]

# Published topics and their types: the rviz config and the tests check against this table.
PUBLISHED = {
    'cmd_vel': (Twist, TwistStamped),
    'motor_commands': (Float64MultiArray,),
    'fired_neurons': (PointCloud2,),
    'cortical_areas': (MarkerArray,),
    '/diagnostics': (DiagnosticArray,),
    '~/plastic_weights': (Float32MultiArray,),
}


def default_runtime_factory(settings: Dict[str, Any], logger) -> Any:
    """Build the brain runtime (genome, engine, devices, encoders) from the node's settings."""
    from feagi_hailo_ros.runtime.loading import build_runtime
    return build_runtime(settings, logger)


class FeagiHailoNode(LifecycleNode):
    """Run a FEAGI brain at a fixed burst rate on ROS sensor data and publish motor commands."""

    def __init__(self, runtime_factory: Optional[RuntimeFactory] = None, **kwargs):
        """Declare every parameter; nothing is loaded before configure."""
        super().__init__(NODE_NAME, **kwargs)
        self._runtime_factory = runtime_factory or default_runtime_factory
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        self._settings: Dict[str, Any] = {
            spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        self.add_on_set_parameters_callback(self._validate_parameters)
        if hasattr(self, 'add_post_set_parameters_callback'):
            self.add_post_set_parameters_callback(self._apply_parameters)
        self._runtime = None
        self._motors: Optional[MotorOutput] = None
        self._burst_clock = BurstClock(1.0 / self._settings['burst_rate_hz'])
        self._burst_timer = None
        self._diag_timer = None
        self._diagnostics = BurstDiagnosticsTask(f'{self.get_name()}: burst engine')
        self._sensor_subs: List[Any] = []
        self._pub: Dict[str, Any] = {}
        self._warnings = WarnThrottle(lambda text: self.get_logger().warning(text),
                                      WARN_PERIOD_S)
        self._inbox = SensorInbox(self._warn)   # newest message per input
        self._fired_view = FiredView()
        self._weights_gate = RateGate()
        self._learned = None                    # learned state kept from cleanup to configure
        self._active = False
        self.burst_errors = 0
        self.published: Dict[str, int] = dict.fromkeys(PUBLISHED, 0)
        self.engine_ms = SampleWindow()   # engine-only time per burst
        self.inputs_ms = SampleWindow()   # input conversion and encoding per burst

    # ---------------------------------------------------------------- parameters
    def _validate_parameters(self, parameters) -> SetParametersResult:
        """Refuse the whole batch, with the reason, if any value is out of bounds."""
        merged = dict(self._settings)
        merged.update({p.name: p.value for p in parameters})
        for parameter in parameters:
            reason = validate(parameter.name, parameter.value, merged)
            if reason:
                self.get_logger().warning(f'parameter refused: {reason}')
                return SetParametersResult(successful=False, reason=reason)
        if not hasattr(self, 'add_post_set_parameters_callback'):
            self._apply_parameters(parameters)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters) -> None:
        """Take accepted values into effect: a new burst rate recreates the timer."""
        for parameter in parameters:
            self._settings[parameter.name] = parameter.value
        names = {p.name for p in parameters}
        if self._motors is not None:
            self._motors.apply(self._settings)
        if 'burst_rate_hz' in names:
            self._burst_clock.set_period(1.0 / self._settings['burst_rate_hz'])
            if self._burst_timer is not None:
                self._start_burst_timer()
                self.get_logger().info(f"burst rate now {self._settings['burst_rate_hz']} Hz")
        if names & {'gaze_x', 'gaze_y', 'gaze_modulation', 'vision_change_min',
                    'vision_change_max'}:
            self._inbox.vision_dirty = True

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the brain, open its devices and create the publishers."""
        try:
            self._runtime = self._runtime_factory(dict(self._settings), self.get_logger())
        except Exception as exc:  # noqa: B902 - any failure to build the brain fails configure
            self.get_logger().error(f'configure failed: {exc}')
            self._runtime = None
            return TransitionCallbackReturn.FAILURE
        self._burst_clock = BurstClock(1.0 / self._settings['burst_rate_hz'])
        self._motors = MotorOutput(self._runtime.motor_count, self._settings)
        sensor_reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        cmd_type = TwistStamped if self._settings['cmd_vel_stamped'] else Twist
        self._pub = {
            'cmd_vel': self.create_lifecycle_publisher(cmd_type, 'cmd_vel', 10),
            'motor_commands': self.create_lifecycle_publisher(
                Float64MultiArray, 'motor_commands', 10),
            'fired_neurons': self.create_lifecycle_publisher(
                PointCloud2, 'fired_neurons', sensor_reliable),
            'cortical_areas': self.create_lifecycle_publisher(
                MarkerArray, 'cortical_areas', latched),
            '/diagnostics': self.create_publisher(DiagnosticArray, '/diagnostics', 10),
            '~/plastic_weights': self.create_lifecycle_publisher(
                Float32MultiArray, '~/plastic_weights', 1),
        }
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        startup = getattr(self._runtime, 'startup_summary', None)
        self.get_logger().info(
            f'configured: {self._runtime.summary()} on device {self._runtime.device_name}'
            + (f'; {startup()}' if callable(startup) else ''))
        if self._learned is not None:
            self._runtime.carry_learned(self._learned, self._settings['keep_learned_weights'])
            self._learned = None
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the burst timer and the sensor subscriptions; publish the area markers."""
        result = super().on_activate(state)
        self._subscribe()
        self._active = True
        self._motors.stop()
        self._publish(
            'cortical_areas', brain_viz.area_markers(
                self._header(), self._runtime.area_boxes(), self._settings['area_scale']))
        self._start_burst_timer()
        self.get_logger().info(f"active: bursting at {self._settings['burst_rate_hz']} Hz")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop bursting and listening, and command the motors to zero."""
        self._stop_burst_timer()
        for subscription in self._sensor_subs:
            self.destroy_subscription(subscription)
        self._sensor_subs = []
        self._active = False
        self._publish_motors(self._motors.stop())
        self._inbox.clear()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Keep what the brain learned; release the devices, the brain and the publishers."""
        take = getattr(self._runtime, 'learned_state', None)
        self._learned = take() if callable(take) else None
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Zero the motors if still active, then release everything."""
        if self._active:
            self.on_deactivate(state)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release what can be released; the node goes back to unconfigured."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        self._stop_burst_timer()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        for name, publisher in self._pub.items():
            if name == '/diagnostics':
                self.destroy_publisher(publisher)
            else:
                self.destroy_lifecycle_publisher(publisher)
        self._pub = {}
        if self._runtime is not None:
            try:
                self._runtime.close()
            finally:
                self._runtime = None

    def autostart(self) -> bool:
        """Configure then activate when the `autostart` parameter is set; False on failure."""
        if not self._settings['autostart']:
            return True
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    # ---------------------------------------------------------------- inputs
    def _subscribe(self) -> None:
        """Subscribe to the inputs the brain has an area for (runtime.sensors)."""
        inputs, qos = self._runtime.inputs, qos_profile_sensor_data
        if 'vision' in inputs:
            for kind, msg_type in (('raw', Image), ('compressed', CompressedImage)):
                self._sensor_subs.append(self.create_subscription(
                    msg_type, VISION_TOPICS[kind], self._inbox.frame_store(kind), qos))
        for sensor in SCALAR_INPUTS:
            if sensor.area_kind in inputs:
                self._sensor_subs.append(self.create_subscription(
                    SCALAR_MESSAGES[sensor.kind][0], sensor.topic,
                    self._inbox.scalar_store(sensor.kind), qos))

    def _warn(self, source: str, text: str) -> None:
        """Count a bad input; warn at most once per WARN_PERIOD_S for each input source."""
        self._warnings.warn(source, text)

    @property
    def bad_inputs(self) -> int:
        """Bad input messages so far (each skipped, never stopping the bursts)."""
        return self._warnings.count

    # ---------------------------------------------------------------- bursts
    def _start_burst_timer(self) -> None:
        self._stop_burst_timer()
        self._burst_timer = self.create_timer(
            1.0 / self._settings['burst_rate_hz'], self._on_burst_tick)

    def _stop_burst_timer(self) -> None:
        if self._burst_timer is not None:
            self.destroy_timer(self._burst_timer)
            self._burst_timer = None

    def _on_burst_tick(self) -> None:
        """Run one burst unless the previous one overran into this tick (skip, never queue)."""
        start_s = time.monotonic()
        if self._runtime is None or not self._burst_clock.should_run(start_s):
            return
        fired = np.zeros(0, dtype=np.int64)
        try:
            inputs_start_s = time.perf_counter()
            self._inbox.feed(self._runtime, self._settings, start_s)
            engine_start_s = time.perf_counter()
            fired = self._runtime.burst()
            engine_end_s = time.perf_counter()
            self.inputs_ms.add((engine_start_s - inputs_start_s) * 1000.0)
            self.engine_ms.add((engine_end_s - engine_start_s) * 1000.0)
            self._motors.update(start_s, *self._runtime.decode_motors(fired))
        except Exception as exc:  # noqa: B902 - a robot's brain loop must keep running
            self.burst_errors += 1
            self.get_logger().error(f'burst failed: {exc!r}',
                                    throttle_duration_sec=WARN_PERIOD_S)
        self._publish_motors(self._motors.values)
        shown = self._fired_view.add(start_s, fired, self._settings['viz_rate_hz'],
                                     self._settings['viz_max_points'])
        if shown is not None:
            self._publish_fired(shown)
        if self._weights_gate.due(start_s, self._settings['publish_weights_hz']):
            self._publish_weights()
        self._burst_clock.record(start_s, time.monotonic(), len(fired))

    # ---------------------------------------------------------------- outputs
    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=self._settings['frame_id'])

    def _publish(self, name: str, msg) -> None:
        publisher = self._pub.get(name)
        if publisher is not None:
            publisher.publish(msg)
            self.published[name] += 1

    def _publish_motors(self, motors: np.ndarray) -> None:
        linear, angular = self._motors.drive()
        if self._settings['cmd_vel_stamped']:
            header = Header(stamp=self.get_clock().now().to_msg(),
                            frame_id=self._settings['cmd_vel_frame_id'])
            self._publish('cmd_vel', motion.twist_stamped(header, linear, angular))
        else:
            self._publish('cmd_vel', motion.twist(linear, angular))
        self._publish('motor_commands', motion.motor_array(motors))

    def _publish_fired(self, shown: np.ndarray) -> None:
        """Publish fired neurons (already decimated) as a point cloud."""
        xyz, intensity = self._runtime.fired_points(shown, self._settings['area_scale'])
        self._publish('fired_neurons', brain_viz.fired_cloud(self._header(), xyz, intensity))

    def _publish_weights(self) -> None:
        weights = self._runtime.plastic_weights()
        if weights is not None:
            self._publish('~/plastic_weights', plastic_weights.weights_array(weights))

    def _publish_diagnostics(self) -> None:
        if self._runtime is None:
            return
        status = self._diagnostics.run(
            self._runtime, self._burst_clock.stats(time.monotonic()),
            self._settings['burst_rate_hz'], self.bad_inputs, self.burst_errors, self._active,
            {'engine': self.engine_ms, 'inputs': self.inputs_ms})
        self._publish('/diagnostics', diagnostic_array(self.get_clock().now().to_msg(), status))

    def stop_motors(self) -> None:
        """Stop bursting and send zero motor commands if the context still allows it."""
        self._stop_burst_timer()
        if self._motors is None:
            return
        zeros = self._motors.stop()
        if self._active and rclpy.ok(context=self.context):
            try:
                self._publish_motors(zeros)
                # the process may exit right after: give the subscribers time to get it
                # (acks follow the writer's heartbeat, so this may use the whole budget)
                deadline = time.monotonic() + STOP_ACK_S
                for name in ('cmd_vel', 'motor_commands'):
                    left = deadline - time.monotonic()
                    if name in self._pub and left > 0:
                        self._pub[name].wait_for_all_acked(Duration(seconds=left))
            except Exception:  # noqa: B902 - shutting down: nothing more can be done
                pass

    @property
    def last_frame_arrival_s(self) -> float:
        """Monotonic time the newest camera frame arrived (for latency measurements)."""
        return self._inbox.last_frame_arrival_s

    def burst_stats(self):
        """Return the burst loop's statistics now (for the demo and tests)."""
        return self._burst_clock.stats(time.monotonic())

    @property
    def motor_values(self) -> np.ndarray:
        """The motor values last published."""
        return np.zeros(0) if self._motors is None else self._motors.values.copy()

    @property
    def runtime(self):
        """The brain runtime while configured, else None."""
        return self._runtime


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(args: Optional[List[str]] = None) -> int:
    """Run the node until Ctrl-C or ROS shutdown; exit 1 when autostart cannot configure.

    A params file or parameter value the node cannot start with ends it with one error line
    (the file, the parameter, the reason) and exit code 2. rclpy's own SIGINT handler would
    shut the context down before the motors could be stopped, so Ctrl-C and SIGTERM arrive
    here as KeyboardInterrupt and a zero command goes out first; the executor wakes at least
    every `poll_s` so that they are seen even when no timer runs (autostart off, cleaned up).
    """
    from feagi_hailo_ros.runtime import params_file
    from feagi_hailo_ros.runtime.settings import first_problem
    from rclpy.exceptions import ParameterException, ParameterUninitializedException
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.impl.implementation_singleton import rclpy_implementation

    poll_s = 0.25

    def start_error(text: str) -> int:
        print(f'{NODE_NAME}: error: {params_file.one_line(text)}', file=sys.stderr, flush=True)
        return 2

    argv = sys.argv[1:] if args is None else list(args)
    for path in params_file.params_files(argv):
        problem = params_file.params_file_problem(path)
        if problem:
            return start_error(problem)
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except rclpy_implementation.RCLError as exc:
        return start_error(f'cannot start: {exc}')
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    node = None
    executor = None
    code = 0
    try:
        node = FeagiHailoNode()
        problem = first_problem({spec.name: node.get_parameter(spec.name).value
                                 for spec in PARAMETERS})
        if problem:
            code = start_error(f'{params_file.parameter_source(problem[0], argv)}: '
                               f'{problem[1]}')
        elif not node.autostart():
            node.get_logger().error('autostart failed: see the error above; exiting')
            code = 1
        else:
            if not node.get_parameter('autostart').value:
                node.get_logger().info('autostart is off: waiting for configure and activate '
                                       'over the lifecycle services')
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while rclpy.ok():
                executor.spin_once(timeout_sec=poll_s)
    except ParameterException as exc:
        text = str(exc)
        name = text.rsplit(': ', 1)[-1]
        reason = text[:-len(name) - 2] if text.endswith(': ' + name) else text
        if isinstance(exc, ParameterUninitializedException):
            reason += " (an empty list has no type in a params file: write [''] for none)"
        code = start_error(f'{params_file.parameter_source(name, argv)}: parameter '
                           f'{name!r}: {reason}')
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop_motors()
            node.destroy_node()
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
