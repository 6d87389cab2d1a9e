"""Genome loading: every fixture, gene suffixes and defaults, area ids and roles, v2 == legacy."""

import base64
import json
from pathlib import Path

from feagi_hailo_ros.brain import build_connectome, GenomeError, load_genome
from feagi_hailo_ros.brain.ids import aliases, parse_area_id
import pytest

DATA = Path(__file__).resolve().parent / 'data'
GENOMES = sorted(DATA.glob('*.json')) + sorted((DATA / 'conformance').glob('*.json')) + \
    sorted(p for p in (DATA / 'brain').glob('*.json') if not p.name.endswith('.expected.json'))


def _raw_counts(path):
    """Map area id -> x*y*z*n straight from the blueprint (n defaults to 1)."""
    blueprint = json.loads(path.read_text())['blueprint']
    counts = {}
    for key, value in blueprint.items():
        if key.endswith('-cx-___bbx-i'):
            stem = key[:-len('___bbx-i')]
            area = stem[len('_____10c-'):-len('-cx-')]
            if len(area) == 6 and area[0] not in 'cio_':    # FEAGI gives it the first byte c
                area = 'c' + area[1:]
            n = blueprint.get(stem + '_n_cnt-i', 1)
            counts[area] = value * blueprint[stem + '___bby-i'] * blueprint[stem + '___bbz-i'] * n
    return counts


def _genome(areas, morphologies=None):
    """A hand-written genome: areas = {id: {gene-key-suffix: value}}."""
    blueprint = {}
    for area_id, genes in areas.items():
        for key, value in genes.items():
            blueprint[f'_____10c-{area_id}-{key}'] = value
    return {'genome_title': 'hand', 'blueprint': blueprint,
            'neuron_morphologies': morphologies or {}}


def _dims(x=1, y=1, z=1):
    return {'cx-___bbx-i': x, 'cx-___bby-i': y, 'cx-___bbz-i': z}


@pytest.mark.parametrize('path', GENOMES, ids=lambda p: p.name)
def test_every_fixture_loads_with_feagi_counts(path):
    genome = load_genome(path)
    expected = _raw_counts(path)
    assert {a.id: a.neurons for a in genome.areas} == expected
    assert [a.id for a in genome.areas] == sorted(expected)
    connectome = build_connectome(genome)
    assert connectome.n_neurons == sum(expected.values())


def test_essential_counts_and_snooze_suffix_as_feagi():
    genome = load_genome(DATA / 'essential_genome.json')
    assert genome.neurons == 55357   # its `stats` block says 13,845: stale
    centre = genome.area('iic400')
    assert centre.dims == (128, 128, 3) and centre.role == 'input'
    assert centre.unit == 'svi' and centre.index_in_unit == 4
    assert centre.consecutive_fire_limit == 3 and centre.excitability == 100.0
    assert centre.snooze_period == 0.0          # written as snooze-i: FEAGI ignores it
    assert centre.psp == 25.0 and centre.fire_threshold == pytest.approx(0.1)
    keyed = [w for w in genome.warnings if "'_____10c-iic400-nx-snooze-i'" in w]
    assert len(keyed) == 1 and "'snooze-f'" in keyed[0]


def test_gene_under_other_suffix_is_ignored_with_warning_and_defaults_apply():
    genome = load_genome(_genome({'cabc00': {
        **_dims(2, 2, 1), 'nx-fire_t-i': 7, 'nx-snooze-f': 3, 'nx-refrac-f': 4.0,
        'nx-excite-f': 50}}))
    area = genome.area('cabc00')
    assert area.fire_threshold == 1.0          # fire_t-i ignored: default
    assert area.refractory_period == 0         # refrac-f ignored: default
    assert area.snooze_period == 3.0
    assert area.excitability == 50.0           # as written, not a percent
    assert any("'_____10c-cabc00-nx-fire_t-i'" in w for w in genome.warnings)
    assert any("'_____10c-cabc00-nx-refrac-f'" in w for w in genome.warnings)
    # FEAGI's defaults for everything omitted
    assert (area.threshold_limit, area.threshold_increment, area.leak_coefficient) == \
        (0.0, (0.0, 0.0, 0.0), 0.0)
    assert (area.consecutive_fire_limit, area.psp, area.psp_uniform) == (0, 1.0, False)
    assert (area.mp_charge_accumulation, area.mp_driven_psp, area.neurons_per_voxel) == \
        (False, False, 1)


def test_leak_above_one_is_clamped_with_warning():
    genome = load_genome(_genome({'cabc00': {**_dims(), 'nx-leak_c-f': 10}}))
    assert genome.area('cabc00').leak_coefficient == 1.0
    assert any('leak_c 10.0 > 1 clamped' in w for w in genome.warnings)


