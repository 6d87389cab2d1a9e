"""Synthetic genomes (vision pipeline at any size) and the demo brain."""

import json

from feagi_hailo_ros.brain import build_connectome, Connectome, load_genome
from feagi_hailo_ros.brain.synth import demo_genome, synthetic_genome, write_genome
import numpy as np
import pytest


def reachable(connectome, start_area):
    """Areas reachable from an area through synapses."""
    area_of = connectome.neuron_area
    seen, frontier = {start_area}, [start_area]
    while frontier:
        a = frontier.pop()
        span = connectome.area_neurons(a)
        lo, hi = int(connectome.syn_indptr[span.start]), int(connectome.syn_indptr[span.stop])
        for b in np.unique(area_of[connectome.syn_target[lo:hi]]).tolist():
            if b not in seen:
                seen.add(b)
                frontier.append(b)
    return {connectome.areas[a].id for a in seen}


@pytest.mark.parametrize('neurons, fanout', [(20_000, 10), (50_000, 4)])
def test_synthetic_sizes_and_fanout(neurons, fanout):
    g = load_genome(synthetic_genome(neurons, fanout, hidden_areas=8))
    assert g.warnings == []
    c = build_connectome(g)
    assert abs(c.n_neurons - neurons) / neurons < 0.15
    assert abs(c.n_synapses / c.n_neurons - fanout) / fanout < 0.15
    roles = [a.role for a in c.areas]
    assert roles.count('input') == 1 and roles.count('output') == 1
    assert roles.count('custom') == 8
    sizes = {a.role: a.neurons for a in c.areas}
    assert sizes['input'] == sizes['output'] == c.n_neurons // 10
    assert {m.morphology_type for m in c.mappings} == {'vectors', 'functions'}
    assert 'o_out0' in reachable(c, c.area_index('iic400'))


def test_synthetic_genome_file_build_save_reload_info(tmp_path):
    path = tmp_path / 'synth.json'
    write_genome(synthetic_genome(30_000, 10, seed=3), path)
    document = json.loads(path.read_text())
    assert set(document) >= {'genome_title', 'version', 'blueprint', 'neuron_morphologies'}
    built = build_connectome(path)
    built.save(tmp_path / 'synth.fhc')
    loaded = Connectome.load(tmp_path / 'synth.fhc')
    assert loaded.summary()['mappings'] == built.summary()['mappings']
    assert (loaded.n_neurons, loaded.n_synapses) == (built.n_neurons, built.n_synapses)
    assert np.array_equal(loaded.syn_target, built.syn_target)
    # deterministic: the same seed writes the same genome; another seed other kernels
    assert synthetic_genome(30_000, 10, seed=3) == document
    assert synthetic_genome(30_000, 10, seed=4) != document


def test_demo_genome_is_small_lively_and_exact():
    g = load_genome(demo_genome())
    assert g.warnings == []
    c = build_connectome(g)
    assert 10_000 <= c.n_neurons <= 60_000
    vision = sorted(a.index_in_unit for a in c.areas if a.role == 'input' and a.unit == 'svi')
    assert vision == list(range(9))                     # a full segmented-vision set
    motor = c.area('omot00')
    assert motor.role == 'output' and motor.unit == 'mot'
    reached = reachable(c, c.area_index('iic400'))
    assert 'omot00' in reached
    assert 'omot00' in reachable(c, c.area_index('iic700'))
    # integer weight * psp and psp_uniform: every synaptic current is an integer
    for a in c.areas:
        assert a.psp_uniform and float(a.psp).is_integer()
    for rule in (r for a in c.areas for r in a.mappings):
        assert float(rule.psc_multiplier).is_integer()
    # a camera frame change in the centre reaches enough V1 targets to cross thresholds
    v1 = c.area('c_v1__')
    assert v1.fire_threshold <= 1.0


def test_demo_brain_turns_camera_motion_into_motor_firing():
    core = pytest.importorskip('feagi_hailo_ros.engine.core')
    vision = pytest.importorskip('feagi_hailo_ros.io.vision')
    c = build_connectome(load_genome(demo_genome()))
    engine = core.BurstEngine(c)
    encoder = vision.SegmentedVisionEncoder(c.areas)
    motor = c.area_index('omot00')
    motor_fired = 0
    for b in range(20):
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:, (b * 9) % 160:(b * 9) % 160 + 20] = 200      # a bar sweeping the view
        for area_id, x, y, z, p in encoder.encode(frame).by_area():
            engine.inject(area_id, x, y, z, p)
        fired = np.asarray(engine.burst())
        motor_fired += int(np.count_nonzero(c.neuron_area[fired] == motor))
    assert motor_fired > 20


def test_synthetic_activity_neither_dies_nor_saturates():
    core = pytest.importorskip('feagi_hailo_ros.engine.core')
    c = build_connectome(load_genome(synthetic_genome(100_000, 10)))
    engine = core.BurstEngine(c)
    rng = np.random.default_rng(1)
    start, stop = c.area_neurons(c.area_index('iic400')).start, \
        c.area_neurons(c.area_index('iic400')).stop
    for _ in range(12):
        chosen = rng.choice(np.arange(start, stop), size=(stop - start) // 10, replace=False)
        engine.inject_indices(chosen, np.full(chosen.size, 100.0, np.float32))
        fired = np.asarray(engine.burst())
    per_area = np.bincount(c.neuron_area[fired], minlength=len(c.areas))
    for a, area in enumerate(c.areas):
        assert 0.01 < per_area[a] / area.neurons < 0.5, (area.id, per_area[a])


@pytest.mark.parametrize('share, pairs', [(0.1, [('c_h003', 'c_h004')]), (0.5, 4), (1.0, 9)])
def test_plastic_share_registers_pairs_and_keeps_the_synapses(share, pairs):
    from feagi_hailo_ros.brain.plasticity import PlasticParams
    static = build_connectome(load_genome(synthetic_genome(20_000, 10)))
    genome = load_genome(synthetic_genome(20_000, 10, plastic_share=share))
    assert genome.warnings == []
    c = build_connectome(genome)
    registered = sorted(c.plastic_pairs)
    assert registered == pairs if isinstance(pairs, list) else len(registered) == pairs
    assert set(c.plastic_pairs.values()) == {PlasticParams(1, 2, 1, 2)}
    assert np.array_equal(c.syn_target, static.syn_target)     # the same kernels
    assert np.array_equal(c.syn_weight, static.syn_weight)
    other = synthetic_genome(20_000, 10, plastic_share=share, plastic_params=(2, 3, 1, 1))
    assert set(build_connectome(load_genome(other)).plastic_pairs.values()) == {
        PlasticParams(2, 3, 1, 1)}


def test_plastic_share_default_is_the_static_genome():
    assert synthetic_genome(20_000, 10, plastic_share=0.0) == synthetic_genome(20_000, 10)
    with pytest.raises(ValueError, match='plastic_share'):
        synthetic_genome(20_000, 10, plastic_share=1.5)
