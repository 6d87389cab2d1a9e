"""`feagi-hailo info GENOME [--json]`: areas, mappings, plastic pairs, warnings, time, memory."""

import argparse
import json
import os
import resource
import sys
import time

from feagi_hailo_ros.brain.builder import build_connectome, load_brain
from feagi_hailo_ros.brain.genome import load_genome
from feagi_hailo_ros.brain.synth import demo_genome
import numpy as np


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of `info` to its sub-parser."""
    parser.add_argument('genome', metavar='GENOME',
                        help="FEAGI genome JSON file, or 'demo' for the built-in demo brain")
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    parser.add_argument('--cache', action='store_true',
                        help='load the connectome from the cache (build and cache it if absent)')
    parser.add_argument('--memory-limit-mb', type=float, default=None,
                        help='refuse brains estimated above this many MiB')


class StderrProgress:
    """Progress of long builds on stderr: shown after 1 s or for > 1M synapses."""

    def __init__(self, stream=None, after_s: float = 1.0):
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.after_s = after_s
        self.shown = False

    def __call__(self, message: str, done: int, total: int) -> None:
        """Report one finished mapping."""
        if not self.shown and total < 1_000_000 and \
                time.perf_counter() - self.started < self.after_s:
            return
        self.shown = True
        percent = 100.0 * done / total if total else 100.0
        self.stream.write(f'\rbuilding: {percent:5.1f}% {done}/{total} synapses  '
                          f'{message[:60]:60}')
        if done >= total:
            self.stream.write('\n')
        self.stream.flush()


def plastic_pairs(connectome) -> list:
    """Each plastic pair (sorted): source, destination, synapses, parameters and their line."""
    rows = []
    for (src, dst), params in sorted(connectome.plastic_pairs.items()):
        s, d = connectome.layout.area_index(src), connectome.layout.area_index(dst)
        lo, hi = connectome.syn_indptr[connectome.area_start[s:s + 2]]
        targets = np.asarray(connectome.syn_target[lo:hi], np.int64)
        count = int(np.count_nonzero(np.asarray(connectome.neuron_area)[targets] == d))
        rows.append({'src': src, 'dst': dst, 'synapses': count,
                     'parameters': dict(params.__dict__), 'rule': params.describe()})
    return rows


def gather(args: argparse.Namespace) -> dict:
    """Load and build the genome; return the `--json` document."""
    source = demo_genome() if args.genome == 'demo' and not os.path.exists(args.genome) \
        else args.genome
    limit = None if args.memory_limit_mb is None else int(args.memory_limit_mb * 2 ** 20)
    started = time.perf_counter()
    genome = load_genome(source, source='demo' if not isinstance(source, str) else None)
    loaded = time.perf_counter()
    progress = StderrProgress()
    if args.cache:
        connectome = load_brain(genome, cache=True, progress=progress, memory_limit=limit)
    else:
        connectome = build_connectome(genome, progress=progress, memory_limit=limit)
    built = time.perf_counter()
    summary = connectome.summary()
    summary.update({
        'plastic_pairs': plastic_pairs(connectome),
        'title': genome.title,
        'genome_load_seconds': round(loaded - started, 4),
        'build_seconds': round(built - loaded, 4),
        'from_cache': bool(connectome.meta.get('from_cache', False)),
        'peak_rss_bytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    })
    return summary


def run(args: argparse.Namespace) -> int:
    """Print the description of a genome; 0 on success."""
    info = gather(args)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    out = [f"genome {info['source']}  ({info['title']})",
           f"  {'area':14} {'name':28} {'type':7} {'dimensions':>14} {'n':>2} {'neurons':>10}"]
    for a in info['areas']:
        dims = 'x'.join(str(d) for d in a['dimensions'])
        out.append(f"  {a['id']:14} {a['name'][:28]:28} {a['type']:7} {dims:>14} "
                   f"{a['neurons_per_voxel']:>2} {a['neurons']:>10}")
    out.append(f"  {'mapping':32} {'morphology':28} {'weight':>6} {'synapses':>10}")
    for m in info['mappings']:
        arrow = f"{m['src']} -> {m['dst']}"
        note = f"  ({m['note']})" if m.get('note') else ''
        out.append(f"  {arrow:32} {m['morphology'][:28]:28} {m['weight']:>6} "
                   f"{m['synapses']:>10}{note}")
    if info['plastic_pairs']:
        out.append(f"  {'plastic pair':32} {'synapses':>10}  rule")
    for p in info['plastic_pairs']:
        out.append(f"  {p['src'] + ' -> ' + p['dst']:32} {p['synapses']:>10}  {p['rule']}")
    out.append(f"totals: {len(info['areas'])} areas, {info['neurons']} neurons, "
               f"{info['synapses']} synapses")
    how = 'loaded from cache' if info['from_cache'] else 'build'
    out.append(f"{how}: {info['build_seconds']:.3f} s (genome read "
               f"{info['genome_load_seconds']:.3f} s); "
               f"connectome {info['memory_bytes'] / 2**20:.1f} MiB "
               f"({info['bytes_per_neuron']:.2f} B/neuron, {info['bytes_per_synapse']:.2f} "
               f"B/synapse); peak RSS {info['peak_rss_bytes'] / 2**20:.0f} MiB")
    out.append(f"warnings: {len(info['warnings'])}")
    out.extend(f'  {w}' for w in info['warnings'])
    print('\n'.join(out))
    return 0
