"""Options shared by sub-commands: the brain (--genome / --synthetic) and the devices."""

import argparse
import sys

from feagi_hailo_ros.devices.cost_model import DEFAULT_PROFILE, PLACEMENTS, PROFILES
from feagi_hailo_ros.engine.factory import EngineConfig

DEVICE_CHOICES = ('cpu', 'emulator', 'hailo')


def add_brain_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that name the brain (--genome or --synthetic) and its cache."""
    brain = parser.add_mutually_exclusive_group(required=True)
    brain.add_argument('--genome', metavar='G', help='genome JSON file')
    brain.add_argument('--synthetic', metavar='N', type=int,
                       help='use a synthetic vision-pipeline genome of about N neurons')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic genome')
    parser.add_argument('--no-cache', action='store_true',
                        help='build the connectome without the on-disk cache')


def load_connectome(args: argparse.Namespace):
    """Load (or build) the connectome named by --genome or --synthetic."""
    from feagi_hailo_ros.brain.builder import load_brain
    if args.genome:
        return load_brain(args.genome, cache=not args.no_cache)
    from feagi_hailo_ros.brain.synth import synthetic_genome
    return load_brain(synthetic_genome(args.synthetic, seed=args.seed),
                      cache=not args.no_cache)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """Add --device, --partition and the device tuning options."""
    group = parser.add_argument_group('devices')
    group.add_argument('--device', choices=DEVICE_CHOICES, default='cpu',
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
    group.add_argument('--placement', choices=PLACEMENTS, default='device',
                       help='device: planned partitions on the device (default); auto: only '
                            'where the cost model predicts a gain at the measured activity; '
                            'cpu: none')
    group.add_argument('--profile', default=DEFAULT_PROFILE, metavar='NAME',
                       help=f'device profile of the cost model: {", ".join(PROFILES)} '
                            f'(estimates; default {DEFAULT_PROFILE}); with --placement auto '
                            'the emulator takes its predicted round trip as latency')


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig of the device options (and --threads where the command has it)."""
    return EngineConfig(
        device=args.device, partition=args.partition or 'auto',
        devices=max(1, int(args.devices or 1)), threads=int(getattr(args, 'threads', 1) or 1),
        emulator_latency_ms=float(args.latency_ms or 0.0), hef_dir=args.hef_dir or '',
        device_timeout_ms=float(args.device_timeout_ms),
        shared_device=bool(args.shared_device),
        placement=getattr(args, 'placement', 'device') or 'device',
        profile=getattr(args, 'profile', DEFAULT_PROFILE) or DEFAULT_PROFILE)


def log_devices(message: str) -> None:
    """Print a devices message (plan, start-up, faults) to stderr."""
    print(f'[devices] {message}', file=sys.stderr)
