#!/usr/bin/env python3
"""Benchmark the burst engine: w100k and w1m, 1 and 2 threads, best of several runs.

Usage: python bench/bench_engine.py [--workloads w100k,w1m] [--threads 1,2] [--runs 3]
       [--bursts 500] [--memory w1m,synth1m]
Prints one JSON line per (workload, threads) with the run of lowest p50 and all p50s; the
machine is shared, so take the best of several runs. Also prints the numba cold-start
(compile) time when the kernel was not yet cached.

`--memory` instead reports the bytes per neuron and per synapse that the brain and the
engine hold (every array, by group: connectome, params, state, inputs, scratch) after
`--warmup` bursts, for workloads (driven by the benchmark injections: every neuron, every
burst) and/or `synth1m` (the 1M-neuron synthetic genome of bench/bench_brain.py, built by
brain.build_connectome, driven as a camera would: a random half of its input image area
gets potential 2.0, the threshold, every burst).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    """Run the benchmark matrix and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workloads', default='w100k,w1m')
    parser.add_argument('--threads', default='1,2')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--bursts', type=int, default=500)
    parser.add_argument('--warmup', type=int, default=200)
    parser.add_argument('--memory', default='',
                        help='report memory for these brains (w100k, w1m, synth1m), no timing')
    args = parser.parse_args()
    if args.memory:
        return report_memory(args.memory.split(','), args.warmup)
    t0 = time.perf_counter()
    from feagi_hailo_ros.engine import \
        kernel  # noqa: F401  (loads or compiles the kernel)
    from feagi_hailo_ros.benchmarks.engine import run_benchmark
    import_s = time.perf_counter() - t0
    print(json.dumps({'kernel_import_s': round(import_s, 3)}))
    for workload in args.workloads.split(','):
        for threads in (int(t) for t in args.threads.split(',')):
            runs = [run_benchmark(workload, bursts=args.bursts, threads=threads,
                                  warmup=args.warmup) for _ in range(args.runs)]
            best = min(runs, key=lambda r: r['ms_per_burst_p50'])
            best = dict(best, p50_all_runs=[round(r['ms_per_burst_p50'], 3) for r in runs],
                        p99_all_runs=[round(r['ms_per_burst_p99'], 3) for r in runs])
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                              for k, v in best.items()}))
            sys.stdout.flush()
    return 0


def report_memory(brains, warmup: int) -> int:
    """Print the memory report of each brain (JSON line, then a readable summary)."""
    from feagi_hailo_ros.benchmarks.engine import area_drive, run_for_memory
    from feagi_hailo_ros.engine.core import BurstEngine
    from feagi_hailo_ros.testing.workloads import bench_workload
    for name in brains:
        inputs = None
        if name.startswith('synth'):
            from feagi_hailo_ros.brain import build_connectome, load_genome
            from feagi_hailo_ros.brain.synth import synthetic_genome
            brain = build_connectome(load_genome(synthetic_genome(1_000_000, 10)))
            inputs = area_drive(int(brain.area_start[0]), int(brain.area_start[1]))
        else:
            brain = bench_workload(name)
        engine = BurstEngine(brain)
        report = dict(run_for_memory(engine, bursts=warmup, inputs=inputs), brain=name)
        print(json.dumps(report))
        per_n = report['bytes_per_neuron']
        print(f"{name}: {report['neurons']} neurons, {report['synapses']} synapses; "
              f"B/neuron: connectome {per_n['connectome_neurons']} + params "
              f"{per_n['params']} + state {per_n['state']} = "
              f"{report['state_total_per_neuron']} (target <= 15); + inputs "
              f"{per_n['inputs']} + scratch {per_n['scratch']} = "
              f"{report['total_per_neuron']} held in all; B/synapse "
              f"{report['total_per_synapse']} (target <= 7); most fired in a burst "
              f"{report['most_fired_in_a_burst']}")
        sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
