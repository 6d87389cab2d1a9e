"""The burst benchmark: a fixed workload, random injections drawn in the timed loop, JSON out."""

import resource
import time
from typing import Callable, Dict, Optional, Tuple

from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.factory import EngineConfig, make_engine
from feagi_hailo_ros.testing.workloads import bench_workload
import numpy as np

# Untimed bursts before timing: the start-up wave of activity has died out by then.
WARMUP_BURSTS = 200


def peak_rss_mb() -> float:
    """Return the peak resident set size of this process in MB (Linux ru_maxrss is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_benchmark(workload: str = 'w1m', bursts: int = 200, threads: int = 1,
                  seed: int = 1, warmup: int = WARMUP_BURSTS) -> Dict[str, object]:
    """Build a workload, run `warmup` then `bursts` timed bursts, and return the numbers.

    Starting from rest, all neurons charge together and the activity rings (up to ~6% fire)
    for about 100 bursts before it settles near 2.15% per burst; the default warmup skips
    that transient so the timings are of the steady state. Every neuron gets an injection
    0.8 + 2*U(0,1) every burst. Burst b's injections are
    drawn by the neuron-update pass of burst b-1 (one fused pass, lowbias32 counter hash,
    see engine.kernel); only burst 0's are drawn before the loop.
    """
    if bursts < 1:
        raise ValueError(f'bursts must be >= 1, got {bursts}')
    t0 = time.perf_counter()
    model = bench_workload(workload, seed=seed)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = make_engine(model, EngineConfig(threads=threads))
    engine_s = time.perf_counter() - t0
    try:
        engine.fill_seed = int(seed) + 1      # > 0 switches the fused draw on
        kernel.add_bench_injections(engine.fill_seed, 0, 0, model.n_neurons,
                                    engine.fcl_input)
        for _ in range(warmup):
            engine.burst()
        times = np.zeros(bursts, dtype=np.float64)
        fired = np.zeros(bursts, dtype=np.int64)
        clock = time.perf_counter
        for b in range(bursts):
            start = clock()
            out = engine.burst()
            times[b] = clock() - start
            fired[b] = out.size
    finally:
        engine.close()
    degree = np.diff(model.synapses.indptr)
    total_s = float(times.sum())
    events = float(fired.sum()) * float(degree.mean())
    return {
        'workload': workload,
        'neurons': model.n_neurons,
        'synapses': model.synapses.n_synapses,
        'threads': threads,
        'bursts': bursts,
        'warmup_bursts': warmup,
        'fired_per_burst': float(fired.mean()),
        'fired_per_burst_min': int(fired.min()),
        'fired_per_burst_max': int(fired.max()),
        'ms_per_burst_p50': float(np.percentile(times, 50) * 1e3),
        'ms_per_burst_p99': float(np.percentile(times, 99) * 1e3),
        'ms_per_burst_mean': total_s / bursts * 1e3,
        'neuron_updates_per_s': model.n_neurons * bursts / total_s,
        'synaptic_events_per_s': events / total_s,
        'peak_rss_mb': peak_rss_mb(),
        'build_s': build_s,
        'engine_setup_s': engine_s,
    }


def memory_report(engine: BurstEngine) -> Dict[str, object]:
    """Return the bytes per neuron and per synapse held by a brain and its engine.

    From `BurstEngine.memory()`: the connectome (indptr + neuron_area per neuron, target +
    weight per synapse), neuron parameters, `state` (what a checkpoint holds), `inputs`
    (the dense float32 input accumulator) and `scratch` (fired output buffers, work space,
    partition copies of the synapses). `state_total_per_neuron` is connectome + parameters
    + state; `total_per_neuron` adds inputs and scratch: every array held.
    """
    held = engine.memory()
    n = max(1, engine.n_neurons)
    s = max(1, engine.model.synapses.n_synapses)
    group = {name: sum(arrays.values()) for name, arrays in held.items()}
    per_neuron = {name: group[name] / n for name in
                  ('connectome_neurons', 'params', 'state', 'inputs', 'scratch')}
    state_total = per_neuron['connectome_neurons'] + per_neuron['params'] + per_neuron['state']
    return {
        'neurons': engine.n_neurons, 'synapses': engine.model.synapses.n_synapses,
        'fired_last_burst': int(engine.fired.size),
        'bytes_per_neuron': {k: round(v, 3) for k, v in per_neuron.items()},
        'bytes_per_synapse': {
            'connectome_synapses': round(group['connectome_synapses'] / s, 3),
            'partition_synapses': round(group['partition_synapses'] / s, 3)},
        'state_total_per_neuron': round(state_total, 3),
        'total_per_neuron': round(state_total + per_neuron['inputs'] + per_neuron['scratch'],
                                  3),
        'total_per_synapse': round((group['connectome_synapses']
                                    + group['partition_synapses']) / s, 3),
        'arrays': held,
        'dtypes': {'indptr': str(engine.model.synapses.indptr.dtype),
                   'target': str(engine.model.synapses.target.dtype),
                   'fired': str(engine.fired.dtype),
                   'refractory_countdown': str(engine.state_arrays.refractory_countdown.dtype)},
    }


def run_for_memory(engine: BurstEngine, bursts: int = WARMUP_BURSTS, seed: int = 2,
                   inputs: Optional[Callable[[int], Tuple[np.ndarray, np.ndarray]]] = None
                   ) -> Dict[str, object]:
    """Run bursts so that the fired buffers reach their working size; return the report.

    Each burst gets `inputs(burst)` (indices, potentials) or, without `inputs`, the
    benchmark injections (every neuron, 0.8 + 2 * U(0, 1)). Returns `memory_report`
    afterwards, with the largest fired count seen (the buffers keep the largest size).
    """
    if inputs is None:
        engine.fill_seed = int(seed)
        kernel.add_bench_injections(engine.fill_seed, engine.burst_count, 0,
                                    engine.n_neurons, engine.fcl_input)
    most = 0
    for burst in range(bursts):
        if inputs is not None:
            engine.inject_indices(*inputs(burst))
        most = max(most, int(engine.burst().size))
    if inputs is None:
        engine.fill_seed = 0
        engine.fcl_input[:] = kernel.NOT_CANDIDATE     # drop the drawn next injections
    report = memory_report(engine)
    report['bursts_run'] = bursts
    report['most_fired_in_a_burst'] = most
    return report


def area_drive(start: int, stop: int, fraction: float = 0.5, potential: float = 2.0,
               seed: int = 5) -> Callable[[int], Tuple[np.ndarray, np.ndarray]]:
    """Return inputs(burst) for `run_for_memory`: a random `fraction` of neurons [start, stop).

    Each burst a fresh random subset gets `potential` (as a camera drives an image area).
    """
    neurons = np.arange(start, stop, dtype=np.int64)
    rng = np.random.default_rng(seed)

    def inputs(_burst: int) -> Tuple[np.ndarray, np.ndarray]:
        chosen = neurons[rng.random(neurons.size) < fraction]
        return chosen, np.full(chosen.size, potential, np.float32)
    return inputs
