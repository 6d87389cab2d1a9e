"""Fuzzing the genome boundary: mutated real genomes build a brain that bursts, or are refused.

Property-based (hypothesis), derandomized and bounded: each mutated genome (wrong types,
missing genes, absurd or negative sizes, NaN and infinities, broken rules and morphologies,
references to missing areas, truncated or corrupted bytes) either loads, builds and bursts,
or raises GenomeError whose message is one line naming the file and the reason. No other
exception escapes, and a refused genome leaves nothing behind (no connectome cache entry).
"""

from contextlib import contextmanager
import json
import os
from pathlib import Path
import tempfile
import tracemalloc

from feagi_hailo_ros.brain import build_connectome, GenomeError, load_brain, load_genome
from feagi_hailo_ros.brain.genome import GENE_PREFIX
from feagi_hailo_ros.engine.core import BurstEngine
from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parent / 'data'
GENOME_TEXT = {p.name: p.read_text(encoding='utf-8') for p in sorted(DATA_DIR.glob('*.json'))}
LIMIT = 32 << 20    # memory limit of the fuzzed builds: absurd sizes meet the estimate
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=500,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 2, 7, 300, 65535, 65536, 2**31, -2**31, 2**63, 2**64,
                     10**400, -10**400, 1e308, -1e308, 3.5e38, 1e39, 0.5, -0.5, 1e-45,
                     float('nan'), float('inf'), float('-inf')]),
    st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True))
ODD_VALUES = st.one_of(
    NUMBERS, st.none(), st.booleans(), st.text(max_size=6),
    st.sampled_from(['1', '1e999', 'nan', 'true', 'yes', '', ' ', '*', '?', '!', '-1']),
    st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2))
SIZES = st.sampled_from([0, -1, -2**31, 1, 2, 3, 64, 300, 5000, 10**6, 2**32, 10**12,
                         10**400, 1e308, 2.5, float('nan'), float('inf'), '4', 'x', None,
                         True, [2]])
SIZE_GENES = ('___bbx', '___bby', '___bbz', '_n_cnt')
NEURON_GENES = ('fire_t', 'fthlim', 'ftincx', 'ftincy', 'ftincz', 'refrac', 'leak_c',
                'c_fr_c', 'snooze', 'pstcr_', 'pspuni', 'mp_acc', 'mp_psp', 'excite')
ELEMENTS = st.one_of(st.integers(-3, 3), st.sampled_from(
    [10**30, -10**30, 2**63, 1e300, -1e300, 0.5, 2.0, float('nan'), float('inf'),
     float('-inf'), '1', None, True, [0]]))
TOKENS = st.one_of(st.sampled_from(['*', '?', '!', 'x', '', ' 2 ', '1e9']), ELEMENTS)
AXES3 = st.lists(TOKENS, min_size=0, max_size=4)


def _keys_of(blueprint, genes):
    return sorted(k for k in blueprint if k.rsplit('-', 2)[-2:][0] in genes)


def _area_ids(blueprint):
    return sorted({k[len(GENE_PREFIX):].rsplit('-', 3)[0] for k in blueprint
                   if k.startswith(GENE_PREFIX)})


def mutate_gene_value(genome, data):
    """A gene of any kind gets a value of the wrong type, out of range or not finite."""
    blueprint = genome['blueprint']
    key = data.draw(st.sampled_from(sorted(blueprint)), label='gene')
    blueprint[key] = data.draw(ODD_VALUES, label='value')


def mutate_neuron_gene(genome, data):
    """A neuron gene (threshold, refractory, leak...) gets an absurd number."""
    blueprint = genome['blueprint']
    keys = _keys_of(blueprint, NEURON_GENES)
    if keys:
        blueprint[data.draw(st.sampled_from(keys), label='gene')] = data.draw(NUMBERS)


def mutate_size(genome, data):
    """A dimension or neurons-per-voxel gene gets an absurd, negative or non-integer size."""
    blueprint = genome['blueprint']
    keys = _keys_of(blueprint, SIZE_GENES)
    if keys:
        blueprint[data.draw(st.sampled_from(keys), label='size gene')] = data.draw(SIZES)


def mutate_missing_gene(genome, data):
    """A gene disappears (required ones: dimensions; optional ones: FEAGI's default)."""
    blueprint = genome['blueprint']
    if blueprint:
        del blueprint[data.draw(st.sampled_from(sorted(blueprint)), label='deleted gene')]


