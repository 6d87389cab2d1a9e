"""`feagi-hailo bench`: time the burst engine on a fixed workload and report JSON.

With `--device emulator`: CPU-only against CPU + emulated Hailo on a synthetic vision
genome, with the host / transfer / device split.
"""

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `bench`."""
    from feagi_hailo_ros.testing.workloads import WORKLOADS
    parser.add_argument('--workload', choices=sorted(WORKLOADS), default='w1m',
                        help='w1m: 1M neurons, 10M synapses; w100k: 100k neurons, 1M synapses')
    parser.add_argument('--bursts', metavar='N', type=int, default=500,
                        help='timed bursts (default 500)')
    parser.add_argument('--warmup', metavar='N', type=int, default=200,
                        help='untimed bursts first, past the start-up wave (default 200)')
    parser.add_argument('--threads', type=int, choices=(1, 2), default=1,
                        help='1 partition, or 2 partitions bursting concurrently in threads')
    parser.add_argument('--seed', type=int, default=1, help='seed of synapses and injections')
    parser.add_argument('--json', action='store_true', help='print only the JSON report')
    group = parser.add_argument_group('devices')
    group.add_argument('--device', choices=('cpu', 'emulator'), default='cpu',
                       help='emulator: compare CPU-only with CPU + emulated Hailo on a '
                            'synthetic vision genome (host/transfer/device split)')
    group.add_argument('--synthetic', type=int, default=1_000_000, metavar='N',
                       help='with --device emulator: neurons of the synthetic genome')
    group.add_argument('--partition', default='auto', metavar='SPEC',
                       help='with --device emulator: areas on the device (default auto)')
    group.add_argument('--latency-ms', type=float, default=0.0,
                       help='with --device emulator: modelled inference latency in ms, '
                            'compute included (default 0)')
    group.add_argument('--repeats', type=int, default=3,
                       help='with --device emulator: runs of each engine, best kept')


def run(args: argparse.Namespace) -> int:
    """Build the workload, run it and print the report; return an exit code."""
    if getattr(args, 'device', 'cpu') != 'cpu':
        return run_device_bench(args)
    from feagi_hailo_ros.benchmarks.engine import run_benchmark
    if args.bursts < 1 or args.warmup < 0:
        raise ValueError(f'--bursts must be >= 1 and --warmup >= 0 (got {args.bursts}, '
                         f'{args.warmup})')
    report = run_benchmark(args.workload, bursts=args.bursts, threads=args.threads,
                           seed=args.seed, warmup=args.warmup)
    if args.json:
        print(json.dumps(report))
        return 0
    print(json.dumps(report, indent=2))
    print(f"{report['workload']}: {report['ms_per_burst_p50']:.3f} ms/burst p50, "
          f"{report['ms_per_burst_p99']:.3f} ms p99, {report['fired_per_burst']:.0f} fired "
          f"per burst, {report['threads']} thread(s)")
    return 0


def run_device_bench(args: argparse.Namespace) -> int:
    """`bench --device emulator`: print the JSON report and one line per engine."""
    from feagi_hailo_ros.benchmarks.hybrid import run_hybrid_benchmark, summary_lines
    from feagi_hailo_ros.brain.builder import load_brain
    from feagi_hailo_ros.brain.synth import synthetic_genome
    connectome = load_brain(synthetic_genome(args.synthetic, seed=args.seed))
    report = run_hybrid_benchmark(connectome, args.bursts, args.warmup, args.repeats,
                                  [args.latency_ms], args.partition)
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    if not args.json:
        for line in summary_lines(report):
            print(line)
    return 0
