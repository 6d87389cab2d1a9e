"""Genome -> Connectome, vectorised per mapping; a content-hash cache so restarts do not rebuild.

Two passes over the rules: the first counts synapses per source voxel exactly (per-axis
relations, no pairs generated) so that the memory estimate is checked before anything large
is allocated and CSR offsets are known; the second generates pairs and writes them in place.
"""

from dataclasses import dataclass
import os
import time
from typing import Callable, Dict, List, Optional, Union

from feagi_hailo_ros.brain.connectome import (BUILDER_VERSION, cache_dir, cache_path,  # noqa
                                              compact_indptr, Connectome, MappingInfo)
from feagi_hailo_ros.brain.errors import GenomeError
from feagi_hailo_ros.brain.genome import AreaSpec, Genome, load_genome, MappingRule
from feagi_hailo_ros.brain.layout import AreaLayout
from feagi_hailo_ros.brain.morphologies import (MorphologyError, part_counts_grid, part_pairs,
                                                rule_parts, RuleParts)
import numpy as np

ProgressFn = Callable[[str, int, int], None]
_BYTES_PER_NEURON = 2 + 8        # neuron_area uint16 + indptr (int64 while building)
_BYTES_PER_SYNAPSE = 4 + 2       # syn_target uint32 + syn_weight int16


@dataclass
class _Rule:
    src: int
    dst: int
    rule_index: int
    rule: MappingRule
    parts: RuleParts
    morphology_type: str


