"""Hybrid benchmark: a synthetic vision brain on the CPU engine and on CPU + emulated devices.

Each run gets the same injections (integer potentials into the input area), so the fired
sets must match; the report gives ms per burst and the hybrid's split: host (CPU partition
and all neuron updates), transfer (building input grids, scattering outputs), device
(inference), wait (host idle until the device answered).
"""

import time
from typing import Dict, List, Optional, Sequence

import numpy as np


def make_injections(connectome, bursts: int, density: float = 0.05, seed: int = 1,
                    area_id: str = 'iic400'):
    """Per burst (indices, potentials) into the input area: integer potentials 1..199."""
    a = connectome.area_index(area_id)
    lo, hi = int(connectome.area_start[a]), int(connectome.area_start[a + 1])
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(bursts):
        idx = lo + np.flatnonzero(rng.random(hi - lo) < density)
        out.append((idx.astype(np.int64), rng.integers(1, 200, idx.size).astype(np.float32)))
    return out


def timed_run(engine, injections, warmup: int):
    """Run the bursts; return per-burst seconds after warm-up, fired sets, timing splits."""
    times, fired, splits = [], [], []
    for b, (idx, pot) in enumerate(injections):
        engine.inject_indices(idx, pot)
        t0 = time.perf_counter()
        result = engine.burst()
        dt = time.perf_counter() - t0
        fired.append(np.array(result, copy=True))
        if b >= warmup:
            times.append(dt)
            if hasattr(engine, 'last_timing'):
                splits.append(dict(engine.last_timing))
    return np.array(times), fired, splits


def run_hybrid_benchmark(connectome, bursts: int = 200, warmup: int = 20, repeats: int = 3,
                         latencies_ms: Sequence[float] = (0.0, 1.0), partition='auto',
                         density: float = 0.05, log=None) -> Dict[str, object]:
    """CPU-only vs hybrid with the emulator at each latency; best p50 of `repeats` runs."""
    from feagi_hailo_ros.devices.emulator import EmulatedHailo
    from feagi_hailo_ros.devices.hybrid import HybridEngine
    from feagi_hailo_ros.engine.core import BurstEngine
    injections = make_injections(connectome, bursts + warmup, density)
    results: Dict[str, dict] = {}
    reference: Optional[List[np.ndarray]] = None
    for repeat in range(repeats):
        runs = [('cpu', None)] + [(f'emulator_{lat:g}ms', float(lat)) for lat in latencies_ms]
        for name, latency in runs:
            if latency is None:
                engine = BurstEngine(connectome)
            else:
                engine = HybridEngine(connectome,
                                      lambda p, lat=latency: EmulatedHailo(p.name, lat),
                                      partition=partition)
            try:
                times, fired, splits = timed_run(engine, injections, warmup)
            finally:
                if hasattr(engine, 'close'):
                    engine.close()
            if reference is None:
                reference = fired
            entry = {'ms_p50': float(np.median(times) * 1e3),
                     'ms_mean': float(times.mean() * 1e3),
                     'identical_fired_sets': all(np.array_equal(x, y)
                                                 for x, y in zip(fired, reference)),
                     'fired_per_burst': float(np.mean([f.size for f in fired]))}
            if splits:
                for key in ('host_s', 'transfer_s', 'device_s', 'wait_s', 'cpu_partition_s'):
                    entry[key[:-2] + '_ms'] = float(np.median([s[key] for s in splits]) * 1e3)
                entry['device_areas'] = [connectome.areas[t].id for p in engine.plan.partitions
                                         for t in p.targets]
            best = results.get(name)
            if best is None or entry['ms_p50'] < best['ms_p50']:
                results[name] = entry
            if log:
                log(f'repeat {repeat} {name}: {entry["ms_p50"]:.2f} ms/burst p50')
    cpu = results['cpu']['ms_p50']
    for name, entry in results.items():
        if name != 'cpu':
            entry['vs_cpu_percent'] = 100.0 * (entry['ms_p50'] - cpu) / cpu
            entry['vs_cpu_ms'] = entry['ms_p50'] - cpu
    return {'neurons': connectome.n_neurons, 'synapses': connectome.n_synapses,
            'bursts': bursts, 'repeats': repeats, 'results': results}


def summary_lines(report: dict) -> List[str]:
    """One readable line per run."""
    lines = []
    for name, entry in report['results'].items():
        extra = ''
        if name != 'cpu':
            extra = (f' ({entry["vs_cpu_percent"]:+.1f}% / {entry["vs_cpu_ms"]:+.2f} ms vs cpu;'
                     f' host {entry["host_ms"]:.2f}, transfer {entry["transfer_ms"]:.2f}, '
                     f'device {entry["device_ms"]:.2f}, wait {entry["wait_ms"]:.2f} ms; '
                     f'identical={entry["identical_fired_sets"]})')
        lines.append(f'{name}: {entry["ms_p50"]:.2f} ms/burst p50{extra}')
    return lines
