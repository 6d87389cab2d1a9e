"""Hybrid benchmark: a synthetic vision brain on the CPU engine and on CPU + emulated devices.

Each run gets the same injections (integer potentials into the input area), so the fired
sets must match; the report gives ms per burst and the hybrid's split: host (main thread:
the CPU partition, then the device targets: output grids into the neuron inputs and their
neuron update), transfer (worker thread: building the input grids), device (inference,
latency included), wait (main thread idle until the device's outputs arrived). Transfer and
device run in the worker thread, overlapping the CPU partition, so they do not add up to
the burst time.

`replay_*` runs measure the hybrid engine itself with a device that computes nothing: an
untimed emulator run records every inference's outputs (sparse), a ReplayDevice refills its
output grids from them in order (that refill is its only cost; see bench/README.md)
within the given latency (round trip, as the emulator's). The emulator runs the graph on
this host's CPU, so its own compute is in its time; on a Hailo-8 that work is on the chip.
"""

import time
from typing import Dict, List, Optional, Sequence

from feagi_hailo_ros.testing.replay import Recording, ReplayDevice
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


def timed_run(engine, injections, warmup: int, gap_s: float = 0.0):
    """Run the bursts; return per-burst seconds after warm-up, fired sets, timing splits.

    `gap_s` is slept between bursts: the time a robot's loop spends on I/O (sensors,
    motors, messages) between bursts, when a prefetched device job can run.
    """
    times, fired, splits = [], [], []
    for b, (idx, pot) in enumerate(injections):
        if gap_s > 0 and b:
            time.sleep(gap_s)
        engine.inject_indices(idx, pot)
        t0 = time.perf_counter()
        result = engine.burst()
        dt = time.perf_counter() - t0
        fired.append(np.array(result, copy=True))
        if b >= warmup:
            times.append(dt)
            if hasattr(engine, 'last_timing'):
                splits.append(engine.last_timing.as_dict())
    return np.array(times), fired, splits


def run_hybrid_benchmark(connectome, bursts: int = 200, warmup: int = 20, repeats: int = 3,
                         latencies_ms: Sequence[float] = (0.0, 1.0), partition='auto',
                         density: float = 0.05, log=None,
                         gap_ms: float = 0.0, emulator_threads: Optional[int] = None,
                         replay_dense: bool = False) -> Dict[str, object]:
    """CPU-only vs hybrid with the emulator at each latency; best p50 of `repeats` runs.

    Each entry also lists every repeat's p50 (`runs_ms_p50`) and their median. `gap_ms` is
    slept between bursts (a robot loop's I/O time; 0: bursts back to back);
    `emulator_threads`: the emulator's host threads (default: its own); `replay_dense`
    builds the replay device's frames up front (memory: bursts x output grids) so that it
    costs nothing.
    """
    from feagi_hailo_ros.devices.emulator import EmulatedHailo
    from feagi_hailo_ros.engine.factory import EngineConfig, make_engine
    injections = make_injections(connectome, bursts + warmup, density)
    results: Dict[str, dict] = {}
    reference: Optional[List[np.ndarray]] = None
    recorded: Dict[str, list] = {}

    def emulated(part, lat):
        return EmulatedHailo(part.name, lat, threads=emulator_threads)

    # an untimed run records the device outputs the replay runs give back
    devices = EngineConfig(device='emulator', partition=partition)
    recorder = make_engine(connectome, EngineConfig(device='emulator', partition=partition,
                                                    prefetch=False),
                           device_factory=lambda p: Recording(emulated(p, 0.0),
                                                              recorded.setdefault(p.name, [])))
    try:
        timed_run(recorder, injections, len(injections))
    finally:
        recorder.close()
    for repeat in range(repeats):
        runs = [('cpu', None, None)]
        runs += [(f'emulator_{lat:g}ms', float(lat), emulated) for lat in latencies_ms]
        runs += [(f'replay_{lat:g}ms', float(lat),
                  lambda p, lat: ReplayDevice(recorded[p.name], lat, p.name, replay_dense))
                 for lat in latencies_ms]
        for name, latency, factory in runs:
            if latency is None:
                engine = make_engine(connectome)
            else:
                engine = make_engine(connectome, devices, device_factory=lambda p, lat=latency,
                                     f=factory: f(p, lat))
            try:
                times, fired, splits = timed_run(engine, injections, warmup, gap_ms / 1000.0)
            finally:
                engine.close()
            if reference is None:
                reference = fired
            entry = {'ms_p50': float(np.median(times) * 1e3),
                     'ms_mean': float(times.mean() * 1e3),
                     'identical_fired_sets': all(np.array_equal(x, y)
                                                 for x, y in zip(fired, reference)),
                     'fired_per_burst': float(np.mean([f.size for f in fired]))}
            if splits:
                for key in ('host_s', 'transfer_s', 'device_s', 'wait_s', 'cpu_partition_s',
                            'device_targets_s'):
                    entry[key[:-2] + '_ms'] = float(np.median([s[key] for s in splits]) * 1e3)
                entry['device_areas'] = [connectome.areas[t].id for p in engine.plan.partitions
                                         for t in p.targets]
            best = results.get(name)
            runs_p50 = (best['runs_ms_p50'] if best else []) + [entry['ms_p50']]
            if best is None or entry['ms_p50'] < best['ms_p50']:
                results[name] = entry
            results[name]['runs_ms_p50'] = runs_p50
            results[name]['median_of_runs_ms_p50'] = float(np.median(runs_p50))
            if log:
                log(f'repeat {repeat} {name}: {entry["ms_p50"]:.2f} ms/burst p50')
    cpu = results['cpu']['ms_p50']
    for name, entry in results.items():
        if name != 'cpu':
            entry['vs_cpu_percent'] = 100.0 * (entry['ms_p50'] - cpu) / cpu
            entry['vs_cpu_ms'] = entry['ms_p50'] - cpu
            base = results.get(name.split('_')[0] + '_0ms')
            if base is not None and base is not entry:
                entry['vs_0ms_latency_ms'] = entry['ms_p50'] - base['ms_p50']
    return {'neurons': connectome.n_neurons, 'synapses': connectome.n_synapses,
            'bursts': bursts, 'repeats': repeats, 'gap_ms': gap_ms,
            'emulator_threads': emulator_threads, 'replay_dense': replay_dense,
            'results': results}


def summary_lines(report: dict) -> List[str]:
    """One readable line per run."""
    lines = []
    for name, entry in report['results'].items():
        extra = ''
        if name != 'cpu':
            extra = (f' ({entry["vs_cpu_percent"]:+.1f}% / {entry["vs_cpu_ms"]:+.2f} ms vs cpu;'
                     f' host {entry["host_ms"]:.2f} (cpu partition '
                     f'{entry["cpu_partition_ms"]:.2f}, device targets '
                     f'{entry["device_targets_ms"]:.2f}), transfer {entry["transfer_ms"]:.2f}, '
                     f'device {entry["device_ms"]:.2f}, wait {entry["wait_ms"]:.2f} ms; '
                     f'identical={entry["identical_fired_sets"]})')
            if 'vs_0ms_latency_ms' in entry:
                extra += f'; {entry["vs_0ms_latency_ms"]:+.2f} ms vs the same device at 0 ms'

        lines.append(f'{name}: {entry["ms_p50"]:.2f} ms/burst p50 (median of runs '
                     f'{entry["median_of_runs_ms_p50"]:.2f}){extra}')
    return lines