def default_memory_limit() -> int:
    """Bytes a build may use: $FEAGI_HAILO_MEMORY_LIMIT, else 75% of physical memory."""
    env = os.environ.get('FEAGI_HAILO_MEMORY_LIMIT')
    if env:
        return int(float(env))
    try:
        return int(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') * 0.75)
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def estimate_bytes(neurons: int, synapses: int) -> int:
    """Peak bytes of a build: the arrays plus per-neuron build temporaries."""
    return neurons * (_BYTES_PER_NEURON + 16) + synapses * _BYTES_PER_SYNAPSE


def build_connectome(genome: Union[Genome, str, os.PathLike, dict],
                     progress: Optional[ProgressFn] = None,
                     memory_limit: Optional[int] = None) -> Connectome:
    """Build the connectome of a genome; GenomeError (nothing half-built) when it cannot."""
    started = time.perf_counter()
    if not isinstance(genome, Genome):
        genome = load_genome(genome)
    areas = genome.areas
    warnings = list(genome.warnings)
    neurons = sum(a.neurons for a in areas)
    limit = default_memory_limit() if memory_limit is None else int(memory_limit)
    if estimate_bytes(neurons, 0) > limit:
        largest = max(areas, key=lambda a: a.neurons)
        raise GenomeError(
            f'the brain needs about {estimate_bytes(neurons, 0) / 2**20:.1f} MiB for its '
            f'{neurons} neurons alone, over the limit of {limit / 2**20:.1f} MiB; the largest '
            f'area is {largest.id!r} ({largest.neurons} neurons): make the genome smaller or '
            'raise the limit (FEAGI_HAILO_MEMORY_LIMIT, bytes)', genome.source, largest.id,
            '___bbx')
    rules = _plan(genome, warnings)
    synapses = sum(r.parts.voxel_pairs * areas[r.src].neurons_per_voxel for r in rules)
    need = estimate_bytes(neurons, synapses)
    if need > limit:
        per_area = [0] * len(areas)
        for r in rules:
            per_area[r.src] += r.parts.voxel_pairs * areas[r.src].neurons_per_voxel
        largest = max(range(len(areas)), key=lambda a: estimate_bytes(areas[a].neurons,
                                                                      per_area[a]))
        raise GenomeError(
            f'the brain needs about {need / 2**20:.1f} MiB ({neurons} neurons, {synapses} '
            f'synapses), over the limit of {limit / 2**20:.1f} MiB; the largest part is area '
            f'{areas[largest].id!r} ({areas[largest].neurons} neurons, {per_area[largest]} '
            'outgoing synapses): make the genome smaller or raise the limit '
            '(FEAGI_HAILO_MEMORY_LIMIT, bytes)', genome.source)
    if neurons >= 2 ** 32:
        raise GenomeError(f'{neurons} neurons: at most 2**32-1 are supported', genome.source)

    layout = AreaLayout.from_areas(areas)
    area_start = layout.area_start
    degree = _voxel_degrees(areas, rules)
    indptr = np.zeros(neurons + 1, dtype=np.int64)
    for a, area in enumerate(areas):
        per_neuron = np.repeat(degree[a], area.neurons_per_voxel)
        np.cumsum(per_neuron, out=indptr[area_start[a] + 1:area_start[a + 1] + 1])
        indptr[area_start[a] + 1:area_start[a + 1] + 1] += indptr[area_start[a]]
    syn_target = np.empty(synapses, dtype=np.uint32)
    syn_weight = np.empty(synapses, dtype=np.int16)

    filled = [np.zeros(area.dims, dtype=np.int64) for area in areas]
    done = 0
    mappings = []
    for r in rules:
        src, dst = areas[r.src], areas[r.dst]
        weight = r.rule.weight
        n_src = src.neurons_per_voxel
        fill = filled[r.src]
        for part in r.parts.parts:
            before = fill.reshape(-1)
            for src_vox, dst_vox, rank in part_pairs(part, src.dims, dst.dims):
                offset = before[src_vox] + rank
                target = layout.receiving_neuron(r.dst, dst_vox).astype(np.uint32)
                base = layout.first_neuron(r.src, src_vox)
                for k in range(n_src):
                    pos = indptr[base + k] + offset
                    syn_target[pos] = target
                    syn_weight[pos] = weight
            index, grid = part_counts_grid(part)
            fill[np.ix_(*index)] += grid
        count = r.parts.voxel_pairs * n_src
        done += count
        note = (f'unsupported function {r.parts.unsupported!r}: no synapses'
                if r.parts.unsupported else '')
        mappings.append(MappingInfo(src.id, dst.id, r.rule.morphology_id, count, weight,
                                    r.rule_index, r.morphology_type, note))
        if progress is not None:
            progress(f'{src.id} -> {dst.id} ({r.rule.morphology_id})', done, synapses)
    meta = {'builder_version': BUILDER_VERSION,
            'build_seconds': round(time.perf_counter() - started, 4),
            'title': genome.title}
    used = {r.rule.morphology_id for r in rules}
    return Connectome(areas, compact_indptr(indptr), syn_target, syn_weight, mappings,
                      genome_hash=genome.content_hash, warnings=warnings,
                      source=genome.source, meta=meta,
                      morphologies={k: genome.morphologies[k] for k in sorted(used)})


def _plan(genome: Genome, warnings: List[str]) -> List[_Rule]:
    """Resolve every rule to its areas and parts (exact counts), in genome order."""
    index = {a.id: i for i, a in enumerate(genome.areas)}
    unsupported: Dict[str, List[str]] = {}
    rules = []
    for s, area in enumerate(genome.areas):
        for i, rule in enumerate(area.mappings):
            morphology = genome.morphologies[rule.morphology_id]
            dst = genome.areas[index[rule.dst]]
            try:
                parts = rule_parts(area, dst, morphology, rule)
            except MorphologyError as exc:
                raise GenomeError(f'mapping to {rule.dst!r}: {exc}', genome.source, area.id,
                                  'dstmap') from None
            if parts.unsupported:
                unsupported.setdefault(parts.unsupported, []).append(f'{area.id}->{dst.id}')
            if parts.legacy_pair:
                warnings.append(f'genome {genome.source}: area {area.id!r}: morphology '
                                f'{rule.morphology_id!r} is one unwrapped pattern pair (legacy '
                                'form FEAGI 2.6 rejects); read as that single pair')
            rules.append(_Rule(s, index[rule.dst], i, rule, parts, morphology.type))
    for name, uses in unsupported.items():
        shown = ', '.join(uses[:5]) + (f' and {len(uses) - 5} more' if len(uses) > 5 else '')
        warnings.append(f'genome {genome.source}: unknown morphology {name!r} (no synapses '
                        f'created; FEAGI 2.6 builds none for it): used by {shown}')
    return rules


def _voxel_degrees(areas: List[AreaSpec], rules: List[_Rule]) -> List[np.ndarray]:
    """Synapses leaving each voxel of each area (one neuron's worth), flattened x, y, z."""
    degree = [np.zeros(area.dims, dtype=np.int64) for area in areas]
    for r in rules:
        for part in r.parts.parts:
            index, grid = part_counts_grid(part)
            degree[r.src][np.ix_(*index)] += grid
    return [d.reshape(-1) for d in degree]


def load_brain(path_or_genome: Union[Genome, str, os.PathLike, dict], cache: bool = True,
               progress: Optional[ProgressFn] = None,
               memory_limit: Optional[int] = None) -> Connectome:
    """Load a genome's connectome from the cache (memory-mapped), or build and cache it."""
    genome = path_or_genome if isinstance(path_or_genome, Genome) \
        else load_genome(path_or_genome)
    if not cache:
        return build_connectome(genome, progress, memory_limit)
    path = cache_path(genome)
    if os.path.exists(path):
        try:
            connectome = Connectome.load(path, mmap=True)
            if connectome.genome_hash == genome.content_hash:
                connectome.source = genome.source
                connectome.meta['cache_file'] = path
                connectome.meta['from_cache'] = True
                return connectome
        except (GenomeError, OSError, ValueError, KeyError, TypeError):
            pass  # unreadable cache entry: rebuild it
    connectome = build_connectome(genome, progress, memory_limit)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        connectome.save(path)
        connectome.meta['cache_file'] = path
    except OSError as exc:
        connectome.warnings.append(f'could not write the connectome cache {path}: {exc}')
    return connectome
