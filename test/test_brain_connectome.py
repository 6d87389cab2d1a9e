"""Connectome: dtypes, coords, excitability ids, one-file save/load, the content-hash cache."""

import json
from pathlib import Path

from feagi_hailo_ros.brain import (build_connectome, cache_path, Connectome, load_brain,
                                   load_genome, make_area)
import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / 'data'


def arrays_equal(a, b):
    """Same areas, CSR arrays and mappings."""
    return (a.areas == b.areas and a.mappings == b.mappings
            and np.array_equal(a.neuron_area, b.neuron_area)
            and np.array_equal(a.syn_indptr, b.syn_indptr)
            and np.array_equal(a.syn_target, b.syn_target)
            and np.array_equal(a.syn_weight, b.syn_weight))


def test_dtypes_and_bytes_per_element():
    c = build_connectome(DATA / 'conformance' / 'conformance_probe.json')
    assert c.neuron_area.dtype == np.uint16 and c.syn_target.dtype == np.uint32
    assert c.syn_weight.dtype == np.int16 and c.syn_indptr.dtype == np.uint32
    assert c.bytes_per_synapse == 6.0
    assert c.bytes_per_neuron == pytest.approx(6.0 + 4.0 / c.n_neurons)   # indptr has N+1
    assert c.area_start.tolist()[-1] == c.n_neurons == 166


def test_coords_and_voxel_neuron_are_inverse():
    areas = [make_area('_power', (1, 1, 1)), make_area('cabc00', (3, 4, 5), neurons_per_voxel=2),
             make_area('iic400', (2, 3, 1))]
    c = Connectome.from_arrays(areas, np.zeros(1 + 1 + 120 + 6, dtype=np.int64), [], [])
    a = c.area_index('cabc00')
    xs, ys, zs = np.meshgrid(range(3), range(4), range(5), indexing='ij')
    neurons = c.voxel_neuron(a, xs.ravel(), ys.ravel(), zs.ravel())
    # x outermost, then y, then z; n = 2 per voxel and the receiving one is the last
    assert neurons.tolist() == [1 + 2 * v + 1 for v in range(60)]
    x, y, z = c.coords(neurons)
    assert (x.tolist(), y.tolist(), z.tolist()) == \
        (xs.ravel().tolist(), ys.ravel().tolist(), zs.ravel().tolist())
    assert c.coords([neurons[7] - 1])[2].tolist() == [zs.ravel()[7]]   # k=0 shares the voxel
    assert c.neuron_area[neurons].tolist() == [a] * 60
    with pytest.raises(ValueError, match=r'voxel \(3, 0, 0\) is outside its size 3x4x5'):
        c.voxel_neuron(a, [3], [0], [0])
    assert c.area_index('aXN2aUkAAAA=') == c.area_index('iic400')   # 2.x spelling resolves


def test_excitability_ids_core_then_sorted_noncore_counting_all_neurons():
    areas = [make_area('_death', (1, 1, 1)), make_area('_power', (1, 1, 1)),
             make_area('cbbb00', (2, 1, 1), neurons_per_voxel=2), make_area('caaa00', (3, 1, 1)),
             make_area('X19fcG93ZXI=', (1, 1, 1))]
    c = Connectome.from_arrays(areas, np.zeros(1 + 1 + 4 + 3 + 1 + 1), [], [])
    ids = c.excitability_ids()
    assert ids.dtype == np.uint32
    by_area = {a.id: ids[c.area_neurons(i)].tolist() for i, a in enumerate(c.areas)}
    assert by_area['_power'] == [0] and by_area['_death'] == [1]
    assert by_area['X19fcG93ZXI='] == [0]
    assert by_area['caaa00'] == [7, 8, 9]                 # sorted: caaa00 before cbbb00
    assert by_area['cbbb00'] == [10, 11, 12, 13]          # all n per voxel counted


def test_from_synapse_list_keeps_order_within_a_source():
    areas = [make_area('cabc00', (4, 1, 1))]
    c = Connectome.from_synapse_list(areas, [2, 0, 2, 0], [1, 3, 0, 2], [5, -1, 7, 2])
    assert c.syn_indptr.tolist() == [0, 2, 2, 4, 4]
    assert c.syn_target.tolist() == [3, 2, 1, 0] and c.syn_weight.tolist() == [-1, 2, 5, 7]
    assert c.out_degree().tolist() == [2, 0, 2, 0]


