"""What the node's runtime offers about learning (no DDS): summary, weights, carry-over."""

import json

from feagi_hailo_ros.runtime.burst_clock import RateGate
from feagi_hailo_ros.runtime.loading import build_runtime
from feagi_hailo_ros.runtime.settings import defaults
import numpy as np
import pytest

GENOMES = ('plastic_basic', 'plastic_window')


def _runtime(path, **settings):
    return build_runtime(dict(defaults(), genome=str(path), **settings))


def _injections(data_dir, name):
    by_burst = {}
    for line in (data_dir / 'conformance' / f'{name}.inject.jsonl').read_text().splitlines():
        row = json.loads(line)
        by_burst.setdefault(row['burst'], []).append(row)
    return by_burst


def _run(runtime, injections, bursts, fired=None):
    for burst in bursts:
        for row in injections.get(burst, ()):
            runtime.engine.inject(row['area'], row['x'], row['y'], row['z'], row['p'])
        out = runtime.burst()
        if fired is not None:
            fired.append(np.array(out))


def _edited(data_dir, tmp_path, edit, name='plastic_basic'):
    genome = json.loads((data_dir / 'conformance' / f'{name}.json').read_text())
    edit(genome)
    path = tmp_path / f'{name}_edited.json'
    path.write_text(json.dumps(genome))
    return path


def _add_area(genome, area_id='aa01x0', dims=(3, 2, 1)):
    """An unrelated area whose id sorts first: every other area moves in the neuron index."""
    blueprint = genome['blueprint']
    for axis, size in zip('xyz', dims):
        blueprint[f'_____10c-{area_id}-cx-___bb{axis}-i'] = size
    blueprint[f'_____10c-{area_id}-cx-_group-t'] = 'CUSTOM'
    blueprint[f'_____10c-{area_id}-cx-__name-t'] = area_id
    blueprint[f'_____10c-{area_id}-cx-dstmap-d'] = {}


@pytest.fixture(scope='module')
def learned(request):
    """A plastic_basic runtime's learned state after 40 bursts, and its weights then."""
    data_dir = request.config.rootpath / 'test' / 'data'
    runtime = _runtime(data_dir / 'conformance' / 'plastic_basic.json')
    try:
        _run(runtime, _injections(data_dir, 'plastic_basic'), range(40))
        yield runtime.learned_state(), runtime.plastic_weights()
    finally:
        runtime.close()


def test_summary_counts_plastic_pairs_and_synapses(data_dir):
    runtime = _runtime(data_dir / 'conformance' / 'plastic_basic.json')
    try:
        assert runtime.summary().endswith(', learning: 17 plastic pairs, 68 synapses')
    finally:
        runtime.close()
    runtime = _runtime(data_dir / 'essential_genome.json')
    try:
        assert 'learning' not in runtime.summary()
        assert runtime.plastic_weights() is None and runtime.learned_state() is None
    finally:
        runtime.close()


def test_weights_are_grouped_by_pair_with_voxel_coordinates_and_sign(data_dir, learned):
    _, weights = learned
    assert weights.pairs[0] == ('cp01a0', 'cp01b0') and weights.pairs == sorted(weights.pairs)
    assert list(weights.counts) == [4] * 17 and weights.weight.dtype == np.float32
    # block_to_block: voxel x -> voxel x; the conformance vector's weights after burst 39
    np.testing.assert_array_equal(weights.source[:4], [[x, 0, 0] for x in range(4)])
    np.testing.assert_array_equal(weights.source, weights.target)
    rows = json.loads((data_dir / 'conformance' / 'plastic_basic.weights.jsonl')
                      .read_text().splitlines()[39])['synapses']
    expected = {(src[0], tuple(src[1:]), tuple(dst[1:])): w for src, dst, w in rows}
    start = np.concatenate([[0], np.cumsum(weights.counts)])
    for q, (src, _) in enumerate(weights.pairs):
        for row in range(start[q], start[q + 1]):
            key = (src, tuple(weights.source[row]), tuple(weights.target[row]))
            sign = -1.0 if src == 'cp11a0' else 1.0     # cp11's rule has weight -10
            assert weights.weight[row] == sign * expected[key], key


