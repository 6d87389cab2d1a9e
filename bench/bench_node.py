#!/usr/bin/env python3
"""Benchmark the feagi_hailo node: frame-to-motor latency and the node's overhead per burst.

Runs the node and a probe in one process over real DDS (localhost only). The probe sends
frames lit in the top-middle then the bottom-middle segment (forward, then reverse in the
essential genome) and times each until motor_commands changes sign:
- publish -> motor_commands received (end to end, DDS both ways),
- frame arrival in the node -> motor_commands received,
and it reports the node's per-burst time split into engine and node work (inputs, decoding,
publishing). The brain needs several bursts from vision to motor (its synaptic chain), so the
latency is also given in burst periods. Between frames the dead-man (3 burst periods) brings
the motors back to zero, so each trial times a change from zero. The essential genome does not
answer every frame (its own dynamics gate the motor path at times): those are counted as
trials without a motor change.

    python3 bench/bench_node.py --rate 100 --trials 40
"""

import argparse
import importlib.util
import os
import statistics
import sys
import time
from typing import List, Optional

import numpy as np

if importlib.util.find_spec('feagi_hailo_ros') is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GENOME = os.path.join(ROOT, 'test', 'data', 'essential_genome.json')


def lit_frame(size: int, top: bool) -> np.ndarray:
    """A black frame with its top-middle (or bottom-middle) ninth lit."""
    frame = np.zeros((size, size, 3), dtype=np.uint8)
    rows = slice(0, size // 4) if top else slice(size - size // 4, size)
    frame[rows, size // 3:2 * size // 3] = 255
    return frame


def percentile(values: List[float], q: float) -> float:
    """Return the q-th (0..100) percentile of values, or NaN when there are none."""
    return float(np.percentile(values, q)) if values else float('nan')


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--genome', default=DEFAULT_GENOME,
                        help='genome whose top-middle/bottom-middle vision drive the motors '
                        '(default: test/data/essential_genome.json)')
    parser.add_argument('--device', default='cpu', help='cpu | emulator | hailo | auto')
    parser.add_argument('--rate', type=float, default=100.0, help='bursts/s (100)')
    parser.add_argument('--trials', type=int, default=40, help='frames to time (40)')
    parser.add_argument('--size', type=int, default=128, help='frame width = height (128)')
    args = parser.parse_args(argv)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(os.getpid() % 100 + 1))

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float64MultiArray

    from feagi_hailo_ros.ros.node import FeagiHailoNode

    rclpy.init()
    node = probe = None
    try:
        node = FeagiHailoNode(parameter_overrides=[
            Parameter('genome', value=args.genome), Parameter('device', value=args.device),
            Parameter('burst_rate_hz', value=args.rate), Parameter('autostart', value=True),
            Parameter('motor_timeout_s', value=3.0 / args.rate),
            Parameter('viz_rate_hz', value=5.0)])
        if not node.autostart():
            print('bench: the node could not start', file=sys.stderr)
            return 1
        probe = rclpy.create_node('feagi_bench_probe')
        image_pub = probe.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
        last = {'values': None, 'time': 0.0}

        def on_motors(msg) -> None:
            last['values'] = list(msg.data)
            last['time'] = time.monotonic()

        probe.create_subscription(Float64MultiArray, 'motor_commands', on_motors, 10)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.add_node(probe)
        frames = {}
        for top in (True, False):
            frame = lit_frame(args.size, top)
            frames[top] = Image(height=args.size, width=args.size, encoding='rgb8',
                                step=args.size * 3, data=frame.tobytes())
        warm_until = time.monotonic() + 1.0   # JIT and discovery
        while time.monotonic() < warm_until:
            executor.spin_once(timeout_sec=0.01)
        end_to_end_ms, from_arrival_ms, misses = [], [], 0
        for trial in range(args.trials):
            top = trial % 2 == 0
            sign = 1.0 if top else -1.0
            sent = time.monotonic()
            image_pub.publish(frames[top])
            deadline = sent + 2.0
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.001)
                values = last['values']
                if values and last['time'] > sent and values[0] * sign > 0:
                    end_to_end_ms.append((last['time'] - sent) * 1000.0)
                    from_arrival_ms.append((last['time'] - node.last_frame_arrival_s) * 1e3)
                    break
            else:
                misses += 1
            # the dead-man (3 periods) zeroes the motors before the next frame is sent
            pause = time.monotonic() + 2.0
            while time.monotonic() < pause and (last['values'] is None or any(
                    last['values']) or time.monotonic() - sent < 6.0 / args.rate):
                executor.spin_once(timeout_sec=0.001)
        stats = node.burst_stats()
        engine = list(node.engine_ms)
        period_ms = 1000.0 / args.rate
        print(f'bench_node: {node.runtime.summary()}, device {node.runtime.device_name}, '
              f'{args.rate:g} bursts/s (period {period_ms:.1f} ms), {args.size}x{args.size} '
              f'rgb8 frames, {args.trials} trials ({misses} without a motor change)')
        if end_to_end_ms:
            print(f'frame publish -> motor_commands received: p50 '
                  f'{percentile(end_to_end_ms, 50):.2f} ms, p99 '
                  f'{percentile(end_to_end_ms, 99):.2f} ms, min {min(end_to_end_ms):.2f} ms '
                  f'(= {statistics.median(end_to_end_ms) / period_ms:.1f} burst periods)')
            print(f'frame arrival in node -> motor_commands received: p50 '
                  f'{percentile(from_arrival_ms, 50):.2f} ms, p99 '
                  f'{percentile(from_arrival_ms, 99):.2f} ms')
        print(f'per burst (node timer callback): p50 {stats.p50_ms:.3f} ms, p99 '
              f'{stats.p99_ms:.3f} ms over {stats.bursts} bursts; overruns {stats.overruns}')
        if engine:
            inputs = list(node.inputs_ms)
            overhead = stats.p50_ms - percentile(engine, 50) - percentile(inputs, 50)
            print(f'engine alone: p50 {percentile(engine, 50):.3f} ms, p99 '
                  f'{percentile(engine, 99):.3f} ms; inputs (image conversion + encoding): '
                  f'p50 {percentile(inputs, 50):.3f} ms, p99 {percentile(inputs, 99):.3f} ms; '
                  f'the rest (decode, publish, cloud) p50 ~ {overhead:.3f} ms per burst')
        print(f'achieved rate {stats.achieved_rate_hz:.1f} Hz, fired per burst '
              f'{stats.mean_fired:.1f}; machine: {os.cpu_count()} cores, shared (noisy)')
        executor.shutdown()
        return 0 if end_to_end_ms else 1
    finally:
        for n in (node, probe):
            if n is not None:
                n.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
