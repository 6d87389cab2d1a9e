"""Genome -> Connectome, vectorised per mapping; a content-hash cache so restarts do not rebuild.

Two passes over the rules: the first counts synapses per source voxel exactly (per-axis
relations, no pairs generated) so that the memory estimate is checked before anything large
is allocated and CSR offsets are known; the second generates pairs and writes them in place.
"""

from dataclasses import dataclass
import os
import time
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

from feagi_hailo_ros.brain.connectome import (BUILDER_VERSION, cache_dir, cache_path,  # noqa
                                              compact_indptr, compact_weights, Connectome,
                                              MappingInfo)
from feagi_hailo_ros.brain.errors import GenomeError
from feagi_hailo_ros.brain.genome import AreaSpec, Genome, load_genome, MappingRule
from feagi_hailo_ros.brain.ids import decode_v2
from feagi_hailo_ros.brain.layout import AreaLayout
from feagi_hailo_ros.brain.morphologies import (MorphologyError, PairBudgetError,
                                                part_counts_grid, part_pairs, rule_parts,
                                                RuleParts)
from feagi_hailo_ros.brain.plasticity import PlasticParams
import numpy as np

ProgressFn = Callable[[str, int, int], None]
_BYTES_PER_NEURON = 2 + 8        # neuron_area uint16 + indptr (int64 while building)
_BYTES_PER_SYNAPSE = 4 + 4       # syn_target uint32 + syn_weight (int16, or float32)
_BYTES_PER_AXIS_PAIR = 8 + 8     # a per-axis relation's source and destination int64


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
    plastic: Dict[Tuple[str, str], PlasticParams] = {}
    rules = _plan(genome, warnings, neurons, limit, plastic)
    synapses = sum(r.parts.voxel_pairs * areas[r.src].neurons_per_voxel for r in rules)
    _check_memory(genome, rules, neurons, estimate_bytes(neurons, synapses), limit)
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
    weights = [r.rule.weight for r in rules]
    syn_weight = np.empty(synapses, dtype=compact_weights(np.array(weights or [0.0])).dtype)

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
                      morphologies={k: genome.morphologies[k] for k in sorted(used)},
                      plastic_pairs=plastic)


def _check_memory(genome: Genome, rules: List[_Rule], neurons: int, need: int, limit: int,
                  partial: bool = False) -> None:
    """Refuse the brain when `need` bytes (planned so far, if partial) exceed the limit."""
    if need <= limit:
        return
    areas = genome.areas
    per_area = [0] * len(areas)
    for r in rules:
        per_area[r.src] += r.parts.voxel_pairs * areas[r.src].neurons_per_voxel
    synapses = sum(per_area)
    largest = max(range(len(areas)), key=lambda a: estimate_bytes(areas[a].neurons,
                                                                  per_area[a]))
    more = 'more than' if partial else 'about'
    least = 'at least ' if partial else ''
    raise GenomeError(
        f'the brain needs {more} {need / 2**20:.1f} MiB ({neurons} neurons, {least}{synapses} '
        f'synapses), over the limit of {limit / 2**20:.1f} MiB; the largest part is area '
        f'{areas[largest].id!r} ({areas[largest].neurons} neurons, {least}{per_area[largest]} '
        'outgoing synapses): make the genome smaller or raise the limit '
        '(FEAGI_HAILO_MEMORY_LIMIT, bytes)', genome.source)