@pytest.mark.parametrize('name', GENOMES)
def test_carried_state_learns_on_as_a_brain_whose_neurons_were_reset(data_dir, name):
    """Carry-over = the same brain with its neuron state reset and its learning kept."""
    genome = data_dir / 'conformance' / f'{name}.json'
    injections = _injections(data_dir, name)
    carried, fired_carried = _runtime(genome), []
    _run(carried, injections, range(60))
    state = carried.learned_state()
    carried.close()
    carried = _runtime(genome)
    reset, fired_reset = _runtime(genome), []
    try:
        level, message = carried.carry_learned(state, keep=True)
        assert level == 'info' and 'kept' in message
        _run(carried, injections, range(60, 120), fired_carried)
        _run(reset, injections, range(60))
        fresh = reset.engine.state
        fresh.potential[:] = 0
        fresh.refractory_countdown[:] = 0
        fresh.consecutive_fires[:] = 0
        fresh.fired = fresh.fired[:0]
        fresh.fired_potential = fresh.fired_potential[:0]
        fresh.pending_indices = fresh.pending_indices[:0]
        fresh.pending_input = fresh.pending_input[:0]
        reset.engine.state = fresh
        _run(reset, injections, range(60, 120), fired_reset)
        assert sum(f.size for f in fired_reset) > 0
        for burst, (a, b) in enumerate(zip(fired_carried, fired_reset), 60):
            np.testing.assert_array_equal(a, b, err_msg=f'burst {burst}')
        np.testing.assert_array_equal(carried.plastic_weights().weight,
                                      reset.plastic_weights().weight)
    finally:
        carried.close()
        reset.close()


def test_not_kept_when_the_parameter_is_false(data_dir, learned):
    state, weights = learned
    runtime = _runtime(data_dir / 'conformance' / 'plastic_basic.json')
    try:
        built = runtime.plastic_weights().weight.copy()
        assert not np.array_equal(built, weights.weight)
        level, message = runtime.carry_learned(state, keep=False)
        assert level == 'info' and 'keep_learned_weights is false' in message
        np.testing.assert_array_equal(runtime.plastic_weights().weight, built)
        assert runtime.carry_learned(None, keep=True) == ('', '')
    finally:
        runtime.close()


def test_kept_across_the_hybrid_engine_and_an_unrelated_new_area(data_dir, tmp_path, learned):
    state, weights = learned
    moved = _edited(data_dir, tmp_path, _add_area)
    for path, settings in ((moved, {}), (data_dir / 'conformance' / 'plastic_basic.json',
                                         {'device': 'emulator'})):
        runtime = _runtime(path, **settings)
        try:
            assert runtime.carry_learned(state, keep=True)[0] == 'info'
            np.testing.assert_array_equal(runtime.plastic_weights().weight, weights.weight)
        finally:
            runtime.close()


def _set_rule(area, index, value):
    def edit(genome):
        key = f'_____10c-{area}a0-cx-dstmap-d'
        genome['blueprint'][key][f'{area}b0'][0][index] = value
    return edit


def _rotate(genome):
    """cp01's rule maps x -> x + 1 (mod 4): as many synapses, other targets."""
    genome['neuron_morphologies']['rotate'] = {
        'type': 'vectors', 'parameters': {'vectors': [[1, 0, 0], [-3, 0, 0]]},
        'class': 'custom'}
    _set_rule('cp01', 0, 'rotate')(genome)


@pytest.mark.parametrize('edit, reason', [
    (_set_rule('cp01', 4, 2), 'its plastic pairs differ (cp01a0->cp01b0 has other parameters)'),
    (_set_rule('cp01', 3, False), 'its plastic pairs differ (cp01a0->cp01b0 is gone)'),
    (_set_rule('cp01', 2, 11), 'the initial weights of cp01a0->cp01b0 changed'),
    (_rotate, 'the connections of cp01a0->cp01b0 changed'),
    (_set_rule('cp01', 0, 'plus1'), 'its plastic pairs hold 67 synapses, the learned state 68'),
    (lambda g: g['blueprint'].update({'_____10c-cp02b0-cx-___bbx-i': 5}),
     'area cp02b0 has 5 neurons, it had 4'),
])
def test_reset_with_the_reason_when_the_plastic_part_changed(data_dir, tmp_path, learned,
                                                             edit, reason):
    state, _ = learned
    runtime = _runtime(_edited(data_dir, tmp_path, edit))
    try:
        built = runtime.plastic_weights().weight.copy()
        level, message = runtime.carry_learned(state, keep=True)
        assert level == 'warning' and reason in message, message
        assert message.startswith('learned weights reset (68 plastic synapses): the genome '
                                  'changed')
        np.testing.assert_array_equal(runtime.plastic_weights().weight, built)
    finally:
        runtime.close()


def test_rate_gate():
    gate = RateGate()
    assert not gate.due(0.0, 0.0)
    assert gate.due(0.0, 2.0) and not gate.due(0.4, 2.0) and gate.due(0.5, 2.0)
    assert not gate.due(10.0, 0.0)