def mutate_key(genome, data):
    """A gene key is renamed: wrong type suffix, no prefix, empty area id or gene."""
    blueprint = genome['blueprint']
    key = data.draw(st.sampled_from(sorted(blueprint)), label='renamed key')
    value = blueprint.pop(key)
    area = key[len(GENE_PREFIX):].rsplit('-', 3)[0]
    gene = key.rsplit('-', 2)[-2]
    new = data.draw(st.sampled_from([
        key[:-1] + 'x', key[:-2], key[len(GENE_PREFIX):], f'{GENE_PREFIX}-cx-{gene}-i',
        f'{GENE_PREFIX}{area}-cx--i', f'{GENE_PREFIX}{area}-cx-{gene}-', key + '-i',
        f'{GENE_PREFIX}{area}\u00e9-cx-{gene}-' + key[-1]]), label='new key')
    blueprint[new] = value


def _rule(data, morphologies):
    names = sorted(morphologies) if isinstance(morphologies, dict) else []
    morphology = data.draw(st.one_of(st.sampled_from(names or ['projector']),
                                     st.text(max_size=5), ODD_VALUES), label='morphology')
    form = data.draw(st.sampled_from(['array', 'object', 'odd']), label='rule form')
    if form == 'array':
        rule = [morphology, data.draw(st.one_of(st.just([1, 1, 1]), ODD_VALUES)),
                data.draw(st.one_of(st.just(1), NUMBERS)), data.draw(ODD_VALUES)]
        rule += data.draw(st.lists(ODD_VALUES, max_size=5), label='extra elements')
        return rule
    if form == 'object':
        rule = {'morphology_id': morphology}
        for field in ('morphology_scalar', 'postSynapticCurrent_multiplier',
                      'plasticity_flag', 'plasticity_constant', 'ltp_multiplier',
                      'ltd_multiplier', 'plasticity_window', 'synaptic_delay_bursts'):
            if data.draw(st.booleans(), label=f'has {field}'):
                rule[field] = data.draw(ODD_VALUES)
        if data.draw(st.booleans(), label='drop morphology_id'):
            del rule['morphology_id']
        return rule
    return data.draw(ODD_VALUES, label='odd rule')


def mutate_rule(genome, data):
    """A mapping rule breaks: odd dstmap, odd rule, missing area or morphology, core areas."""
    blueprint = genome['blueprint']
    keys = _keys_of(blueprint, ('dstmap',))
    if not keys:
        return
    key = data.draw(st.sampled_from(keys), label='dstmap')
    ids = _area_ids(blueprint)
    what = data.draw(st.sampled_from(['odd dstmap', 'add rule', 'odd json text']))
    if what == 'odd dstmap':
        blueprint[key] = data.draw(ODD_VALUES)
    elif what == 'odd json text':
        blueprint[key] = data.draw(st.sampled_from(['{', '[]', '{"x": 1}', '"text"', 'null',
                                                    '{"' + ids[0] + '": 5}']))
    else:
        dst = data.draw(st.one_of(st.sampled_from(ids), st.sampled_from(
            ['cmissing', '_death', '___pwr', '_power', '_nothing', '', 'i__imu']),
            st.text(max_size=6)), label='destination')
        dstmap = blueprint[key] if isinstance(blueprint[key], dict) else {}
        dstmap = dict(dstmap)
        dstmap[dst] = data.draw(st.one_of(
            st.lists(st.just(None), max_size=0), st.just(None)), label='rules') \
            if data.draw(st.booleans(), label='odd rule list') else \
            [_rule(data, genome.get('neuron_morphologies'))]
        blueprint[key] = dstmap


def _used_morphologies(blueprint):
    used = set()
    for key in _keys_of(blueprint, ('dstmap',)):
        dstmap = blueprint[key]
        for rules in (dstmap.values() if isinstance(dstmap, dict) else ()):
            for rule in (rules if isinstance(rules, list) else ()):
                if isinstance(rule, list) and rule and isinstance(rule[0], str):
                    used.add(rule[0])
                elif isinstance(rule, dict) and isinstance(rule.get('morphology_id'), str):
                    used.add(rule['morphology_id'])
    return used


def _spoil(data, tree, values, times=2):
    """Replace one to `times` leaves or lists of a nested list with drawn values."""
    for _ in range(data.draw(st.integers(1, times), label='spoiled elements')):
        node = tree
        while True:
            index = data.draw(st.integers(0, len(node) - 1), label='index')
            if isinstance(node[index], list) and node[index] and \
                    data.draw(st.integers(0, 3), label='descend') > 0:
                node = node[index]
                continue
            node[index] = data.draw(values)
            break


