"""`feagi-hailo bench`: time the burst engine on a fixed workload and report JSON."""

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `bench`."""
    from feagi_hailo_ros.engine.workloads import WORKLOADS
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
    # devices hook: --device emulator benchmarks the hybrid engine on a synthetic genome
    from feagi_hailo_ros.devices.cli_support import add_bench_options
    add_bench_options(parser)


def run(args: argparse.Namespace) -> int:
    """Build the workload, run it and print the report; return an exit code."""
    # devices hook: --device emulator -> CPU vs hybrid with a host/transfer/device split
    from feagi_hailo_ros.devices.cli_support import run_device_bench
    if getattr(args, 'device', 'cpu') != 'cpu':
        return run_device_bench(args)
    from feagi_hailo_ros.engine.bench import run_benchmark
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
