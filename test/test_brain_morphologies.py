"""Morphologies (NEURON_MODEL §5): hand-computed synapse counts per kind, a per-voxel oracle."""

import itertools
from pathlib import Path
import random

from feagi_hailo_ros.brain import build_connectome, load_genome
from feagi_hailo_ros.brain.morphologies import projector_relation
import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / 'data'


def genome(areas, morphologies, title='hand'):
    """Build a genome of areas {id: (dims, {dst: [rule, ...]}, extra genes)}; array rules."""
    blueprint = {}
    for area_id, spec in areas.items():
        dims, dstmap = spec[0], spec[1]
        extra = spec[2] if len(spec) > 2 else {}
        for axis, size in zip('xyz', dims):
            blueprint[f'_____10c-{area_id}-cx-___bb{axis}-i'] = size
        blueprint[f'_____10c-{area_id}-cx-dstmap-d'] = dstmap
        for key, value in extra.items():
            blueprint[f'_____10c-{area_id}-{key}'] = value
    return {'genome_title': title, 'blueprint': blueprint, 'neuron_morphologies': morphologies}


def rule(morphology, multiplier=1, scalar=(1, 1, 1)):
    """A rule in FEAGI's array form."""
    return [morphology, list(scalar), multiplier, False, 1, 1, 1, 0]


VEC = {'type': 'vectors', 'parameters': {'vectors': [[1, 0, 0], [0, -1, 1], [5, 0, 0]]}}
FUNCS = {name: {'type': 'functions', 'parameters': {}}
         for name in ('projector', 'block_to_block', 'expander_x', 'randomizer')}


def targets_of(connectome, area_id, x, y, z, k=None):
    """[(dst area id, x, y, z, weight)] of one source neuron, in stored order."""
    a = connectome.area_index(area_id)
    n = connectome.areas[a].neurons_per_voxel
    neuron = int(connectome.voxel_neuron(a, x, y, z)) - (n - 1) + (n - 1 if k is None else k)
    lo, hi = int(connectome.syn_indptr[neuron]), int(connectome.syn_indptr[neuron + 1])
    tgt = connectome.syn_target[lo:hi].astype(np.int64)
    tx, ty, tz = connectome.coords(tgt)
    names = [connectome.areas[i].id for i in connectome.neuron_area[tgt]]
    return list(zip(names, tx.tolist(), ty.tolist(), tz.tolist(),
                    connectome.syn_weight[lo:hi].tolist()))


def counts(connectome):
    """{(src, dst, morphology): synapses} summed over rules."""
    out = {}
    for m in connectome.mappings:
        key = (m.src, m.dst, m.morphology)
        out[key] = out.get(key, 0) + m.synapses
    return out


def test_vectors_shift_drop_outside_and_ignore_scalar():
    for scalar in ((1, 1, 1), (3, 3, 3)):
        c = build_connectome(genome({'csrc00': ((4, 3, 2), {'cdst00': [rule('v', 1, scalar)]}),
                                     'cdst00': ((3, 3, 2), {})}, {'v': VEC}))
        # [1,0,0]: x 0..1 (2) * y 3 * z 2 = 12; [0,-1,1]: x 3 * y 1..2 (2) * z 0 (1) = 6;
        # [5,0,0]: all outside = 0
        assert c.n_synapses == 18
        assert targets_of(c, 'csrc00', 1, 1, 0) == [('cdst00', 2, 1, 0, 1), ('cdst00', 1, 0, 1, 1)]
        assert targets_of(c, 'csrc00', 3, 0, 1) == []


def test_patterns_int_star_same_not_and_bounds():
    morph = {'p': {'type': 'patterns', 'parameters': {'patterns': [
        [[0, '*', 0], [1, '?', 0]],        # x=0 sources, y kept when < 2: 2
        [['*', '*', '*'], ['!', 0, '*']],  # 9 sources x 3 other x = 27
        [[1, 1, 0], [9, 0, 0]],            # destination outside: 0
        [[5, 0, 0], [0, 0, 0]],            # source outside: 0
    ]}}}
    c = build_connectome(genome({'csrc00': ((3, 3, 1), {'cdst00': [rule('p')]}),
                                 'cdst00': ((4, 2, 1), {})}, morph))
    assert c.n_synapses == 29
    # pair order first, then destinations in x, y, z order
    assert targets_of(c, 'csrc00', 0, 1, 0) == [
        ('cdst00', 1, 1, 0, 1), ('cdst00', 1, 0, 0, 1), ('cdst00', 2, 0, 0, 1),
        ('cdst00', 3, 0, 0, 1)]
    assert targets_of(c, 'csrc00', 0, 2, 0) == [
        ('cdst00', 1, 0, 0, 1), ('cdst00', 2, 0, 0, 1), ('cdst00', 3, 0, 0, 1)]


