"""Genomes that cannot be built: one clear error naming file, area and gene; nothing half-built."""

import json

from feagi_hailo_ros.brain import build_connectome, GenomeError, load_genome
import pytest

GOOD_AREA = {'cx-___bbx-i': 2, 'cx-___bby-i': 2, 'cx-___bbz-i': 1}
MORPHS = {'projector': {'type': 'functions', 'parameters': {}},
          'weird': {'type': 'spiral', 'parameters': {}},
          'badvec': {'type': 'vectors', 'parameters': {'vectors': [[1, 'a', 0]]}},
          'badpat': {'type': 'patterns', 'parameters': {'patterns': [[[0, 0, 0], ['x', 0, 0]]]}}}


def write(tmp_path, areas, morphologies=MORPHS, name='g.json'):
    """Write a genome of {area: genes} and return its path."""
    blueprint = {f'_____10c-{a}-{k}': v for a, genes in areas.items() for k, v in genes.items()}
    path = tmp_path / name
    path.write_text(json.dumps({'blueprint': blueprint, 'neuron_morphologies': morphologies}))
    return path


def error_of(path, **kwargs):
    """Load and build; return the GenomeError raised."""
    with pytest.raises(GenomeError) as info:
        build_connectome(load_genome(path), **kwargs)
    return info.value


def test_unreadable_file(tmp_path):
    missing = tmp_path / 'none.json'
    err = error_of(missing)
    assert str(missing) in str(err) and 'cannot read' in str(err)


def test_malformed_json(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"blueprint": {')
    err = error_of(path)
    assert str(path) in str(err) and 'malformed JSON' in str(err)
    path.write_text('[1, 2]')
    assert 'not a JSON object' in str(error_of(path))
    path.write_text('{"neuron_morphologies": {}}')
    assert "no 'blueprint'" in str(error_of(path))


def test_missing_required_gene(tmp_path):
    path = write(tmp_path, {'cabc00': {'cx-___bbx-i': 2, 'cx-___bby-i': 2}})
    err = error_of(path)
    assert (err.source, err.area, err.gene) == (str(path), 'cabc00', '___bbz')
    assert str(path) in str(err) and "'cabc00'" in str(err) and "'___bbz'" in str(err)
    assert 'required gene missing' in str(err) and '___bbz-i' in str(err)


def test_gene_of_wrong_type(tmp_path):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'nx-fire_t-f': 'high'}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', 'fire_t') and "'high'" in str(err)


@pytest.mark.parametrize('size', [0, -3])
def test_zero_or_negative_dimensions(tmp_path, size):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-___bby-i': size}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', '___bby')
    assert f'dimension y is {size}' in str(err) and str(path) in str(err)


def test_mapping_to_unknown_area(tmp_path):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-dstmap-d': {
        'cnope0': [['projector', [1, 1, 1], 1, False]]}}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', 'dstmap')
    assert "unknown area 'cnope0'" in str(err) and str(path) in str(err)


def test_mapping_to_an_unlisted_core_area_adds_it(tmp_path):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-dstmap-d': {
        '_death': [['projector', [1, 1, 1], 1, False]]}}})
    connectome = build_connectome(load_genome(path))
    assert connectome.area('_death').dims == (1, 1, 1) and connectome.n_synapses == 4
    assert any("'_death'" in w for w in connectome.warnings)


def test_unknown_morphology_type_and_unknown_morphology(tmp_path):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-dstmap-d': {
        'cabc00': [['weird', [1, 1, 1], 1, False]]}}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', 'dstmap')
    assert "unknown type 'spiral'" in str(err) and "'weird'" in str(err)
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-dstmap-d': {
        'cabc00': [['nowhere', [1, 1, 1], 1, False]]}}})
    built = build_connectome(load_genome(path))     # FEAGI loads it and builds nothing
    assert built.n_synapses == 0 and any("'nowhere'" in w for w in built.warnings)


@pytest.mark.parametrize('morph, text', [('badvec', "vector [1, 'a', 0]"),
                                         ('badpat', "pattern element 'x'")])
def test_malformed_morphology_parameters(tmp_path, morph, text):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-dstmap-d': {
        'cabc00': [[morph, [1, 1, 1], 1, False]]}}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', 'dstmap') and text in str(err)


@pytest.mark.parametrize('rule, text', [
    (['projector', [1, 1, 1]], '4 to 8 elements'),
    ({'morphology_id': 'projector', 'synaptic_delay_bursts': 2}, 'synaptic_delay_bursts = 2'),
    ({'postSynapticCurrent_multiplier': 1}, 'without morphology_id'),
    ('projector', 'an array or an object'),
])
def test_malformed_rules_and_delays(tmp_path, rule, text):
    path = write(tmp_path, {'cabc00': {**GOOD_AREA, 'cx-dstmap-d': {'cabc00': [rule]}}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', 'dstmap') and text in str(err)


def test_memory_limit_checked_before_allocating(tmp_path):
    path = write(tmp_path, {'cabc00': {'cx-___bbx-i': 1000, 'cx-___bby-i': 1000,
                                       'cx-___bbz-i': 1000, 'cx-dstmap-d': {
                                           'cabc00': [['projector', [1, 1, 1], 1, False]]}}})
    # 1e9 neurons and 1e9 synapses: refused from the estimate, in no time and memory
    err = error_of(path, memory_limit=1 << 30)
    assert str(path) in str(err) and 'over the limit' in str(err)
    assert 'FEAGI_HAILO_MEMORY_LIMIT' in str(err) and "area 'cabc00'" in str(err)


def test_memory_limit_on_synapses_alone(tmp_path):
    # few neurons, all-to-all: 4e6 neurons x 0.5e6 targets is refused from the per-axis counts
    path = write(tmp_path, {'cabc00': {'cx-___bbx-i': 2000, 'cx-___bby-i': 2000,
                                       'cx-___bbz-i': 1, 'cx-dstmap-d': {
                                           'cabc00': [['all', [1, 1, 1], 1, False]]}}},
                 {'all': {'type': 'patterns', 'parameters': {
                     'patterns': [[['*', '*', 0], ['*', '*', '*']]]}}})
    err = error_of(path, memory_limit=1 << 30)
    assert 'over the limit' in str(err) and '16000000000000 synapses' in str(err)


def test_huge_pattern_axis_is_refused_before_it_is_built(tmp_path):
    path = write(tmp_path, {'cabc00': {'cx-___bbx-i': 20000, 'cx-___bby-i': 1,
                                       'cx-___bbz-i': 1, 'cx-dstmap-d': {
                                           'cabc00': [['all', [1, 1, 1], 1, False]]}}},
                 {'all': {'type': 'patterns', 'parameters': {
                     'patterns': [[['*', 0, 0], ['!', 0, 0]]]}}})
    err = error_of(path)
    assert (err.area, err.gene) == ('cabc00', 'dstmap') and 'coordinate pairs' in str(err)
