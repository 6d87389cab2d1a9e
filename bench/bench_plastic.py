#!/usr/bin/env python3
"""Benchmark plasticity: the ~1M-neuron synthetic brain at 0%, 10% and 100% plastic pairs.

Usage: python bench/bench_plastic.py [--neurons 1000000] [--fanout 10] [--shares 0,0.1,1]
       [--bursts 300] [--warmup 100] [--density 0.5] [--json]
Each share builds `synthetic_genome(neurons, fanout, plastic_share=share)` (the same kernels
and synapses; that share of its area pairs is plastic, STDP c 1, ltp 2, ltd 1, window 2),
runs a BurstEngine `warmup` untimed bursts then `bursts` timed ones, every burst driving a
random `density` of the input image area at potential 2.0 (drawn per burst from a seed:
the same injections for every share, drawn outside the timed call). Prints per share: the
plastic share of synapses, ms per burst p50/p99/mean and the overhead against share 0, the
learning step alone (`PlasticState.learn`, CPU time p50/mean), fired neurons and plastic synapses
touched per burst, and the bytes per plastic synapse (the plastic CSR + its learning state,
`model.plastic.nbytes + engine.plastic.nbytes`, over the plastic synapses), split into
what grows with the plastic synapses and what grows with the brain's neurons.
The CPU ms (the thread's CPU time) leave out waits for a busy core: on a shared machine
they are the steadier figure. The weights change as the brain learns, so the activity of a
plastic run is not exactly that of share 0: compare fired per burst too. One core: run it
under `taskset -c 1`.
"""

import argparse
import json
import os
import sys
import time
from typing import Callable, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from feagi_hailo_ros.brain import build_connectome, load_genome  # noqa: E402
from feagi_hailo_ros.brain.synth import PLASTIC_PARAMS, synthetic_genome  # noqa: E402
from feagi_hailo_ros.engine.core import BurstEngine  # noqa: E402
import numpy as np  # noqa: E402

POTENTIAL = 2.0        # the input area's threshold is 1: every driven neuron fires


def input_drive(lo: int, hi: int, density: float, seed: int
                ) -> Callable[[int], Tuple[np.ndarray, np.ndarray]]:
    """inputs(burst): a random `density` of neurons [lo, hi), the same for every run."""
    def inputs(burst: int) -> Tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([seed, burst])
        chosen = lo + np.flatnonzero(rng.random(hi - lo) < density)
        return chosen, np.full(chosen.size, POTENTIAL, np.float32)
    return inputs


def _timed_learning(engine: BurstEngine, times: List[float]) -> None:
    """Wrap the engine's learning step so that each call's seconds go to `times`."""
    state = engine.plastic
    learn = state.learn

    def timed(*args, **kwargs):
        start = time.thread_time()
        learn(*args, **kwargs)
        times.append(time.thread_time() - start)
    state.learn = timed


def plastic_bytes(engine: BurstEngine) -> Dict[str, float]:
    """Bytes of the plastic CSR and learning state: total, per plastic synapse, split."""
    syn, state = engine.model.plastic, engine.plastic
    count = max(1, syn.n_synapses)
    per_neuron = (syn.indptr.nbytes + syn.in_indptr.nbytes + state.last_fired.nbytes
                  + state.recent.nbytes + state.in_recent.nbytes)
    total = syn.nbytes + state.nbytes
    return {'plastic_bytes': total, 'bytes_per_plastic_synapse': total / count,
            'of_which_per_synapse_arrays': (total - per_neuron) / count,
            'of_which_per_neuron_arrays': per_neuron / count}