def test_legacy_unwrapped_pattern_pair_is_read_as_one_pair_with_warning():
    morph = {'y_consolidator': {'type': 'patterns',
                                'parameters': {'patterns': [['*', '*', '*'], ['*', '?', '*']]}}}
    g = load_genome(genome({'csrc00': ((2, 3, 1), {'cdst00': [rule('y_consolidator')]}),
                            'cdst00': ((1, 2, 1), {})}, morph))
    c = build_connectome(g)
    assert c.n_synapses == 4           # sources with y < 2 (2 x 2), to (0, y, 0)
    assert targets_of(c, 'csrc00', 1, 1, 0) == [('cdst00', 0, 1, 0, 1)]
    assert any("'y_consolidator'" in w and 'unwrapped pattern pair' in w for w in c.warnings)
    leak = build_connectome(DATA / 'leak_test_1_23.json')
    assert leak.n_synapses == 8


def test_projector_float32_truncation_both_ways():
    down = projector_relation(18, 14)
    assert down.d[down.s == 9].tolist() == [7]
    up = projector_relation(14, 18)
    assert up.d[up.s == 6].tolist() == [8]
    assert up.d[up.s == 7].tolist() == [9, 10]
    same = projector_relation(5, 5)
    assert same.s.tolist() == same.d.tolist() == list(range(5))
    c = build_connectome(genome({'csrc00': ((18, 1, 1), {'cdst00': [rule('projector')]}),
                                 'cdst00': ((14, 1, 1), {'csrc00': [rule('projector')]})},
                                FUNCS))
    assert counts(c) == {('csrc00', 'cdst00', 'projector'): 18,
                         ('cdst00', 'csrc00', 'projector'): 18}
    assert targets_of(c, 'csrc00', 9, 0, 0) == [('cdst00', 7, 0, 0, 1)]
    assert targets_of(c, 'cdst00', 7, 0, 0) == [('csrc00', 9, 0, 0, 1), ('csrc00', 10, 0, 0, 1)]
    # per axis independently: x 4->2 halves, y 2->4 doubles, z identity: 4 * 4 * 1 = 16
    c3 = build_connectome(genome({'csrc00': ((4, 2, 1), {'cdst00': [rule('projector')]}),
                                  'cdst00': ((2, 4, 1), {})}, FUNCS))
    assert c3.n_synapses == 16
    assert targets_of(c3, 'csrc00', 3, 1, 0) == [('cdst00', 1, 2, 0, 1), ('cdst00', 1, 3, 0, 1)]


def test_block_to_block_identity_drops_out_of_bounds():
    c = build_connectome(genome({'csrc00': ((4, 4, 1), {'cdst00': [rule('block_to_block')]}),
                                 'cdst00': ((3, 5, 1), {})}, FUNCS))
    assert c.n_synapses == 12
    assert targets_of(c, 'csrc00', 2, 3, 0) == [('cdst00', 2, 3, 0, 1)]
    assert targets_of(c, 'csrc00', 3, 0, 0) == []


def test_unknown_function_makes_no_synapses_and_is_reported_once():
    c = build_connectome(genome({
        'csrc00': ((2, 2, 1), {'cdst00': [rule('expander_x'), rule('block_to_block')],
                               'csrc00': [rule('expander_x')]}),
        'cdst00': ((2, 2, 1), {})}, FUNCS))
    assert c.n_synapses == 4
    reports = [w for w in c.warnings if "'expander_x'" in w]
    assert len(reports) == 1 and 'no synapses' in reports[0]
    notes = [m for m in c.mappings if m.morphology == 'expander_x']
    assert len(notes) == 2 and all(m.synapses == 0 and m.note for m in notes)


