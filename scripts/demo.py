#!/usr/bin/env python3
"""Run the feagi_hailo node on the demo brain with a synthetic camera, then report.

One process, real ROS 2 over DDS: the lifecycle node (demo brain, or --genome), the synthetic
camera on image_raw, and a listener that counts what arrives. Topics live under the
namespace /feagi_demo and discovery stays on this machine, so no robot hears its cmd_vel.

    python3 scripts/demo.py --seconds 20
"""

import argparse
import importlib.util
import os
import sys
import time
from typing import Dict, List, Optional

DEMO_NAMESPACE = 'feagi_demo'

if importlib.util.find_spec('feagi_hailo_ros') is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_device() -> str:
    """Return 'emulator' when the devices layer and onnxruntime are present, else 'cpu'."""
    for module in ('feagi_hailo_ros.engine.hybrid', 'feagi_hailo_ros.devices.emulator',
                   'onnxruntime'):
        try:
            if importlib.util.find_spec(module) is None:
                return 'cpu'
        except ModuleNotFoundError:
            return 'cpu'
    return 'emulator'


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='how long to run (20)')
    parser.add_argument('--device', default=None,
                        help='cpu | emulator | hailo | auto (default: emulator if available)')
    parser.add_argument('--genome', default='', help='genome JSON (default: the demo brain)')
    parser.add_argument('--burst-rate', type=float, default=30.0, help='bursts/s (30)')
    parser.add_argument('--camera-rate', type=float, default=15.0, help='frames/s (15)')
    parser.add_argument('--width', type=int, default=128, help='camera width (128)')
    parser.add_argument('--height', type=int, default=96, help='camera height (96)')
    parser.add_argument('--check', action='store_true',
                        help='exit 1 on a device fault or fallback, a burst error, or missed '
                             'bursts beyond a margin (what the test command runs)')
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error('--seconds must be > 0')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; return 0 when the brain burst and its outputs arrived over DDS."""
    args = parse_args(argv)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Float64MultiArray

    from feagi_hailo_ros.ros.node import FeagiHailoNode
    from feagi_hailo_ros.ros.synthetic_camera import SyntheticCamera

    device = args.device or default_device()
    if args.device is None and device == 'cpu':
        print('demo: the emulated Hailo is not available here (devices layer or onnxruntime '
              'missing): running on the cpu')
    rclpy.init()
    nodes = []
    try:
        brain = FeagiHailoNode(namespace=DEMO_NAMESPACE, parameter_overrides=[
            Parameter('genome', value=args.genome), Parameter('device', value=device),
            Parameter('burst_rate_hz', value=args.burst_rate),
            Parameter('autostart', value=True)])
        nodes.append(brain)
        camera = SyntheticCamera(namespace=DEMO_NAMESPACE, parameter_overrides=[
            Parameter('rate_hz', value=args.camera_rate),
            Parameter('width', value=args.width), Parameter('height', value=args.height)])
        nodes.append(camera)
        listener = rclpy.create_node('feagi_demo_listener', namespace=DEMO_NAMESPACE)
        nodes.append(listener)
        listened = {'cmd_vel': Twist, 'motor_commands': Float64MultiArray,
                    'fired_neurons': PointCloud2, '/diagnostics': DiagnosticArray}
        received = Received(list(listened))
        for topic, msg_type in listened.items():
            listener.create_subscription(
                msg_type, topic, lambda msg, t=topic: received.add(t, msg), 10)
        if not brain.autostart():
            print('demo: the node could not start (see the error above)', file=sys.stderr)
            return 1
        runtime = brain.runtime
        brain_name = 'genome ' + args.genome if args.genome else 'demo brain'
        print(f'demo: {brain_name} ({runtime.summary()}) on device {runtime.device_name}, '
              f'{args.burst_rate:g} bursts/s, camera {args.width}x{args.height} at '
              f'{args.camera_rate:g} frames/s, for {args.seconds:g} s')
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        started = time.monotonic()
        deadline = started + args.seconds
        try:
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
        except KeyboardInterrupt:
            print('demo: interrupted')
        elapsed = time.monotonic() - started
        stats = brain.burst_stats()
        health = runtime.health()
        fallbacks = runtime.fallbacks
        last_motors = received.last.get('motor_commands')
        motors = list(last_motors.data) if last_motors is not None else []
        last_twist = received.last.get('cmd_vel')
        brain.stop_motors()
        for _ in range(20):  # let the final messages arrive
            executor.spin_once(timeout_sec=0.01)
        _report(args, elapsed, stats, runtime.device_name, health, fallbacks, brain,
                camera.frames_published, received, motors, last_twist)
        executor.shutdown()
        ok = stats.bursts > 0 and received.counts['cmd_vel'] and \
            received.counts['motor_commands']
        if args.check:
            problems = check_run(args, elapsed, stats, fallbacks, brain.burst_errors)
            print('demo check: ' + ('; '.join(problems) if problems else 'OK'))
            ok = ok and not problems
        return 0 if ok else 1
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


MISSED_MARGIN = 0.05    # --check: share of the periods that may be missed (rate, overruns)


def check_run(args, elapsed: float, stats, fallbacks: int, burst_errors: int) -> List[str]:
    """What `--check` fails on: device faults, burst errors, missed bursts past the margin.

    The first period is not counted against the rate (the timer starts one period in).
    """
    problems = []
    if fallbacks:
        problems.append(f'{fallbacks} device fault(s): partitions fell back to the cpu')
    if burst_errors:
        problems.append(f'{burst_errors} burst error(s)')
    periods = max(1, int(elapsed * args.burst_rate) - 1)
    if stats.bursts < (1 - MISSED_MARGIN) * periods:
        problems.append(f'{stats.bursts} bursts in {periods} periods: more than '
                        f'{MISSED_MARGIN:.0%} missed')
    if stats.overruns > MISSED_MARGIN * periods:
        problems.append(f'{stats.overruns} overruns in {periods} periods: more than '
                        f'{MISSED_MARGIN:.0%}')
    return problems


class Received:
    """Count the messages of each topic and keep the last one."""

    def __init__(self, topics: List[str]):
        """Start at zero for every topic."""
        self.counts: Dict[str, int] = dict.fromkeys(topics, 0)
        self.last: Dict[str, object] = {}

    def add(self, topic: str, msg) -> None:
        """Record one message of a topic."""
        self.counts[topic] += 1
        self.last[topic] = msg


def _report(args, elapsed, stats, device_name, health, fallbacks, brain, frames, received,
            motors, last_twist) -> None:
    """Print the burst statistics and what was published and received."""
    engine_ms = brain.engine_ms
    print(f'ran {elapsed:.1f} s')
    print(f'bursts: {stats.bursts}, achieved {stats.bursts / elapsed:.1f} Hz '
          f'(target {args.burst_rate:g}), burst p50 {stats.p50_ms:.2f} ms, '
          f'p99 {stats.p99_ms:.2f} ms, max {stats.max_ms:.2f} ms, overruns {stats.overruns}, '
          f'skipped ticks {stats.skipped}, fired per burst {stats.mean_fired:.1f}')
    if engine_ms:
        ordered = sorted(engine_ms)
        print(f'engine alone: p50 {ordered[len(ordered) // 2]:.2f} ms '
              f'(node overhead = burst - engine)')
    parts = [f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}'
             for k, v in health.items() if k.startswith('p0_') or k == 'host_temperature_c']
    print(f'device: {device_name}, fallbacks {fallbacks}'
          + (f", {', '.join(parts)}" if parts else ''))
    print(f'camera frames published: {frames}, bad inputs: {brain.bad_inputs}, '
          f'burst errors: {brain.burst_errors}')
    published = ', '.join(f'{topic} {count}' for topic, count in brain.published.items())
    print(f'published: {published}')
    print('received over DDS: ' + ', '.join(f'{t} {c}' for t, c in received.counts.items()))
    shown = f"[{', '.join(f'{v:.3f}' for v in motors)}]" if motors else 'none yet'
    print(f'last motor_commands received: {shown}'
          + (f', last cmd_vel linear.x {last_twist.linear.x:.3f} m/s angular.z '
             f'{last_twist.angular.z:.3f} rad/s' if last_twist else '')
          + '; on exit the motors were commanded to zero')


if __name__ == '__main__':
    sys.exit(main())