def run_share(share: float, args: argparse.Namespace) -> Dict[str, object]:
    """Build the brain with `share` plastic pairs, run it, return the numbers."""
    t0 = time.perf_counter()
    genome = synthetic_genome(args.neurons, args.fanout, plastic_share=share)
    brain = build_connectome(load_genome(genome))
    engine = BurstEngine(brain)
    build_s = time.perf_counter() - t0
    model = engine.model
    plastic = model.plastic.n_synapses if model.plastic is not None else 0
    inputs = input_drive(int(brain.area_start[0]), int(brain.area_start[1]), args.density,
                         args.seed)
    learn_s: List[float] = []
    if engine.plastic is not None:
        _timed_learning(engine, learn_s)
    for burst in range(args.warmup):
        engine.inject_indices(*inputs(burst))
        engine.burst()
    del learn_s[:]
    times = np.zeros(args.bursts)
    cpu_times = np.zeros(args.bursts)
    fired = np.zeros(args.bursts, np.int64)
    touched = np.zeros(args.bursts, np.int64)
    clock, cpu_clock = time.perf_counter, time.thread_time
    for b in range(args.bursts):
        engine.inject_indices(*inputs(args.warmup + b))
        start, cpu_start = clock(), cpu_clock()
        out = engine.burst()
        times[b], cpu_times[b] = clock() - start, cpu_clock() - cpu_start
        fired[b] = out.size
        touched[b] = engine.plastic.n_touched if engine.plastic is not None else 0
    result: Dict[str, object] = {
        'share': share, 'plastic_pairs': len(brain.plastic_pairs), 'pairs': len(brain.areas) - 1,
        'neurons': model.n_neurons, 'synapses': model.n_synapses, 'plastic_synapses': plastic,
        'plastic_synapse_share': plastic / max(1, model.n_synapses),
        'bursts': args.bursts, 'warmup': args.warmup, 'build_s': build_s,
        'ms_p50': float(np.percentile(times, 50) * 1e3),
        'ms_p99': float(np.percentile(times, 99) * 1e3),
        'ms_mean': float(times.mean() * 1e3),
        'cpu_ms_p50': float(np.percentile(cpu_times, 50) * 1e3),
        'fired_per_burst': float(fired.mean()),
        'touched_per_burst': float(touched.mean()),
        'learn_ms_p50': float(np.percentile(learn_s, 50) * 1e3) if learn_s else 0.0,
        'learn_ms_mean': float(np.mean(learn_s) * 1e3) if learn_s else 0.0}
    if engine.plastic is not None:
        result.update(plastic_bytes(engine))
        weights = engine.plastic.magnitude
        result['weight_mean_start_end'] = [float(model.plastic.initial.mean()),
                                           float(weights.mean())]
    engine.close()
    return result


def report(results: List[Dict[str, object]]) -> None:
    """Print one readable block per share, with the overhead against the first share."""
    base = results[0]
    for r in results:
        print(f"share {r['share']:g}: {r['plastic_pairs']}/{r['pairs']} pairs plastic, "
              f"{r['plastic_synapses']} of {r['synapses']} synapses "
              f"({100 * r['plastic_synapse_share']:.1f}%), {r['neurons']} neurons")
        over = r['ms_p50'] - base['ms_p50']
        cpu_over = r['cpu_ms_p50'] - base['cpu_ms_p50']
        print(f"  ms/burst p50 {r['ms_p50']:.2f}  p99 {r['ms_p99']:.2f}  mean "
              f"{r['ms_mean']:.2f}  overhead vs share {base['share']:g}: {over:+.2f} ms "
              f"({100 * over / base['ms_p50']:+.0f}%) at p50")
        print(f"  CPU ms/burst p50 {r['cpu_ms_p50']:.2f} (overhead {cpu_over:+.2f} ms, "
              f"{100 * cpu_over / base['cpu_ms_p50']:+.0f}%)")
        print(f"  fired/burst {r['fired_per_burst']:.0f}  plastic synapses touched/burst "
              f"{r['touched_per_burst']:.0f}  learning step p50 {r['learn_ms_p50']:.2f} ms "
              f"(mean {r['learn_ms_mean']:.2f})")
        if r['plastic_synapses']:
            print(f"  bytes per plastic synapse {r['bytes_per_plastic_synapse']:.1f} "
                  f"({r['of_which_per_synapse_arrays']:.1f} in per-synapse arrays + "
                  f"{r['of_which_per_neuron_arrays']:.1f} of per-neuron arrays); mean weight "
                  f"{r['weight_mean_start_end'][0]:.2f} -> {r['weight_mean_start_end'][1]:.2f}")
        sys.stdout.flush()


def main(argv=None) -> int:
    """Run every share and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--neurons', type=int, default=1_000_000)
    parser.add_argument('--fanout', type=int, default=10)
    parser.add_argument('--shares', default='0,0.1,1',
                        help='plastic shares of the area pairs, the first the baseline')
    parser.add_argument('--bursts', type=int, default=300)
    parser.add_argument('--warmup', type=int, default=100)
    parser.add_argument('--density', type=float, default=0.5,
                        help='share of the input area driven each burst (default 0.5)')
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--json', action='store_true', help='one JSON line per share')
    args = parser.parse_args(argv)
    if args.bursts < 1 or args.warmup < 0:
        parser.error('--bursts must be >= 1 and --warmup >= 0')
    shares = [float(s) for s in args.shares.split(',')]
    print(f'plastic rules: c, ltp, ltd, window = {PLASTIC_PARAMS}; {args.warmup} warm-up + '
          f'{args.bursts} timed bursts per share')
    results = []
    for share in shares:
        results.append(run_share(share, args))
        if args.json:
            print(json.dumps(results[-1]))
    report(results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