def test_builtin_morphologies_need_no_declaration_and_win_over_the_genomes():
    """lateral_+x and all_to_0-0-0 undeclared; a genome's own block_to_block is replaced."""
    own = {'block_to_block': {'type': 'vectors', 'parameters': {'vectors': [[1, 1, 0]]}}}
    c = build_connectome(genome({
        'csrc00': ((3, 2, 1), {'cdst00': [rule('lateral_+x'), rule('all_to_0-0-0'),
                                          rule('block_to_block')]}),
        'cdst00': ((3, 2, 1), {})}, own))
    assert counts(c) == {('csrc00', 'cdst00', 'lateral_+x'): 4,
                         ('csrc00', 'cdst00', 'all_to_0-0-0'): 6,
                         ('csrc00', 'cdst00', 'block_to_block'): 6}
    assert targets_of(c, 'csrc00', 1, 1, 0) == [
        ('cdst00', 2, 1, 0, 1), ('cdst00', 0, 0, 0, 1), ('cdst00', 1, 1, 0, 1)]
    c = build_connectome(genome({'csrc00': ((2, 1, 1), {'cdst00': [rule('0-0-0_to_all'),
                                                                   rule('lateral_-x')]}),
                                 'cdst00': ((2, 1, 1), {})}, {}))
    assert targets_of(c, 'csrc00', 0, 0, 0) == [('cdst00', 0, 0, 0, 1), ('cdst00', 1, 0, 0, 1)]
    assert targets_of(c, 'csrc00', 1, 0, 0) == [('cdst00', 0, 0, 0, 1)]


def test_a_typeless_morphology_builds_nothing_and_the_other_rules_are_built():
    morphs = {'odd': {'parameters': {'vectors': [[0, 0, 0]]}}, **FUNCS}
    c = build_connectome(genome({
        'csrc00': ((2, 2, 1), {'cdst00': [rule('odd'), rule('block_to_block')]}),
        'cdst00': ((2, 2, 1), {})}, morphs))
    assert c.n_synapses == 4
    assert any("'odd' has no type" in w and 'no synapses' in w for w in c.warnings)


def test_a_missing_morphology_stops_its_source_areas_building_in_id_byte_order():
    """That rule, the rest of its list and later destinations (byte order) get nothing.

    Destinations of csrc00 in byte order: caaa00 < cmid00 < czzz00. The missing rule is the
    second of cmid00's list: caaa00 and cmid00's first rule keep theirs; other areas are
    unaffected.
    """
    c = build_connectome(genome({
        'csrc00': ((1, 1, 1), {'czzz00': [rule('block_to_block')],
                               'cmid00': [rule('block_to_block'), rule('nowhere'),
                                          rule('block_to_block')],
                               'caaa00': [rule('block_to_block')]}),
        'cmid00': ((1, 1, 1), {'czzz00': [rule('block_to_block')]}),
        'caaa00': ((1, 1, 1), {}), 'czzz00': ((1, 1, 1), {})}, FUNCS))
    assert counts(c) == {('csrc00', 'caaa00', 'block_to_block'): 1,
                         ('csrc00', 'cmid00', 'block_to_block'): 1,
                         ('cmid00', 'czzz00', 'block_to_block'): 1}
    warning = [w for w in c.warnings if "'nowhere'" in w]
    assert len(warning) == 1 and 'neither declared nor built in' in warning[0]
    assert '3 rule(s) not built' in warning[0] and 'czzz00' in warning[0]


def test_neurons_per_voxel_all_send_only_last_receives():
    c = build_connectome(genome({
        'csrc00': ((2, 1, 1), {'cdst00': [rule('block_to_block')]}, {'cx-_n_cnt-i': 2}),
        'cdst00': ((2, 1, 1), {}, {'cx-_n_cnt-i': 3})}, FUNCS))
    assert c.n_neurons == 2 * 2 + 2 * 3
    assert c.n_synapses == 4                    # both neurons of each source voxel
    dst = c.area_index('cdst00')
    last = c.voxel_neuron(dst, [0, 1], [0, 0], [0, 0]).tolist()
    assert last == [int(c.area_start[dst]) + 2, int(c.area_start[dst]) + 5]
    src = c.area_index('csrc00')
    start = int(c.area_start[src])
    for k in range(2):
        lo, hi = int(c.syn_indptr[start + k]), int(c.syn_indptr[start + k + 1])
        assert c.syn_target[lo:hi].tolist() == [last[0]]
    assert set(c.syn_target.tolist()) == set(last)
    assert c.receiving_mask().sum() == 2 + 2