def test_rules_as_arrays_and_objects_read_the_same():
    morph = {'m': {'type': 'vectors', 'parameters': {'vectors': [[0, 0, 0]]}}}
    as_array = load_genome(_genome({'cabc00': {**_dims(), 'cx-dstmap-d': {
        'cdef00': [['m', [1, 2, 3], -2.5, False], ['m', [1, 1, 1], 4, True, 2, 3, 4, 5]]}},
        'cdef00': _dims()}, morph))
    as_object = load_genome(_genome({'cabc00': {**_dims(), 'cx-dstmap-d': {'cdef00': [
        {'morphology_id': 'm', 'morphology_scalar': [1, 2, 3],
         'postSynapticCurrent_multiplier': -2.5, 'plasticity_flag': False},
        {'morphology_id': 'm', 'morphology_scalar': [1, 1, 1],
         'postSynapticCurrent_multiplier': 4, 'plasticity_flag': True, 'plasticity_constant': 2,
         'ltp_multiplier': 3, 'ltd_multiplier': 4, 'plasticity_window': 5,
         'synaptic_delay_bursts': 1}]}}, 'cdef00': _dims()}, morph))
    rules = as_array.area('cabc00').mappings
    assert rules == as_object.area('cabc00').mappings
    assert rules[0].weight == -2.5 and rules[0].morphology_scalar == (1, 2, 3)
    params = rules[1].plasticity.params
    assert rules[1].plasticity.status == 'plastic' and rules[1].plasticity_flag
    assert (params.constant, params.ltp, params.ltd, params.window) == (2, 3, 4, 5)
    assert rules[0].plasticity.status == 'static'


def test_v2_ids_decode_to_roles_units_and_power():
    power = parse_area_id('X19fcG93ZXI=')
    assert base64.b64decode('X19fcG93ZXI=') == b'___power'
    assert (power.role, power.core_kind, power.text) == ('core', 'power', '___power')
    vision = parse_area_id('aXN2aUkAAAA=')          # b'isvi' + 0x49: index 4, data type 9
    assert (vision.role, vision.unit, vision.index_in_unit) == ('input', 'svi', 4)
    motor = parse_area_id('b21vdAUAAAA=')
    assert (motor.role, motor.unit, motor.index_in_unit) == ('output', 'mot', 0)
    assert parse_area_id('Y19fZm9yX18=').role == 'custom'
    for legacy in ('_power', '___pwr'):
        assert parse_area_id(legacy).core_kind == 'power'
    assert parse_area_id('_death').core_kind == 'death'
    assert parse_area_id('iic700').unit == 'svi' and parse_area_id('iic700').index_in_unit == 7
    assert parse_area_id('omot00').role == 'output'
    assert 'iic400' in aliases('aXN2aUkAAAA=') and 'aXN2aUkAAAA=' in aliases('iic400')
    assert '_power' in aliases('X19fcG93ZXI=')


def _areas_by_role_position(genome):
    return {(a.role, a.position, a.dims, a.unit, a.index_in_unit): a for a in genome.areas}


def test_essential_v3_is_the_same_brain_as_essential():
    legacy = load_genome(DATA / 'essential_genome.json')
    v3 = load_genome(DATA / 'essential_genome_v3.json')
    by_key_legacy, by_key_v3 = _areas_by_role_position(legacy), _areas_by_role_position(v3)
    assert len(by_key_legacy) == len(legacy.areas) == len(v3.areas)
    assert by_key_legacy.keys() == by_key_v3.keys()
    id_map = {by_key_legacy[k].id: by_key_v3[k].id for k in by_key_legacy}
    genes = ('name', 'dims', 'neurons_per_voxel', 'fire_threshold', 'threshold_limit',
             'threshold_increment', 'refractory_period', 'leak_coefficient',
             'consecutive_fire_limit', 'snooze_period', 'psp', 'psp_uniform',
             'mp_charge_accumulation', 'mp_driven_psp', 'excitability')
    for old_id, new_id in id_map.items():
        a, b = legacy.area(old_id), v3.area(new_id)
        assert [getattr(a, g) for g in genes] == [getattr(b, g) for g in genes], old_id
    c_old, c_new = build_connectome(legacy), build_connectome(v3)
    assert (c_old.n_neurons, c_old.n_synapses) == (c_new.n_neurons, c_new.n_synapses)

    def synapse_set(connectome, rename):
        src = connectome.coords(range(connectome.n_neurons))
        out = []
        for i in range(connectome.n_neurons):
            lo, hi = int(connectome.syn_indptr[i]), int(connectome.syn_indptr[i + 1])
            if lo == hi:
                continue
            area = rename(connectome.areas[connectome.neuron_area[i]].id)
            tgt = connectome.syn_target[lo:hi].astype(int)
            tx, ty, tz = connectome.coords(tgt)
            names = [rename(connectome.areas[a].id) for a in connectome.neuron_area[tgt]]
            out.append(((area, int(src[0][i]), int(src[1][i]), int(src[2][i])),
                        tuple(sorted(zip(names, tx.tolist(), ty.tolist(), tz.tolist(),
                                         connectome.syn_weight[lo:hi].tolist())))))
        return sorted(out)

    # the same synapses per source; their order follows each file's dstmap key order
    assert synapse_set(c_old, lambda a: id_map[a]) == synapse_set(c_new, lambda a: a)