def mutate_morphology(genome, data):
    """A morphology that a rule uses breaks: unknown type, odd vectors or patterns, gone."""
    morphologies = genome.get('neuron_morphologies')
    if not isinstance(morphologies, dict) or not morphologies:
        return
    used = sorted(_used_morphologies(genome['blueprint']) & set(morphologies))
    name = data.draw(st.sampled_from(used or sorted(morphologies)), label='morphology')
    what = data.draw(st.sampled_from(['vectors', 'patterns', 'delete', 'type', 'odd',
                                      'vectors', 'patterns']))
    if what == 'delete':
        del morphologies[name]
    elif what == 'type' and isinstance(morphologies[name], dict):
        morphologies[name] = dict(morphologies[name], type=data.draw(st.one_of(
            st.sampled_from(['vectors', 'patterns', 'functions', 'composite', 'spiral']),
            ODD_VALUES)))
    elif what == 'vectors':
        vectors = [[0, 0, 0], [1, 0, 0], [0, -1, 0]]
        _spoil(data, vectors, ELEMENTS)
        morphologies[name] = {'type': 'vectors', 'parameters': {'vectors': vectors}}
    elif what == 'patterns':
        patterns = [[['*', '*', 0], ['?', '*', 0]], [[0, 1, 0], ['!', 0, '*']]]
        _spoil(data, patterns, TOKENS)
        morphologies[name] = {'type': 'patterns', 'parameters': {'patterns': patterns}}
    else:
        morphologies[name] = data.draw(ODD_VALUES)


def mutate_structure(genome, data):
    """The top level breaks: blueprint or morphologies missing or of the wrong type."""
    what = data.draw(st.sampled_from(['blueprint', 'neuron_morphologies', 'physiology']))
    if data.draw(st.booleans(), label='delete'):
        genome.pop(what, None)
    else:
        genome[what] = data.draw(ODD_VALUES)


MUTATIONS = [mutate_gene_value, mutate_neuron_gene, mutate_size, mutate_missing_gene,
             mutate_key, mutate_rule, mutate_morphology, mutate_structure]


def mutant_text(data, mutations) -> str:
    """A real genome with 1 to 3 mutations drawn from `mutations`, as JSON text."""
    genome = json.loads(GENOME_TEXT[data.draw(st.sampled_from(sorted(GENOME_TEXT)),
                                              label='genome')])
    for _ in range(data.draw(st.integers(1, 3), label='mutations')):
        mutation = data.draw(st.sampled_from(mutations), label='mutation')
        if isinstance(genome.get('blueprint'), dict) and genome['blueprint']:
            mutation(genome, data)
    return json.dumps(genome, allow_nan=True)


@contextmanager
def fresh_cache():
    """A private, empty connectome cache folder for one load."""
    before = os.environ.get('FEAGI_HAILO_CACHE')
    with tempfile.TemporaryDirectory() as folder:
        os.environ['FEAGI_HAILO_CACHE'] = folder
        try:
            yield folder
        finally:
            if before is None:
                del os.environ['FEAGI_HAILO_CACHE']
            else:
                os.environ['FEAGI_HAILO_CACHE'] = before


def assert_clear_error(error: GenomeError, path: str) -> None:
    """One line: the file, the area and gene where there is one, then a reason."""
    message = str(error)
    assert '\n' not in message and '\r' not in message, message
    assert 'Traceback' not in message, message
    place = f'genome {path}: '
    if error.area is not None:
        place += f'area {error.area!r}: '
    if error.gene is not None:
        place += f'gene {error.gene!r}: '
    assert message.startswith(place), message
    assert error.source == path, message
    reason = message[len(place):]
    assert len(reason) >= 10 and any(c.isalpha() for c in reason), message
    assert len(message) < 1500, message


def load_burst_or_refuse(raw: bytes):
    """Write, load, build and burst; return 'built' or the refusal (GenomeError)."""
    with tempfile.TemporaryDirectory() as folder, fresh_cache() as cache:
        path = os.path.join(folder, 'mutant.json')
        with open(path, 'wb') as out:
            out.write(raw)
        try:
            connectome = load_brain(path, memory_limit=LIMIT)
        except GenomeError as exc:
            assert_clear_error(exc, path)
            assert os.listdir(cache) == [], 'a refused genome left a cache entry'
            return exc
        engine = BurstEngine(connectome)
        rng = np.random.default_rng(0)
        for _ in range(3):
            engine.inject_indices(rng.integers(0, connectome.n_neurons, 16), 2.0)
            fired = engine.burst()
            assert fired.size == 0 or 0 <= fired.min() <= fired.max() < connectome.n_neurons
        return 'built'


def outcome(result) -> str:
    """'built' or 'refused' for hypothesis' statistics (--hypothesis-show-statistics)."""
    return result if isinstance(result, str) else 'refused'


@FUZZ
@given(data=st.data())
def test_mutated_genes_load_or_are_refused_in_one_line(data):
    text = mutant_text(data, MUTATIONS[:5])
    event(outcome(load_burst_or_refuse(text.encode('utf-8'))))


@FUZZ
@given(data=st.data())
def test_mutated_rules_load_or_are_refused_in_one_line(data):
    text = mutant_text(data, [mutate_rule, mutate_structure, mutate_size])
    event(outcome(load_burst_or_refuse(text.encode('utf-8'))))