def test_weights_and_psp_as_written_and_duplicates():
    """float32 weights and psp as written: no 255 cap, no truncation (NEURON_MODEL §4)."""
    vec0 = {'same': {'type': 'vectors', 'parameters': {'vectors': [[0, 0, 0]]}}}
    c = build_connectome(genome({
        'cabc00': ((1, 1, 1), {'cdst00': [rule('same', 300), rule('same', -2.7),
                                          rule('same', 0.5), rule('same', 300)]},
                   {'nx-pstcr_-f': 300}),
        'cneg00': ((1, 1, 1), {}, {'nx-pstcr_-f': -5}),
        'cfra00': ((1, 1, 1), {}, {'nx-pstcr_-f': 2.9}),
        'cdst00': ((1, 1, 1), {})}, vec0))
    # duplicates are never merged: four synapses to the same target, in rule order
    assert [t[4] for t in targets_of(c, 'cabc00', 0, 0, 0)] == [
        300.0, np.float32(-2.7), 0.5, 300.0]
    assert c.syn_weight.dtype == np.float32           # fractional weights: float32
    assert c.out_degree()[c.area_start[c.area_index('cabc00')]] == 4
    psp = dict(zip((a.id for a in c.areas), c.area_psp().tolist()))
    assert (psp['cabc00'], psp['cneg00'], psp['cfra00'], psp['cdst00']) == (
        300.0, -5.0, np.float32(2.9), 1.0)


def test_synapse_order_rules_in_genome_order_then_morphology_order():
    morph = {'v2': {'type': 'vectors', 'parameters': {'vectors': [[1, 0, 0], [0, 0, 0]]}}}
    morph.update(FUNCS)
    c = build_connectome(genome({
        'cabc00': ((2, 1, 1), {'czzz00': [rule('v2', 2)], 'caaa00': [rule('projector', 3)]}),
        'czzz00': ((2, 1, 1), {}), 'caaa00': ((1, 1, 1), {})}, morph))
    assert targets_of(c, 'cabc00', 0, 0, 0) == [
        ('czzz00', 1, 0, 0, 2), ('czzz00', 0, 0, 0, 2), ('caaa00', 0, 0, 0, 3)]


def test_conformance_probe_mappings_by_hand():
    c = build_connectome(DATA / 'conformance' / 'conformance_probe.json')
    assert counts(c) == {
        ('_power', 'cgrad0', 'origin_to_all'): 6 * 4 * 2,
        # diag [1,1,0]: 6*4*1, [-1,0,0]: 5*4*1, [0,-2,0]: 6*2*1 = 56, two rules
        ('cgrad0', 'cseven', 'diag'): 2 * 56,
        # 5 -> 3 per axis: 0,1->0  2,3->1  4->2: 25 pairs
        ('iin000', 'cthree', 'projector'): 25,
        # rows: (x, y) -> (x' != x, y): 25 * 4
        ('iin000', 'crows0', 'rows'): 100,
        # 3 -> 7 per axis: 7 pairs, 49 per area, from both neurons of each voxel
        ('cthree', 'cseven', 'projector'): 49 * 2,
        ('cseven', 'crows0', 'block_to_block'): 25,
    }
    assert [t[4] for t in targets_of(c, 'cgrad0', 1, 2, 0)] == [3, 3, 3, -1, -1, -1]


# ---- a plain per-voxel oracle of NEURON_MODEL §5 -----------------------------------------------

def _oracle_axis(kind, token_s, token_d, s, size_s, size_d):
    """Destinations on one axis of source coordinate s."""
    if kind == 'projector':
        if size_s == size_d:
            return [s]
        if size_s > size_d:
            ratio = np.float32(size_s) / np.float32(size_d)
            d = int(np.float32(s) / ratio)
            return [d] if d < size_d else []
        ratio = np.float32(size_d) / np.float32(size_s)
        return [d for d in range(size_d) if int(np.float32(d) / ratio) == s]
    if kind == 'block':
        return [s] if s < size_d else []
    # pattern
    if isinstance(token_s, int) and token_s != s:
        return []
    if token_d == '*':
        return list(range(size_d))
    if token_d == '?':
        return [s] if s < size_d else []
    if token_d == '!':
        return [d for d in range(size_d) if d != s]
    return [token_d] if 0 <= token_d < size_d else []


def _oracle_targets(src, dst, morph, voxel):
    """Destination voxels of one source voxel for one rule, in the documented order."""
    out = []
    kind = morph.type
    if kind == 'vectors':
        for v in morph.parameters['vectors']:
            d = tuple(voxel[a] + v[a] for a in range(3))
            if all(0 <= d[a] < dst.dims[a] for a in range(3)):
                out.append(d)
        return out
    if kind == 'patterns':
        pairs = morph.parameters['patterns']
        if len(pairs) == 2 and not isinstance(pairs[0][0], list):
            pairs = [pairs]
        parts = [[(pair[0][a], pair[1][a]) for a in range(3)] for pair in pairs]
        kinds = ['pattern'] * len(parts)
    elif morph.name == 'projector':
        parts, kinds = [[(None, None)] * 3], ['projector']
    elif morph.name == 'block_to_block':
        parts, kinds = [[(None, None)] * 3], ['block']
    else:
        return []
    for part, k in zip(parts, kinds):
        axes = [_oracle_axis(k, part[a][0], part[a][1], voxel[a], src.dims[a], dst.dims[a])
                for a in range(3)]
        out.extend(itertools.product(*axes))
    return out


