"""Random small genomes with plastic rules of every form (NEURON_MODEL §4b), for tests.

Valid and failing array rules, objects with modes, eta and max_weight, windows 1-4,
inhibitory and fractional weights, several rules per pair, n > 1 neurons per voxel, and
random injections: what the fast engine must match the reference on.
"""

from typing import Dict, List, Tuple

import numpy as np

MORPHOLOGIES = {
    'same': {'type': 'vectors', 'parameters': {'vectors': [[0, 0, 0]]}},
    'plus1': {'type': 'vectors', 'parameters': {'vectors': [[1, 0, 0], [0, 0, 0]]}},
    'all': {'type': 'patterns', 'parameters': {'patterns': [[['*', '*', '*'],
                                                             ['*', '*', '*']]]}},
}


def _rule(rng: np.random.Generator) -> object:
    """One mapping rule: static, plastic (array or object) or failing."""
    weight = float(rng.choice([-6, -2, 1, 3, 5, 8, 2.5, -1.5, 300]))
    morphology = str(rng.choice(list(MORPHOLOGIES)))
    kind = rng.integers(0, 6)
    if kind == 0:
        return [morphology, [1, 1, 1], weight, False]
    c, ltp, ltd = (int(v) for v in rng.integers(-2, 6, 3))
    window = int(rng.integers(1, 5))
    if kind == 1:                                  # a valid array, maybe fractional
        return [morphology, [1, 1, 1], weight, True, c + 0.5 * rng.integers(0, 2), ltp, ltd,
                window + 0.7 * rng.integers(0, 2)]
    if kind == 2 and rng.random() < 0.3:           # failing: window 0 or ltp out of range
        return [morphology, [1, 1, 1], weight, True, c, int(rng.choice([ltp, 200])), ltd,
                int(rng.choice([0, window]))][:int(rng.choice([7, 8]))]
    rule = {'morphology_id': morphology, 'morphology_scalar': [1, 1, 1],
            'postSynapticCurrent_multiplier': weight, 'plasticity_flag': True,
            'plasticity_constant': c, 'ltp_multiplier': ltp, 'ltd_multiplier': ltd,
            'plasticity_window': window}
    if rng.random() < 0.3:
        rule['plasticity_mode'] = str(rng.choice(['stdp', 'rstdp', 'off']))
    if rng.random() < 0.4 and rule.get('plasticity_mode') != 'off':
        rule['plasticity_eta'] = float(rng.choice([0.5, 1.0, 1.25]))
    if rng.random() < 0.4 and rule.get('plasticity_mode') != 'off':
        rule['max_weight'] = float(rng.choice([6.0, 12.5, 40.0]))
    return rule


def random_plastic_genome(seed: int) -> Tuple[dict, List[Dict[str, object]]]:
    """Return (genome JSON, injections per burst [{area, x, y, z, p}, ...]) for a seed."""
    rng = np.random.default_rng(seed)
    ids = [f'c{k:02d}abc' for k in range(int(rng.integers(3, 6)))]
    blueprint: Dict[str, object] = {}
    dims = {}
    for area in ids:
        dims[area] = (int(rng.integers(1, 5)), int(rng.integers(1, 3)), 1)
        genes = {'___bbx-i': dims[area][0], '___bby-i': dims[area][1], '___bbz-i': 1,
                 '_n_cnt-i': int(rng.choice([1, 1, 2])),
                 'fire_t-f': float(rng.choice([1.0, 4.0, 9.0, 20.0])),
                 'leak_c-f': float(rng.choice([0.0, 0.25, 1.0])),
                 'refrac-i': int(rng.integers(0, 3)),
                 'pstcr_-f': float(rng.choice([1.0, 2.0, 0.5, -1.0])),
                 'pspuni-b': bool(rng.random() < 0.3), 'mp_acc-b': bool(rng.random() < 0.5)}
        dstmap: Dict[str, list] = {}
        for dst in rng.choice(ids, size=int(rng.integers(1, 4)), replace=False):
            dstmap[str(dst)] = [_rule(rng) for _ in range(int(rng.integers(1, 3)))]
        genes['dstmap-d'] = dstmap
        for key, value in genes.items():
            section = 'cx' if key[:6] in ('___bbx', '___bby', '___bbz', '_n_cnt', 'dstmap') \
                else 'nx'
            blueprint[f'_____10c-{area}-{section}-{key}'] = value
    genome = {'genome_title': f'plastic-{seed}', 'blueprint': blueprint,
              'neuron_morphologies': MORPHOLOGIES}
    bursts = []
    for _ in range(60):
        items = []
        for area in ids:
            for x in range(dims[area][0]):
                for y in range(dims[area][1]):
                    if rng.random() < 0.35:
                        items.append({'area': area, 'x': x, 'y': y, 'z': 0,
                                      'p': float(rng.choice([2.0, 5.0, 12.0, 25.0]))})
        bursts.append(items)
    return genome, bursts
