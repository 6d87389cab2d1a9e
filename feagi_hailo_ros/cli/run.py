"""`feagi-hailo run`: headless bursts of a genome, with optional injections and a record."""

import argparse
import sys
import time
from typing import Any

import numpy as np


def add_brain_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that name the brain (--genome or --synthetic) and its cache."""
    brain = parser.add_mutually_exclusive_group(required=True)
    brain.add_argument('--genome', metavar='G', help='genome JSON file')
    brain.add_argument('--synthetic', metavar='N', type=int,
                       help='use a synthetic vision-pipeline genome of about N neurons')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic genome')
    parser.add_argument('--no-cache', action='store_true',
                        help='build the connectome without the on-disk cache')


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `run`."""
    add_brain_options(parser)
    parser.add_argument('--bursts', metavar='N', type=int, default=100,
                        help='number of bursts to run (default 100)')
    parser.add_argument('--inject', metavar='FILE',
                        help='JSON lines {"burst", "area", "x", "y", "z", "p"} to inject')
    parser.add_argument('--record', metavar='FILE',
                        help='write one JSON line per burst {"burst", "fired": [[area,x,y,z]]}')
    parser.add_argument('--restore', metavar='FILE',
                        help='start from an engine checkpoint (bursts continue its numbering)')
    parser.add_argument('--checkpoint', metavar='FILE',
                        help='write an engine checkpoint after the last burst')
    parser.add_argument('--threads', type=int, choices=(1, 2), default=1,
                        help='run the brain as 1 or 2 partitions in threads (default 1)')
    # devices hook: --device cpu|emulator|hailo, --partition ... (feagi_hailo_ros.devices)
    from feagi_hailo_ros.devices.cli_support import add_device_options
    add_device_options(parser)


def load_connectome(args: argparse.Namespace):
    """Load (or build) the connectome named by --genome or --synthetic."""
    from feagi_hailo_ros.brain.builder import load_brain
    if args.genome:
        return load_brain(args.genome, cache=not args.no_cache)
    from feagi_hailo_ros.brain.synth import synthetic_genome
    return load_brain(synthetic_genome(args.synthetic, seed=args.seed),
                      cache=not args.no_cache)


def make_engine(connectome: Any, args: argparse.Namespace):
    """Return the engine that runs the bursts: the CPU BurstEngine.

    This is the one place that chooses the engine: a device or partition option (such as
    `--device`, `--partition`) can extend it and return any object with the BurstEngine
    run API (`inject_indices`, `burst`, `burst_count`, `checkpoint`, `restore`, `model`).
    """
    # devices hook: --device emulator/hailo runs a HybridEngine (None for --device cpu)
    from feagi_hailo_ros.devices.cli_support import make_device_engine
    hybrid = make_device_engine(connectome, args)
    if hybrid is not None:
        return hybrid
    from feagi_hailo_ros.engine.core import BurstEngine
    threads = int(getattr(args, 'threads', 1) or 1)
    return BurstEngine(connectome, partitions=threads, threads=threads > 1)


def run(args: argparse.Namespace) -> int:
    """Run the bursts; print bursts/s and fired per burst; return an exit code."""
    from feagi_hailo_ros.engine.bench import peak_rss_mb
    from feagi_hailo_ros.engine.replay import FiredRecorder, read_injections
    if args.bursts < 0:
        raise ValueError(f'--bursts must be >= 0, got {args.bursts}')
    started = time.perf_counter()
    connectome = load_connectome(args)
    engine = make_engine(connectome, args)
    layout = engine.model.layout
    if args.restore:
        engine.restore(args.restore)
    injections = read_injections(args.inject, layout) if args.inject else {}
    load_s = time.perf_counter() - started
    recorder = FiredRecorder(args.record, layout) if args.record else None
    fired_counts = np.zeros(args.bursts, dtype=np.int64)
    first = engine.burst_count
    first_burst_s = 0.0
    t0 = time.perf_counter()
    try:
        for step in range(args.bursts):
            burst = first + step
            if burst in injections:
                engine.inject_indices(*injections[burst])
            fired = engine.burst()
            fired_counts[step] = fired.size
            if recorder:
                recorder.write(burst, fired)
            if step == 0:
                first_burst_s = time.perf_counter() - t0
    finally:
        if recorder:
            recorder.close()
        close = getattr(engine, 'close', None)
        if close:
            close()
    elapsed = time.perf_counter() - t0
    if args.checkpoint:
        engine.checkpoint(args.checkpoint)
    rate = args.bursts / elapsed if elapsed > 0 else float('inf')
    rest = elapsed - first_burst_s
    steady = f', {(args.bursts - 1) / rest:.1f} after the first' \
        if args.bursts > 1 and rest > 0 else ''
    mean = float(fired_counts.mean()) if args.bursts else 0.0
    rss_mb = peak_rss_mb()
    print(f'{args.bursts} bursts of {engine.model.n_neurons} neurons / '
          f'{engine.model.synapses.n_synapses} synapses in {elapsed:.3f} s: '
          f'{rate:.1f} bursts/s{steady}, {mean:.1f} fired per burst '
          f'(load {load_s:.2f} s, first burst {first_burst_s * 1e3:.0f} ms incl. kernel '
          f'compile or cache load, peak RSS {rss_mb:.0f} MB)', file=sys.stdout)
    return 0