def _plan(genome: Genome, warnings: List[str], neurons: int = 0,
          limit: Optional[int] = None,
          plastic: Optional[Dict[Tuple[str, str], PlasticParams]] = None) -> List[_Rule]:
    """Resolve every rule to its areas and parts (exact counts), in genome order.

    `plastic` (when given) receives the registered plastic pairs (NEURON_MODEL §4b).
    With a memory `limit`, the per-axis coordinate pairs the parts hold and the synapses
    planned so far are checked rule by rule, so a fan-out that cannot fit is refused before
    its relations are built.
    """
    index = {a.id: i for i, a in enumerate(genome.areas)}
    unsupported: Dict[str, List[str]] = {}
    rules: List[_Rule] = []
    held_pairs = synapses = 0
    for s, area in enumerate(genome.areas):
        stopped = _stopped_rules(genome, area, warnings)
        if plastic is not None:
            _register_plastic(genome, area, stopped, plastic, warnings)
        for i, rule in enumerate(area.mappings):
            if i in stopped:
                continue
            if rule.plasticity.status == 'drop':
                warnings.append(f'genome {genome.source}: area {area.id!r}: mapping to '
                                f'{rule.dst!r} ({rule.morphology_id}): '
                                f'{rule.plasticity.reason}: dropped whole, no synapses (as '
                                'FEAGI 2.6)')
                continue
            morphology = genome.morphologies[rule.morphology_id]
            dst = genome.areas[index[rule.dst]]
            if morphology.type == '':
                warnings.append(f'genome {genome.source}: area {area.id!r}: mapping to '
                                f'{rule.dst!r}: morphology {rule.morphology_id!r} has no type '
                                'and is not built in: no synapses (as FEAGI 2.6)')
                continue
            max_pairs = None
            if limit is not None:
                left = limit - estimate_bytes(neurons, synapses)
                max_pairs = max(0, left // _BYTES_PER_AXIS_PAIR - held_pairs)
            try:
                parts = rule_parts(area, dst, morphology, rule, max_pairs=max_pairs)
            except PairBudgetError as exc:
                raise GenomeError(
                    f'mapping to {rule.dst!r} ({rule.morphology_id}): its per-axis coordinate '
                    f'pairs alone need more than {exc.pairs * _BYTES_PER_AXIS_PAIR / 2**20:.1f} '
                    f'MiB, over what the limit of {limit / 2**20:.1f} MiB leaves: use smaller '
                    'areas or a projector, or raise the limit (FEAGI_HAILO_MEMORY_LIMIT, bytes)',
                    genome.source, area.id, 'dstmap') from None
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
            if limit is not None:
                held_pairs += sum(len(axis) for part in parts.parts for axis in part.axes)
                synapses += parts.voxel_pairs * area.neurons_per_voxel
                _check_memory(genome, rules, neurons, estimate_bytes(neurons, synapses)
                              + held_pairs * _BYTES_PER_AXIS_PAIR, limit, partial=True)
    for name, uses in unsupported.items():
        shown = ', '.join(uses[:5]) + (f' and {len(uses) - 5} more' if len(uses) > 5 else '')
        warnings.append(f'genome {genome.source}: morphology function {name!r} is not '
                        'supported here: no synapses created (FEAGI 2.6 builds synapses for '
                        f'its built-in functions): used by {shown}')
    return rules


def id_bytes(area_id: str) -> bytes:
    """An area's 2.x id as bytes: a 12-character base64 id decoded; else UTF-8, `_`-padded.

    FEAGI 2.6 builds a source area's destinations in the byte order of these ids (a legacy
    custom id's 2.x id is its bytes padded with `_` to 8).
    """
    return decode_v2(area_id) or area_id.encode('utf-8').ljust(8, b'_')


def _failure(genome: Genome, rule: MappingRule) -> Optional[str]:
    """Why FEAGI 2.6 stops building at this rule, or None (NEURON_MODEL §4b step 3, §5)."""
    if rule.morphology_id not in genome.morphologies:
        return (f'names morphology {rule.morphology_id!r}, which is neither declared nor '
                'built in')
    if rule.plasticity.status == 'fail':
        return f'is a plastic rule that fails to register ({rule.plasticity.reason})'
    return None


def _build_order(area: AreaSpec) -> List[int]:
    """Return the area's rule indices in FEAGI 2.6's build order.

    Destinations in byte order of their 2.x ids, each destination's rules in list order.
    """
    rank = {dst: k for k, dst in enumerate(sorted({r.dst for r in area.mappings},
                                                  key=id_bytes))}
    return sorted(range(len(area.mappings)), key=lambda i: (rank[area.mappings[i].dst], i))


def _stopped_rules(genome: Genome, area: AreaSpec, warnings: List[str]) -> Set[int]:
    """Indices of the area's rules FEAGI 2.6 does not build (NEURON_MODEL §4b step 3, §5).

    A rule naming a morphology neither declared nor built in, or a plastic rule that fails,
    stops the building of its source area's synapses: that rule, the rest of its
    destination's list and every later destination (in the byte order of their 2.x ids)
    get none, and no plasticity; earlier ones keep theirs.
    """
    order = _build_order(area)
    for k, i in enumerate(order):
        reason = _failure(genome, area.mappings[i])
        if reason is None:
            continue
        rule = area.mappings[i]
        stopped = set(order[k:])
        lost = sorted({area.mappings[j].dst for j in stopped})
        warnings.append(f'genome {genome.source}: area {area.id!r}: mapping to {rule.dst!r} '
                        f'({rule.morphology_id}) {reason}: as FEAGI 2.6, the building of the '
                        f'synapses of this area stops there ({len(stopped)} rule(s) not '
                        f"built, to {', '.join(lost)})")
        return stopped
    return set()


def _register_plastic(genome: Genome, area: AreaSpec, stopped: Set[int],
                      plastic: Dict[Tuple[str, str], PlasticParams],
                      warnings: List[str]) -> None:
    """Register the area's plastic pairs: the last valid plastic rule of a pair wins."""
    for i in _build_order(area):
        rule = area.mappings[i]
        if i in stopped or rule.plasticity.status != 'plastic':
            continue
        key = (area.id, rule.dst)
        if key in plastic and plastic[key] != rule.plasticity.params:
            warnings.append(f'genome {genome.source}: area {area.id!r}: plastic rule to '
                            f'{rule.dst!r} ({rule.morphology_id}, rule {i}) replaces the '
                            f'parameters of an earlier one of the pair ({plastic[key].describe()}'
                            f' -> {rule.plasticity.params.describe()}), as FEAGI 2.6')
        plastic[key] = rule.plasticity.params


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