@pytest.mark.parametrize('mmap', [True, False])
def test_save_load_roundtrip(tmp_path, mmap):
    built = build_connectome(DATA / 'conformance' / 'conformance_probe.json')
    path = tmp_path / 'brain.fhc'
    built.save(path)
    loaded = Connectome.load(path, mmap=mmap)
    assert arrays_equal(built, loaded)
    assert loaded.genome_hash == built.genome_hash and loaded.warnings == built.warnings
    assert isinstance(loaded.syn_target, np.memmap) == mmap
    assert np.array_equal(loaded.excitability_ids(), built.excitability_ids())
    raw = path.read_bytes()
    assert raw[:8] == b'FEAGIHC1'


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / 'x.fhc'
    path.write_bytes(b'not a brain at all')
    with pytest.raises(ValueError, match='bad magic'):
        Connectome.load(path)


def test_cache_keyed_by_content_hash(tmp_path, monkeypatch):
    monkeypatch.setenv('FEAGI_HAILO_CACHE', str(tmp_path / 'cache'))
    genome_path = DATA / 'essential_genome.json'
    first = load_brain(genome_path)
    assert not first.meta.get('from_cache')
    path = Path(cache_path(load_genome(genome_path)))
    assert path.parent == tmp_path / 'cache' and path.exists()
    second = load_brain(genome_path)
    assert second.meta.get('from_cache') and arrays_equal(first, second)
    assert isinstance(second.syn_indptr, np.memmap)
    # same content, other key order and whitespace: same key
    document = json.loads(genome_path.read_text())
    shuffled = dict(reversed(list(document.items())))
    copy = tmp_path / 'copy.json'
    copy.write_text(json.dumps(shuffled, indent=3))
    assert cache_path(load_genome(copy)) == str(path)
    assert load_brain(copy).meta.get('from_cache')
    # another genome content: another file
    document['blueprint']['_____10c-iic400-nx-fire_t-f'] = 0.2
    changed = tmp_path / 'changed.json'
    changed.write_text(json.dumps(document))
    assert cache_path(load_genome(changed)) != str(path)
    assert not load_brain(changed).meta.get('from_cache')


def test_corrupt_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv('FEAGI_HAILO_CACHE', str(tmp_path))
    genome = load_genome(DATA / 'leak_test_1_23.json')
    Path(cache_path(genome)).write_bytes(b'garbage')
    brain = load_brain(genome)
    assert not brain.meta.get('from_cache') and brain.n_synapses == 8
    assert load_brain(genome).meta.get('from_cache')


@pytest.mark.parametrize('name', ['conformance/conformance_probe.json', 'essential_genome.json'])
def test_mapping_pairs_regenerate_exactly_the_csr(tmp_path, name):
    built = build_connectome(DATA / name)
    built.save(tmp_path / 'b.fhc')
    loaded = Connectome.load(tmp_path / 'b.fhc')
    pairs = []
    for i, info in enumerate(loaded.mappings):
        src, dst = loaded.mapping_pairs(i)
        assert src.size == dst.size == info.synapses
        pairs.extend(zip(src.tolist(), dst.tolist(), [info.weight] * src.size))
    source_of = np.repeat(np.arange(built.n_neurons), built.out_degree())
    csr = list(zip(source_of.tolist(), built.syn_target.tolist(), built.syn_weight.tolist()))
    assert sorted(pairs) == sorted(csr)


@pytest.mark.parametrize('indptr, target, weight, text', [
    ([0, 1], [0], [1], 'offsets'),
    ([0, 2, 1], [0], [1], 'non-decreasing'),
    ([0, 1, 1], [5], [1], 'outside'),
    ([0, 1, 1], [1], [np.nan], 'finite'),
])
def test_from_arrays_refuses_inconsistent_arrays(indptr, target, weight, text):
    with pytest.raises(ValueError, match=text):
        Connectome.from_arrays([make_area('cabc00', (2, 1, 1))], indptr, target, weight)


def test_cache_path_under_home_cache_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv('FEAGI_HAILO_CACHE', raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    genome = load_genome(DATA / 'barebones_genome.json')
    path = Connectome.cache_path(genome)
    assert path == cache_path(genome)
    assert path.startswith(str(tmp_path / '.cache' / 'feagi_hailo_ros'))
    assert genome.content_hash[:32] in path


def test_weights_are_kept_as_written_compact_when_integers():
    """No 255 cap, no truncation: 300 stays int16; 2.7 makes the weights float32."""
    ints = Connectome.from_arrays([make_area('cabc00', (2, 1, 1))], [0, 1, 1], [1], [-300])
    assert ints.syn_weight.dtype == np.int16 and ints.syn_weight.tolist() == [-300]
    floats = Connectome.from_arrays([make_area('cabc00', (2, 1, 1))], [0, 2, 2], [1, 0],
                                    [2.7, 40000])
    assert floats.syn_weight.dtype == np.float32
    assert floats.syn_weight.tolist() == [np.float32(2.7), 40000.0]
