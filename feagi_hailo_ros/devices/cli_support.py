"""Command-line glue for devices: the `--device/--partition` options and the engine they make.

`feagi-hailo run` and `bench` call `add_device_options` and `make_device_engine`; with
`--device cpu` (the default) the latter returns None and the plain CPU engine runs.
"""

import argparse
import os
import sys

DEVICE_KINDS = ('cpu', 'emulator', 'hailo')


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """Add --device, --partition and the device tuning options."""
    group = parser.add_argument_group('devices')
    group.add_argument('--device', choices=DEVICE_KINDS, default='cpu',
                       help='where device partitions run: cpu (none), emulator '
                            '(onnxruntime), hailo (HailoRT 4.x); default cpu')
    group.add_argument('--partition', default='auto', metavar='SPEC',
                       help='areas integrated by the device: auto, size:N (areas of at least '
                            'N neurons), or AREA,AREA,...; default auto')
    group.add_argument('--devices', type=int, default=1, metavar='N',
                       help='number of accelerators to split the device share over')
    group.add_argument('--latency-ms', type=float, default=0.0,
                       help='emulator: modelled inference latency in ms, compute included '
                            '(default 0)')
    group.add_argument('--hef-dir', metavar='DIR',
                       help='hailo: folder written by `feagi-hailo export` holding '
                            '<partition>/model.hef')
    group.add_argument('--device-timeout-ms', type=float, default=1000.0,
                       help='a device burst slower than this falls back to the CPU')
    group.add_argument('--shared-device', action='store_true',
                       help='hailo: share the chip with other processes (hailort.service)')


def _log(message: str) -> None:
    print(f'[devices] {message}', file=sys.stderr)


def make_device_engine(connectome, args: argparse.Namespace):
    """Return a HybridEngine for --device emulator/hailo, or None for --device cpu."""
    kind = getattr(args, 'device', 'cpu') or 'cpu'
    if kind == 'cpu':
        return None
    from feagi_hailo_ros.devices.export import ExportedPartition
    from feagi_hailo_ros.devices.hybrid import HybridEngine
    from feagi_hailo_ros.devices.planner import plan_partitions
    devices = max(1, int(getattr(args, 'devices', 1) or 1))
    plan = plan_partitions(connectome, getattr(args, 'partition', 'auto'), devices,
                           prefix='hailo' if kind == 'hailo' else 'emulator')
    if not plan.partitions:
        _log('no area can be integrated by a device with this --partition: running on '
             'the CPU only')
    timeout_ms = float(getattr(args, 'device_timeout_ms', 1000.0))
    exported = None
    if kind == 'emulator':
        from feagi_hailo_ros.devices.emulator import EmulatedHailo
        latency = float(getattr(args, 'latency_ms', 0.0) or 0.0)

        def factory(part):
            return EmulatedHailo(part.name, latency_ms=latency)
    else:
        from feagi_hailo_ros.devices.hailo import HailoDevice, load_hailort
        load_hailort()
        hef_dir = getattr(args, 'hef_dir', None)
        if not hef_dir:
            raise ValueError('--device hailo needs --hef-dir DIR: run `feagi-hailo export '
                             '--out DIR` with the same --partition, compile each '
                             'DIR/<partition>/model.onnx to model.hef (see compile.sh)')
        exported = {}
        for part in plan.partitions:
            exp = ExportedPartition.load(os.path.join(hef_dir, part.name))
            want = [connectome.areas[t].id for t in part.targets]
            if exp.manifest.get('targets') != want:
                raise ValueError(f'{hef_dir}/{part.name}: exported for areas '
                                 f'{exp.manifest.get("targets")}, this plan needs {want}: '
                                 'export and compile again with the same --partition')
            exported[part.name] = exp
        shared = bool(getattr(args, 'shared_device', False))
        from feagi_hailo_ros.devices.hailo import scan
        ids = [d['id'] for d in scan()['devices']]

        def factory(part):
            index = int(part.name[len('hailo'):] or 0)
            device_id = ids[index] if index < len(ids) else None
            return HailoDevice(device_id, exported[part.name].hef_path, int(timeout_ms),
                               shared=shared, name=part.name)
    engine = HybridEngine(connectome, factory, plan=plan, exported=exported,
                          timeout_s=timeout_ms / 1000,
                          log=_log)
    for line in plan.report(connectome):
        _log(line)
    return engine


def add_bench_options(parser: argparse.ArgumentParser) -> None:
    """Options of `bench --device emulator` (a synthetic brain through the hybrid engine)."""
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


def run_device_bench(args: argparse.Namespace) -> int:
    """`bench --device emulator`: print the JSON report and one line per engine."""
    import json

    from feagi_hailo_ros.brain.builder import load_brain
    from feagi_hailo_ros.brain.synth import synthetic_genome
    from feagi_hailo_ros.devices.benchmark import (run_hybrid_benchmark,
                                                   summary_lines)
    connectome = load_brain(synthetic_genome(args.synthetic, seed=args.seed))
    report = run_hybrid_benchmark(connectome, args.bursts, args.warmup, args.repeats,
                                  [args.latency_ms], args.partition)
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    if not args.json:
        for line in summary_lines(report):
            print(line)
    return 0
