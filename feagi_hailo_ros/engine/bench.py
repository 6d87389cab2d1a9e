"""The burst benchmark: a fixed workload, random injections drawn in the timed loop, JSON out."""

import resource
import time
from typing import Dict

from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.workloads import bench_workload
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
    drawn by the neuron-update pass of burst b-1 (one fused pass, SplitMix64 counter hash,
    see engine.kernel); only burst 0's are drawn before the loop.
    """
    if bursts < 1:
        raise ValueError(f'bursts must be >= 1, got {bursts}')
    t0 = time.perf_counter()
    model = bench_workload(workload, seed=seed)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = BurstEngine(model, partitions=threads, threads=threads > 1)
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
