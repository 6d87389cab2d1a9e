"""Synthetic brains written as real FEAGI genomes (flat 2.x blueprint, legacy area ids).

`synthetic_genome` makes the deployment guide's vision pipeline at any size (input image area,
hidden areas, output area, ~fan-out synapses per neuron through vectors and projectors);
`demo_genome` is a small lively brain: segmented vision in, a motor area out.
Weights and psp are integers and psp_uniform is set, so every synaptic current is an integer
(exact on the device's quantisation).
"""

import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

_PREFIX = '_____10c-'
_FUNCTIONS = ('projector', 'block_to_block', 'expander_x', 'reducer_x', 'randomizer',
              'lateral_pairs_x')


def area_genes(area_id: str, name: str, group: str, dims: Sequence[int],
               position: Sequence[int] = (0, 0, 0), dstmap: Optional[Dict[str, list]] = None,
               **neuron: Any) -> Dict[str, Any]:
    """Every gene FEAGI writes for an area, under FEAGI 2.6's suffixes; neuron genes by kw."""
    genes = {
        'fire_t': 1.0, 'fthlim': 0.0, 'ftincx': 0.0, 'ftincy': 0.0, 'ftincz': 0.0,
        'refrac': 0, 'leak_c': 0.0, 'leak_v': 0.0, 'c_fr_c': 0, 'snooze': 0.0, 'pstcr_': 1.0,
        'pstcrm': 35.0, 'pspuni': True, 'mp_acc': False, 'mp_psp': False, 'excite': 1.0,
    }
    unknown = set(neuron) - set(genes)
    if unknown:
        raise ValueError(f'unknown neuron genes {sorted(unknown)}')
    genes.update(neuron)
    suffix = {'refrac': 'i', 'c_fr_c': 'i', 'pspuni': 'b', 'mp_acc': 'b', 'mp_psp': 'b'}
    key = f'{_PREFIX}{area_id}-'
    out = {
        key + 'cx-__name-t': name, key + 'cx-_group-t': group, key + 'cx-subgrp-t': '',
        key + 'cx-_n_cnt-i': 1, key + 'cx-synatt-f': 100, key + 'cx-de_gen-f': 0,
        key + 'cx-dstmap-d': dstmap or {},
        key + 'cx-___bbx-i': int(dims[0]), key + 'cx-___bby-i': int(dims[1]),
        key + 'cx-___bbz-i': int(dims[2]),
        key + 'cx-rcordx-i': int(position[0]), key + 'cx-rcordy-i': int(position[1]),
        key + 'cx-rcordz-i': int(position[2]),
        key + 'cx-2dcorx-i': 0, key + 'cx-2dcory-i': 0, key + 'cx-gd_vis-b': True,
        key + 'cx-memory-b': False, key + 'cx-mem__t-i': 100, key + 'cx-mem_gr-i': 1,
        key + 'cx-mem_ls-i': 9,
    }
    for gene, value in genes.items():
        kind = suffix.get(gene, 'f')
        value = int(value) if kind == 'i' else bool(value) if kind == 'b' else float(value)
        out[f'{key}nx-{gene}-{kind}'] = value
    return out


def rule(morphology: str, multiplier: int = 1, scalar: Sequence[int] = (1, 1, 1),
         plastic: Optional[Sequence[int]] = None) -> list:
    """A mapping rule in FEAGI's array form; `plastic` = (c, ltp, ltd, window) makes it STDP."""
    if plastic is None:
        return [morphology, list(scalar), int(multiplier), False, 1, 1, 1, 0]
    return [morphology, list(scalar), int(multiplier), True] + [int(v) for v in plastic]


def plastic_sources(sources: int, share: float) -> List[int]:
    """Which of `sources` source areas (one destination each) get plastic rules.

    round(share * sources) of them, at least one when share > 0, spread evenly; no random
    draw, so the kernels are those of the same brain without plasticity.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f'plastic_share must be in 0..1, got {share}')
    count = max(1, int(round(share * sources))) if share > 0 else 0
    return sorted({int((j + 0.5) * sources / count) for j in range(count)})


def core_morphologies() -> Dict[str, Any]:
    """The core function morphologies that FEAGI genomes carry."""
    return {name: {'type': 'functions', 'parameters': {}, 'class': 'core'}
            for name in _FUNCTIONS}


def genome_document(title: str, description: str, blueprint: Dict[str, Any],
                    morphologies: Dict[str, Any], genome_id: str) -> Dict[str, Any]:
    """A complete genome document in FEAGI's layout."""
    neurons, synapse_hint = 0, 0
    for key, value in blueprint.items():
        if key.endswith('-cx-___bbx-i'):
            stem = key[:-len('___bbx-i')]
            neurons += value * blueprint[stem + '___bby-i'] * blueprint[stem + '___bbz-i']
    areas = sum(1 for k in blueprint if k.endswith('-cx-___bbx-i'))
    return {
        'genome_id': genome_id, 'genome_title': title, 'genome_description': description,
        'version': '2.1', 'hosts': {},
        'physiology': {'simulation_timestep': 0.025, 'max_age': 10000000,
                       'evolution_burst_count': 50, 'ipu_idle_threshold': 1000,
                       'plasticity_queue_depth': 3, 'lifespan_mgmt_interval': 10},
        'stats': {'innate_cortical_area_count': areas, 'innate_neuron_count': neurons,
                  'innate_synapse_count': synapse_hint},
        'signatures': {}, 'timestamp': 0.0,
        'neuron_morphologies': morphologies, 'blueprint': blueprint,
    }