@pytest.mark.parametrize('name', ['barebones_genome', 'essential_genome',
                                  'pioneer2_basic_genome', 'conformance_probe'])
def test_every_conformance_area_id_resolves(name):
    folder = DATA / 'conformance'
    genome_path = folder / f'{name}.json'
    if not genome_path.exists():
        genome_path = DATA / f'{name}.json'
    connectome = build_connectome(genome_path)
    ids = set()
    for suffix in ('inject', 'fired'):
        for line in (folder / f'{name}.{suffix}.jsonl').read_text().splitlines():
            record = json.loads(line)
            if 'area' in record:
                ids.add(record['area'])
            ids.update(f[0] for f in record.get('fired', []))
    assert ids, name
    for area_id in ids:
        area = connectome.areas[connectome.area_index(area_id)]
        assert area.id == area_id
    v3 = build_connectome(DATA / 'essential_genome_v3.json')
    assert v3.area('iic400').id == 'aXN2aUkAAAA=' and v3.area('_power').id == 'X19fcG93ZXI='


def test_roles_of_fixture_areas():
    pioneer = load_genome(DATA / 'pioneer2_basic_genome.json')
    roles = {a.id: (a.role, a.unit) for a in pioneer.areas}
    assert roles['___pwr'] == ('core', None) and roles['_death'] == ('core', None)
    assert roles['i__pro'] == ('input', 'pro') and roles['o__mot'] == ('output', 'mot')
    leak = load_genome(DATA / 'leak_test_1_23.json')
    assert leak.area('___pwr').role == 'core'          # its _group says IPU: the id wins
    assert leak.area('c7Fexc').role == 'custom'         # C7Fexc: FEAGI's first byte c


def test_area_ids_load_skip_or_refuse_as_feagi():
    """12-char base64 and 6- or 8-byte ids load; others are skipped with their mappings.

    A 6-byte custom id gets the first byte c; `_` ids must be core areas; non-ASCII counts
    in bytes.
    """
    genome = load_genome(_genome({
        'cabc00': {**_dims(1, 1, 1), 'cx-dstmap-d': {'c_avoid': [['projector', [1, 1, 1], 1,
                                                                 False]],
                                                     'xabcde': [['projector', [1, 1, 1], 1,
                                                                 False]]}},
        'c_avoid': _dims(1, 1, 1),                 # 7 bytes: skipped, the mapping dropped
        'cabcd': _dims(1, 1, 1),                   # 5 bytes: skipped
        'xabcde': _dims(2, 1, 1),                  # 6-byte custom: read as cabcde
        'c\u00e9xyz': _dims(1, 1, 1),              # c + e-acute (2 bytes) + 3: 6 bytes, loads
        'cpu_core': _dims(1, 1, 1),                # 8 bytes: loads
        'Y3VzdG9tMDE=': _dims(1, 1, 1),            # base64 of custom01: loads
    }, {'projector': {'type': 'functions', 'parameters': {}}}))
    ids = [a.id for a in genome.areas]
    assert sorted(ids) == sorted(['cabc00', 'cabcde', 'c\u00e9xyz', 'cpu_core', 'Y3VzdG9tMDE='])
    assert [r.dst for r in genome.area('cabc00').mappings] == ['cabcde']
    assert any("'c_avoid'" in w and '7-byte' in w for w in genome.warnings)
    assert any("'xabcde' is read as 'cabcde'" in w for w in genome.warnings)
    with pytest.raises(GenomeError, match="'_mydat' starts with .* no core area"):
        load_genome(_genome({'_mydat': _dims(1, 1, 1)}))
    assert load_genome(_genome({'_power': _dims(1, 1, 1)})).areas[0].core_kind == 'power'
    with pytest.raises(GenomeError, match="'1abcde' becomes 'cabcde'"):
        load_genome(_genome({'cabcde': _dims(1, 1, 1), '1abcde': _dims(1, 1, 1)}))
