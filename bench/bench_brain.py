"""Benchmark of the brain layer: build, save and reload a synthetic 1M-neuron / 10M-synapse brain.

Targets: <= 15 B/neuron, <= 7 B/synapse, build < 10 s, load from the file < 1 s.
Run: python bench/bench_brain.py [--neurons N] [--fanout K] [--repeat R]
Prints the best of R runs of each step (the machine is shared: take the best, not the mean).
"""

import argparse
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from feagi_hailo_ros.brain import build_connectome, Connectome, load_genome  # noqa: E402
from feagi_hailo_ros.brain.synth import synthetic_genome  # noqa: E402
import numpy as np  # noqa: E402


def best_of(repeat, fn):
    """(best seconds, last result) of `repeat` calls."""
    best, result = float('inf'), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def engine_memory(brain, bursts: int = 100) -> dict:
    """Print and return what the brain + a BurstEngine on it hold, per neuron and synapse.

    The engine runs `bursts` bursts first, a random half of the input area (the first)
    getting potential 2.0 each burst, so its fired buffers reach a working size.
    """
    from feagi_hailo_ros.benchmarks.engine import area_drive, run_for_memory
    from feagi_hailo_ros.engine.core import BurstEngine
    engine = BurstEngine(brain)
    report = run_for_memory(engine, bursts=bursts, inputs=area_drive(
        int(brain.area_start[0]), int(brain.area_start[1])))
    engine.close()
    per_n = report['bytes_per_neuron']
    most = report['most_fired_in_a_burst']
    print(f'with the engine, after {bursts} bursts (most fired in one: {most}):')
    print(f"  bytes/neuron: connectome {per_n['connectome_neurons']} + neuron params "
          f"{per_n['params']} + state {per_n['state']} (potential, refractory countdown "
          f"{report['dtypes']['refractory_countdown']}, consecutive counts if any, last "
          f"fired list) = {report['state_total_per_neuron']} (target <= 15)")
    print(f"  + input accumulator {per_n['inputs']} + scratch {per_n['scratch']} = "
          f"{report['total_per_neuron']} bytes/neuron held in all")
    print(f"  bytes/synapse: {report['total_per_synapse']} (targets "
          f"{report['dtypes']['target']} read in place, no copy; target <= 7)")
    return report


def main(argv=None) -> int:
    """Run the benchmark and print one line per number."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--neurons', type=int, default=1_000_000)
    parser.add_argument('--fanout', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args(argv)

    t_gen, document = best_of(args.repeat, lambda: synthetic_genome(args.neurons, args.fanout))
    t_parse, genome = best_of(args.repeat, lambda: load_genome(document))
    t_build, brain = best_of(args.repeat, lambda: build_connectome(genome))
    rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'brain: {brain.n_neurons} neurons, {brain.n_synapses} synapses '
          f'({brain.n_synapses / brain.n_neurons:.2f} per neuron), {len(brain.areas)} areas')
    print(f'genome generate: {t_gen:.3f} s   genome parse: {t_parse:.3f} s')
    print(f'build: {t_build:.3f} s (target < 10 s)   peak RSS so far {rss_build:.0f} MiB')
    print(f'bytes/neuron: {brain.bytes_per_neuron:.3f} (neuron_area '
          f'{brain.neuron_area.dtype}, syn_indptr {brain.syn_indptr.dtype}; connectome only)')
    print(f'bytes/synapse: {brain.bytes_per_synapse:.3f} (syn_target {brain.syn_target.dtype}, '
          f'syn_weight {brain.syn_weight.dtype}; target <= 7)')
    engine_report = engine_memory(brain)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'brain.fhc')
        t_save, _ = best_of(args.repeat, lambda: brain.save(path))
        size = os.path.getsize(path)
        t_load, loaded = best_of(args.repeat, lambda: Connectome.load(path, mmap=True))

        def load_and_touch():
            c = Connectome.load(path, mmap=True)
            # read every page once: what a first burst over all synapses costs
            return int(c.syn_target.sum(dtype=np.uint64)) + int(c.syn_indptr[-1])
        t_touch, _ = best_of(args.repeat, load_and_touch)
        t_read, read = best_of(args.repeat, lambda: Connectome.load(path, mmap=False))
        same = (np.array_equal(read.syn_target, brain.syn_target)
                and np.array_equal(read.syn_indptr, brain.syn_indptr)
                and np.array_equal(read.syn_weight, brain.syn_weight)
                and loaded.summary()['mappings'] == brain.summary()['mappings'])
    print(f'save: {t_save:.3f} s, file {size / 2**20:.1f} MiB')
    print(f'load (memory-mapped): {t_load:.4f} s (target < 1 s); load + read every synapse '
          f'page: {t_touch:.3f} s; full read into memory: {t_read:.3f} s')
    print(f'reloaded equals built (arrays and info): {same}')
    ok = (t_build < 10 and t_load < 1 and brain.bytes_per_synapse <= 7
          and engine_report['state_total_per_neuron'] <= 15 and same)
    print('targets met' if ok else 'TARGETS NOT MET')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
