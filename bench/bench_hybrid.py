"""Hybrid engine benchmark: CPU-only vs CPU + emulated Hailo on the synthetic vision brain.

Targets (issue 5): with 0 ms emulated latency the hybrid burst costs <= 15% more than
CPU-only; with 1 ms latency the burst grows by < 1 ms (the device wait overlaps host work).
Prints ms per burst (best run's median) and the hybrid's time split: host (CPU partition and
neuron updates), transfer (input grids and scatter), device (inference), wait (host idle).

    python bench/bench_hybrid.py [--neurons 1000000] [--bursts 200] [--repeats 3]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from feagi_hailo_ros.brain.builder import load_brain  # noqa: E402
from feagi_hailo_ros.brain.synth import synthetic_genome  # noqa: E402
from feagi_hailo_ros.devices.emulator import EmulatedHailo  # noqa: E402
from feagi_hailo_ros.devices.hybrid import HybridEngine  # noqa: E402
from feagi_hailo_ros.engine.core import BurstEngine  # noqa: E402


def make_injections(connectome, bursts: int, density: float, seed: int):
    """Per burst: (indices, potentials) into the input area, integer potentials."""
    a = connectome.area_index('iic400')
    lo, hi = int(connectome.area_start[a]), int(connectome.area_start[a + 1])
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(bursts):
        idx = lo + np.flatnonzero(rng.random(hi - lo) < density)
        out.append((idx.astype(np.int64), rng.integers(1, 200, idx.size).astype(np.float32)))
    return out


def timed_run(engine, injections, warmup: int):
    """Run all bursts; return per-burst seconds (after warm-up), fired sets and timings."""
    times, fired, splits = [], [], []
    for b, (idx, pot) in enumerate(injections):
        engine.inject_indices(idx, pot)
        t0 = time.perf_counter()
        result = engine.burst()
        dt = time.perf_counter() - t0
        fired.append(result.size)
        if b >= warmup:
            times.append(dt)
            if hasattr(engine, 'last_timing'):
                splits.append(dict(engine.last_timing))
    return np.array(times), fired, splits


def main() -> int:
    """Run the comparison and print a JSON report plus a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--neurons', type=int, default=1_000_000)
    parser.add_argument('--bursts', type=int, default=200)
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--density', type=float, default=0.05,
                        help='share of input neurons injected per burst')
    parser.add_argument('--latencies', default='0,1', help='emulated latencies in ms')
    args = parser.parse_args()
    t0 = time.perf_counter()
    connectome = load_brain(synthetic_genome(args.neurons))
    print(f'brain: {connectome} (load {time.perf_counter() - t0:.1f} s)', file=sys.stderr)
    injections = make_injections(connectome, args.bursts + args.warmup, args.density, 1)
    report = {'neurons': connectome.n_neurons, 'synapses': connectome.n_synapses,
              'bursts': args.bursts, 'repeats': args.repeats, 'cores': os.cpu_count()}
    results = {}
    reference = None
    for repeat in range(args.repeats):
        runs = [('cpu', None)] + [(f'emulator_{lat}ms', float(lat))
                                  for lat in args.latencies.split(',')]
        for name, latency in runs:
            if latency is None:
                engine = BurstEngine(connectome)
            else:
                engine = HybridEngine(connectome,
                                      lambda p, lat=latency: EmulatedHailo(p.name, lat),
                                      partition='auto')
            try:
                times, fired, splits = timed_run(engine, injections, args.warmup)
            finally:
                if hasattr(engine, 'close'):
                    engine.close()
            if reference is None:
                reference = fired
            same = fired == reference
            entry = {'ms_p50': float(np.median(times) * 1e3),
                     'ms_mean': float(times.mean() * 1e3), 'same_fired_counts': same,
                     'fired_per_burst': float(np.mean(fired))}
            if splits:
                for key in ('host_s', 'transfer_s', 'device_s', 'wait_s', 'cpu_partition_s'):
                    entry[key.replace('_s', '_ms')] = float(
                        np.median([s[key] for s in splits]) * 1e3)
                entry['device_targets'] = [a for p in engine.plan.partitions
                                           for a in (connectome.areas[t].id
                                                     for t in p.targets)]
            best = results.get(name)
            if best is None or entry['ms_p50'] < best['ms_p50']:
                results[name] = entry
            print(f'repeat {repeat} {name}: {entry["ms_p50"]:.2f} ms/burst p50', file=sys.stderr)
    report['results'] = results
    cpu = results['cpu']['ms_p50']
    for name, entry in results.items():
        if name != 'cpu':
            entry['vs_cpu_percent'] = 100.0 * (entry['ms_p50'] - cpu) / cpu
            entry['vs_cpu_ms'] = entry['ms_p50'] - cpu
    print(json.dumps(report, indent=1))
    for name, entry in results.items():
        extra = ''
        if name != 'cpu':
            extra = (f' ({entry["vs_cpu_percent"]:+.1f}% / {entry["vs_cpu_ms"]:+.2f} ms vs cpu;'
                     f' host {entry["host_ms"]:.2f}, transfer {entry["transfer_ms"]:.2f}, '
                     f'device {entry["device_ms"]:.2f}, wait {entry["wait_ms"]:.2f} ms)')
        print(f'{name}: {entry["ms_p50"]:.2f} ms/burst p50{extra}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