def kernel_vectors(count: int, rng: np.random.Generator) -> List[List[int]]:
    """`count` distinct (dx, dy, 0) offsets, (0, 0, 0) first, nearest rings first."""
    radius = max(1, int(math.ceil((math.sqrt(count) - 1) / 2)))
    while (2 * radius + 1) ** 2 < count:
        radius += 1
    offsets = [(dx, dy) for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)
               if (dx, dy) != (0, 0)]
    rng.shuffle(offsets)
    offsets.sort(key=lambda o: max(abs(o[0]), abs(o[1])))  # stable: random within a ring
    return [[0, 0, 0]] + [[dx, dy, 0] for dx, dy in offsets[:count - 1]]


EXCITATORY_FRACTION = 0.64    # of a kernel's offsets; the others inhibit with weight -2
PLASTIC_PARAMS = (1, 2, 1, 2)  # c, ltp, ltd, window: d+ 2, d- 1 over 2 bursts


def synthetic_genome(neurons: int = 1_000_000, fanout: int = 10, hidden_areas: int = 8,
                     seed: int = 0, threshold: Optional[float] = None,
                     plastic_share: float = 0.0,
                     plastic_params: Sequence[int] = PLASTIC_PARAMS) -> Dict[str, Any]:
    """The vision pipeline: image input (~10%), hidden areas (~80%), output (~10%).

    Input `iic400` (x*y*1 grey image), hidden `c_h000`.. chained by `vectors` kernels of
    ~fanout offsets (out-of-area targets dropped), the last hidden to output `o_out0` by a
    projector plus a kernel; total synapses ~ fanout * neurons. About 64% of a kernel's
    offsets excite (+1), the rest inhibit (-2), threshold 2 (for fan-out ~10): activity
    neither dies out nor saturates (a layer keeps roughly 10-20% of its neurons firing).
    With `plastic_share` > 0, every rule of that share of the area pairs (`plastic_sources`;
    plasticity is per pair, NEURON_MODEL §4b) is plastic with `plastic_params` (c, ltp,
    ltd, window); the kernels are the same as without.
    """
    if neurons < 10 * (hidden_areas + 2) or fanout < 1 or hidden_areas < 0:
        raise ValueError(f'synthetic brain too small: neurons={neurons}, fanout={fanout}, '
                         f'hidden_areas={hidden_areas}')
    rng = np.random.default_rng(seed)
    per_area = neurons / (hidden_areas + 2)
    side = max(2, int(round(math.sqrt(per_area))))
    if side >= 200:
        side = int(round(side / 8.0)) * 8       # 1M neurons: 320x320 images, as the guide's
    dims = (side, side, 1)
    sources = hidden_areas + 1          # areas that send synapses
    total_areas = hidden_areas + 2
    per_source = max(1, int(round(fanout * total_areas / sources)))
    fire_t = float(threshold) if threshold is not None else float(max(2, per_source // 8))
    ids = ['iic400'] + [f'c_h{i:03d}' for i in range(hidden_areas)] + ['o_out0']
    plastic = plastic_sources(sources, plastic_share)
    morphologies = core_morphologies()
    blueprint: Dict[str, Any] = {}
    for i, area_id in enumerate(ids):
        dstmap = {}
        if i + 1 < len(ids):
            name = f'kernel_{i:03d}'
            last = i + 1 == len(ids) - 1
            count = per_source - 1 if last else per_source
            learning = tuple(plastic_params) if i in plastic else None
            rules = [rule('projector', plastic=learning)] if last else []
            if count > 0:
                offsets = kernel_vectors(count, rng)
                excite = max(1, int(round(EXCITATORY_FRACTION * per_source))) - int(last)
                order = [0] + (1 + rng.permutation(count - 1)).tolist()
                chosen = [offsets[j] for j in order]
                for suffix, vectors, weight in (('exc', chosen[:excite], 1),
                                                ('inh', chosen[excite:], -2)):
                    if vectors:
                        morphologies[f'{name}_{suffix}'] = {
                            'type': 'vectors', 'class': 'custom',
                            'parameters': {'vectors': vectors}}
                        rules.append(rule(f'{name}_{suffix}', weight, plastic=learning))
            if rules:
                dstmap[ids[i + 1]] = rules
        if i == 0:
            genes = area_genes(area_id, 'vision_C', 'IPU', dims, (0, 0, 0), dstmap,
                               fire_t=1.0)
        elif i == len(ids) - 1:
            genes = area_genes(area_id, 'output', 'OPU', dims, (0, 0, 20 * i), dstmap,
                               fire_t=fire_t)
        else:
            genes = area_genes(area_id, f'hidden_{i - 1}', 'CUSTOM', dims, (0, 0, 20 * i),
                               dstmap, fire_t=fire_t)
        blueprint.update(genes)
    title = f'synthetic vision pipeline {neurons} neurons fanout {fanout}'
    description = (f'feagi_hailo_ros synthetic brain (seed {seed}): {side}x{side} image, '
                   f'{hidden_areas} hidden areas, {per_source} synapses per source neuron')
    genome_id = f'synthetic_{neurons}_{fanout}_{seed}'
    if plastic:
        c, ltp, ltd, window = plastic_params
        title += f' plastic {len(plastic)}/{sources} pairs'
        description += (f', plastic (STDP c {c}, ltp {ltp}, ltd {ltd}, window {window}): '
                        + ', '.join(f'{ids[i]} -> {ids[i + 1]}' for i in plastic))
        genome_id += f'_plastic{len(plastic)}'
    return genome_document(title, description, blueprint, morphologies, genome_id)


def demo_genome() -> Dict[str, Any]:
    """A small lively brain (26,647 neurons): segmented vision in, motor `omot00` out.

    Centre vision -> V1 (edge kernels) -> V2 (projector) -> motor columns by image quarter;
    top-middle vision drives forward, bottom-middle reverse (as the essential genome).
    """
    morphologies = core_morphologies()
    morphologies['v1_kernel'] = {'type': 'vectors', 'class': 'custom', 'parameters': {
        'vectors': [[0, 0, 0], [1, 0, 1], [-1, 0, 1], [0, 1, 2], [0, -1, 2], [1, 1, 3],
                    [-1, -1, 3]]}}
    morphologies['forward_pair'] = {'type': 'patterns', 'class': 'custom', 'parameters': {
        'patterns': [[[0, 0, 0], [0, 0, '*']], [[0, 0, 0], [2, 0, '*']]]}}
    morphologies['reverse_pair'] = {'type': 'patterns', 'class': 'custom', 'parameters': {
        'patterns': [[[0, 0, 0], [1, 0, '*']], [[0, 0, 0], [3, 0, '*']]]}}
    periph, centre = (16, 16, 1), (64, 64, 1)
    blueprint: Dict[str, Any] = {}
    names = ['vision_LL', 'vision_LM', 'vision_LR', 'vision_ML', 'vision_C', 'vision_MR',
             'vision_TL', 'vision_TM', 'vision_TR']
    for seg, name in enumerate(names):
        dstmap = {}
        if seg == 4:
            dstmap = {'c_v1__': [rule('v1_kernel')]}
        elif seg == 7:
            dstmap = {'c__for': [rule('projector')]}
        elif seg == 1:
            dstmap = {'c__bac': [rule('projector')]}
        row, col = divmod(seg, 3)
        blueprint.update(area_genes(
            f'iic{seg}00', name, 'IPU', centre if seg == 4 else periph,
            (col * 70, row * 70, 0), dstmap, fire_t=1.0))
    blueprint.update(area_genes('c_v1__', 'V1', 'CUSTOM', (64, 64, 4), (0, 0, 30),
                                {'c_v2__': [rule('projector')]}, fire_t=1.0))
    blueprint.update(area_genes('c_v2__', 'V2', 'CUSTOM', (32, 32, 4), (0, 0, 60),
                                {'omot00': [rule('projector')]}, fire_t=2.0))
    blueprint.update(area_genes('c__for', 'forward', 'CUSTOM', (1, 1, 1), (80, 0, 60),
                                {'omot00': [rule('forward_pair', 4)]}, fire_t=8.0))
    blueprint.update(area_genes('c__bac', 'backward', 'CUSTOM', (1, 1, 1), (90, 0, 60),
                                {'omot00': [rule('reverse_pair', 4)]}, fire_t=8.0))
    blueprint.update(area_genes('omot00', 'Motor Output', 'OPU', (4, 1, 5), (0, 0, 90),
                                fire_t=4.0))
    blueprint.update(area_genes('_power', 'Brain_Power', 'CORE', (1, 1, 1), (-20, 0, 0),
                                fire_t=0.1))
    return genome_document('feagi_hailo_ros demo brain',
                           'Small lively brain: segmented vision (camera) to motor output',
                           blueprint, morphologies, 'feagi_hailo_ros_demo_1')


def write_genome(genome: Dict[str, Any], path: Union[str, os.PathLike]) -> None:
    """Write a genome document as JSON (atomic rename)."""
    document = dict(genome)
    tmp = f'{os.fspath(path)}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as out:
        json.dump(document, out, indent=1)
        out.write('\n')
    os.replace(tmp, path)


def describe(genome: Dict[str, Any]) -> Tuple[int, int]:
    """(areas, neurons) of a genome document, from its blueprint."""
    return genome['stats']['innate_cortical_area_count'], genome['stats']['innate_neuron_count']