@FUZZ
@given(data=st.data())
def test_mutated_morphologies_load_or_are_refused_in_one_line(data):
    text = mutant_text(data, [mutate_morphology, mutate_morphology, mutate_size])
    event(outcome(load_burst_or_refuse(text.encode('utf-8'))))


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_truncated_and_corrupted_genome_files_are_refused_in_one_line(data):
    raw = GENOME_TEXT[data.draw(st.sampled_from(sorted(GENOME_TEXT)))].encode('utf-8')
    what = data.draw(st.sampled_from(['truncate', 'flip', 'garbage', 'empty', 'bom']))
    if what == 'truncate':
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), label='cut')]
    elif what == 'flip':
        at = data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4))
        new = data.draw(st.binary(min_size=len(at), max_size=len(at)))
        raw = bytearray(raw)
        for position, byte in zip(at, new):
            raw[position] = byte
        raw = bytes(raw)
    elif what == 'garbage':
        raw = data.draw(st.binary(max_size=64))
    elif what == 'empty':
        raw = b''
    else:
        raw = '\ufeff'.encode('utf-8') + raw[:100] + b'\xff\xfe\x00'
    event(outcome(load_burst_or_refuse(raw)))


def test_the_mutations_reach_both_outcomes():
    """The property tests are not vacuous: some mutants build and some are refused."""
    outcomes = set()
    for name in sorted(GENOME_TEXT):
        outcomes.add(type(load_burst_or_refuse(GENOME_TEXT[name].encode())).__name__)
    broken = json.loads(GENOME_TEXT['essential_genome.json'])
    broken['blueprint'][_keys_of(broken['blueprint'], ('___bbx',))[0]] = -3
    outcomes.add(type(load_burst_or_refuse(json.dumps(broken).encode())).__name__)
    assert outcomes == {'str', 'GenomeError'}


def _fan_out_genome(path, src_dims, dst_dims, pattern):
    def genes(area_id, dims, dstmap):
        values = {'___bbx-i': dims[0], '___bby-i': dims[1], '___bbz-i': dims[2],
                  'dstmap-d': dstmap}
        return {f'{GENE_PREFIX}{area_id}-cx-{gene}': v for gene, v in values.items()}
    blueprint = {**genes('cbig00', src_dims, {'cbig01': [['fan', [1, 1, 1], 1, False]]}),
                 **genes('cbig01', dst_dims, {})}
    path.write_text(json.dumps({'blueprint': blueprint, 'neuron_morphologies': {
        'fan': {'type': 'patterns', 'parameters': {'patterns': [pattern]}}}}))
    return path


@pytest.mark.parametrize('src_dims, dst_dims, pattern, limit', [
    # 10^6 x 10^6 voxels all to all: 10^12 synapses, about 6 TB (the default limit)
    ((1000, 1000, 1), (1000, 1000, 1), [['*', '*', 0], ['*', '*', 0]], None),
    # 2^27 coordinate pairs on one axis (2+ GB to hold) under a 64 MiB limit
    ((8192, 1, 1), (16384, 1, 1), [['*', 0, 0], ['*', 0, 0]], 64 << 20),
])
def test_a_fan_out_that_would_not_fit_is_refused_before_allocating(
        tmp_path, src_dims, dst_dims, pattern, limit):
    path = _fan_out_genome(tmp_path / 'fan_out.json', src_dims, dst_dims, pattern)
    genome = load_genome(path)
    tracemalloc.start()
    try:
        with pytest.raises(GenomeError) as info:
            build_connectome(genome, memory_limit=limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert_clear_error(info.value, str(path))
    assert 'MiB' in message and 'FEAGI_HAILO_MEMORY_LIMIT' in message, message
    assert "'cbig00'" in message, message
    budget = (limit or 256 << 20) * 2
    assert peak < budget, f'{peak / 2**20:.0f} MiB allocated before the refusal'


def test_many_small_parts_that_add_up_are_refused_before_allocating(tmp_path):
    pairs = [[['*', 0, 0], ['*', 0, 0]]] * 64      # 64 parts of 2^18 pairs each
    path = tmp_path / 'parts.json'
    _fan_out_genome(path, (512, 1, 1), (512, 1, 1), pairs[0])
    raw = json.loads(path.read_text())
    raw['neuron_morphologies']['fan']['parameters']['patterns'] = pairs
    path.write_text(json.dumps(raw))
    limit = 32 << 20
    tracemalloc.start()
    try:
        with pytest.raises(GenomeError) as info:
            build_connectome(load_genome(path), memory_limit=limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_clear_error(info.value, str(path))
    assert 'FEAGI_HAILO_MEMORY_LIMIT' in str(info.value)
    assert peak < 2 * limit, f'{peak / 2**20:.0f} MiB allocated before the refusal'
