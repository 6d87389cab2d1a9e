"""`feagi-hailo run`: headless bursts of a genome, with optional injections and a record."""

import argparse
import sys
import time

from feagi_hailo_ros.cli.options import (add_brain_options, add_device_options, engine_config,
                                         load_connectome, log_devices)
from feagi_hailo_ros.engine.factory import make_engine
import numpy as np


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `run`."""
    add_brain_options(parser)
    parser.add_argument('--bursts', metavar='N', type=int, default=100,
                        help='number of bursts to run (default 100)')
    parser.add_argument('--inject', metavar='FILE',
                        help='JSON lines {"burst", "area", "x", "y", "z", "p"} to inject')
    parser.add_argument('--record', metavar='FILE',
                        help='write one JSON line per burst {"burst", "fired": [[area,x,y,z]]}')
    parser.add_argument('--record-weights', metavar='FILE',
                        help='write one JSON line per burst {"burst", "synapses": [[[src area, '
                        'x, y, z], [dst area, x, y, z], weight]]}: every synapse, sorted')
    parser.add_argument('--restore', metavar='FILE',
                        help='start from an engine checkpoint (bursts continue its numbering)')
    parser.add_argument('--checkpoint', metavar='FILE',
                        help='write an engine checkpoint after the last burst')
    parser.add_argument('--threads', type=int, choices=(1, 2), default=1,
                        help='run the brain as 1 or 2 partitions in threads (default 1)')
    add_device_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run the bursts; print bursts/s and fired per burst; return an exit code."""
    from feagi_hailo_ros.benchmarks.engine import peak_rss_mb
    from feagi_hailo_ros.engine.replay import FiredRecorder, read_injections, WeightRecorder
    if args.bursts < 0:
        raise ValueError(f'--bursts must be >= 0, got {args.bursts}')
    started = time.perf_counter()
    connectome = load_connectome(args)
    engine = make_engine(connectome, engine_config(args), log=log_devices)
    layout = engine.model.layout
    if args.restore:
        engine.restore(args.restore)
    injections = read_injections(args.inject, layout) if args.inject else {}
    load_s = time.perf_counter() - started
    recorder = FiredRecorder(args.record, layout) if args.record else None
    weights = WeightRecorder(args.record_weights, engine.model) if args.record_weights \
        else None
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
            if weights:
                weights.write(burst, engine.plastic.magnitude if engine.plastic else None)
            if step == 0:
                first_burst_s = time.perf_counter() - t0
    finally:
        for writer in (recorder, weights):
            if writer:
                writer.close()
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
          f'{engine.model.n_synapses} synapses in {elapsed:.3f} s: '
          f'{rate:.1f} bursts/s{steady}, {mean:.1f} fired per burst '
          f'(load {load_s:.2f} s, first burst {first_burst_s * 1e3:.0f} ms incl. kernel '
          f'compile or cache load, peak RSS {rss_mb:.0f} MB)', file=sys.stdout)
    return 0
