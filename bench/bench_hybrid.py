"""Hybrid engine benchmark: CPU-only vs CPU + emulated Hailo on the synthetic vision brain.

Targets: with 0 ms emulated latency the hybrid burst costs <= 15% more than
CPU-only; with 1 ms latency the burst grows by < 1 ms. Prints a JSON report and one line
per run: ms per burst (best median of the repeats, and the median of the repeats' medians)
and the hybrid's split (host, transfer, device, wait). Latencies are round trips (the
device's compute inside). The emulator computes the partition's integration on this
host's cores, which the host engine needs too; `replay_*` is a device that only refills
recorded outputs (`--replay-dense`: not even that): the hybrid engine's own overhead, what
a Hailo-8 (integration on the chip) would see. With --gap-ms the loop sleeps between
bursts as a robot's I/O would; the next burst's device job (prefetched) runs then.

    python bench/bench_hybrid.py [--neurons 1000000] [--bursts 200] [--repeats 3] [--gap-ms 5]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from feagi_hailo_ros.benchmarks.hybrid import (  # noqa: E402
    run_hybrid_benchmark, summary_lines)
from feagi_hailo_ros.brain.builder import load_brain  # noqa: E402
from feagi_hailo_ros.brain.synth import synthetic_genome  # noqa: E402


def main() -> int:
    """Run the comparison and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--neurons', type=int, default=1_000_000)
    parser.add_argument('--fanout', type=int, default=10,
                        help='synapses per neuron of the synthetic genome (default 10)')
    parser.add_argument('--bursts', type=int, default=200)
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--density', type=float, default=0.05,
                        help='share of input neurons injected per burst (default 0.05)')
    parser.add_argument('--latencies', default='0,1', help='emulated latencies in ms')
    parser.add_argument('--partition', default='auto')
    parser.add_argument('--gap-ms', type=float, default=0.0,
                        help='sleep between bursts (a robot loop spends it on I/O), while the '
                             'prefetched device job of the next burst runs (default 0)')
    parser.add_argument('--emulator-threads', type=int, default=None,
                        help='host threads of one emulated inference (default: 2 on 2+ '
                             'cores)')
    parser.add_argument('--replay-dense', action='store_true',
                        help='build the replay device frames up front (zero-cost device; '
                             'memory: bursts x output grids, ~0.8 GB for 120 bursts of 1M)')
    args = parser.parse_args()
    t0 = time.perf_counter()
    connectome = load_brain(synthetic_genome(args.neurons, fanout=args.fanout))
    print(f'brain: {connectome} (load {time.perf_counter() - t0:.1f} s), '
          f'{os.cpu_count()} cores', file=sys.stderr)
    report = run_hybrid_benchmark(
        connectome, args.bursts, args.warmup, args.repeats,
        [float(v) for v in args.latencies.split(',')], args.partition, args.density,
        log=lambda line: print(line, file=sys.stderr), gap_ms=args.gap_ms,
        emulator_threads=args.emulator_threads, replay_dense=args.replay_dense)
    print(json.dumps(report, indent=1))
    for line in summary_lines(report):
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