def assert_matches_oracle(g):
    """Every source neuron's synapse list equals the oracle's, in order."""
    c = build_connectome(g)
    index = {a.id: i for i, a in enumerate(g.areas)}
    for a, src in enumerate(g.areas):
        span = c.area_neurons(a)
        if not src.mappings:
            assert int(c.syn_indptr[span.stop]) == int(c.syn_indptr[span.start])
            continue
        n = src.neurons_per_voxel
        for voxel in itertools.product(*(range(d) for d in src.dims)):
            expected = []
            for r in src.mappings:
                dst = g.areas[index[r.dst]]
                for d in _oracle_targets(src, dst, g.morphologies[r.morphology_id], voxel):
                    target = int(c.voxel_neuron(index[r.dst], *d))
                    expected.append((target, r.weight))
            first = int(c.voxel_neuron(a, *voxel)) - (n - 1)
            for k in range(n):
                lo, hi = int(c.syn_indptr[first + k]), int(c.syn_indptr[first + k + 1])
                got = list(zip(c.syn_target[lo:hi].tolist(), c.syn_weight[lo:hi].tolist()))
                assert got == expected, (src.id, voxel, k)
    return c


@pytest.mark.parametrize('name', ['essential_genome.json', 'essential_genome_v3.json',
                                  'leak_test_1_23.json', 'pioneer2_basic_genome.json',
                                  'conformance/conformance_probe.json'])
def test_fixture_connectomes_match_the_oracle(name):
    assert_matches_oracle(load_genome(DATA / name))


def _random_genome(seed):
    rnd = random.Random(seed)
    tokens = [0, 1, 2, 5, '*', '?', '!']
    morphs = dict(FUNCS)
    for i in range(3):
        morphs[f'v{i}'] = {'type': 'vectors', 'parameters': {'vectors': [
            [rnd.randint(-3, 3) for _ in range(3)] for _ in range(rnd.randint(1, 4))]}}
        morphs[f'p{i}'] = {'type': 'patterns', 'parameters': {'patterns': [
            [[rnd.choice([0, 1, 2, '*', '?', '!']) for _ in range(3)],
             [rnd.choice(tokens) for _ in range(3)]]
            for _ in range(rnd.randint(1, 3))]}}
    names = ['c' + 'abcde'[i] * 5 for i in range(rnd.randint(2, 4))]
    areas = {}
    for name in names:
        dims = tuple(rnd.randint(1, 5) for _ in range(3))
        dstmap = {}
        for _ in range(rnd.randint(0, 3)):
            dst = rnd.choice(names)
            dstmap.setdefault(dst, []).append(
                rule(rnd.choice(list(morphs)), rnd.choice([1, 2, -3, 0.5, 400])))
        areas[name] = (dims, dstmap, {'cx-_n_cnt-i': rnd.choice([1, 1, 2])})
    return genome(areas, morphs, f'random {seed}')


@pytest.mark.parametrize('seed', range(12))
def test_random_genomes_match_the_oracle(seed):
    assert_matches_oracle(load_genome(_random_genome(seed)))


def test_random_genomes_are_not_trivial():
    built = [build_connectome(load_genome(_random_genome(seed))) for seed in range(12)]
    assert sum(c.n_synapses for c in built) > 200
    assert any(int(c.syn_weight.min(initial=0)) < 0 for c in built)
    assert any(a.neurons_per_voxel == 2 and a.mappings for c in built for a in c.areas)


def test_hand_counted_example_genome_file():
    """test/data/brain/morphology_examples.json: one mapping per kind, counts by hand."""
    import json
    folder = DATA / 'brain'
    expected = json.loads((folder / 'morphology_examples.expected.json').read_text())
    c = build_connectome(folder / 'morphology_examples.json')
    assert (c.n_neurons, c.n_synapses) == (expected['neurons'], expected['synapses'])
    assert counts(c) == {tuple(m[:3]): m[3] for m in expected['mappings']}   # summed over rules
    assert sum("'expander_x'" in w for w in c.warnings) == 1
    assert [t[4] for t in targets_of(c, 'cwsrc0', 0, 0, 0)] == [
        300.0, np.float32(-2.7), 0.5, 300.0]                  # as written (float32)
    assert targets_of(c, 'c18x00', 9, 0, 0) == [('c14x00', 7, 0, 0, 1)]
