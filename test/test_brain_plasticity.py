"""Plastic rules as FEAGI 2.6.10 loads them (NEURON_MODEL §4b loading steps 1-5)."""

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.brain.plasticity import read_plasticity
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.state import CheckpointError
import numpy as np
import pytest
from test_brain_morphologies import genome

SAME = {'same': {'type': 'vectors', 'parameters': {'vectors': [[0, 0, 0]]}}}


def plastic(c=1, ltp=3, ltd=2, window=1, weight=10, flag=True):
    """A plastic rule in FEAGI's array form."""
    return ['same', [1, 1, 1], weight, flag, c, ltp, ltd, window]


def obj(**keys):
    """A plastic rule object (the four parameters unless overridden)."""
    rule = {'morphology_id': 'same', 'morphology_scalar': [1, 1, 1],
            'postSynapticCurrent_multiplier': 10, 'plasticity_flag': True,
            'plasticity_constant': 1, 'ltp_multiplier': 3, 'ltd_multiplier': 2,
            'plasticity_window': 1}
    rule.update(keys)
    return {k: v for k, v in rule.items() if v is not None}


def brain(dstmap, others=('cbb000', 'ccc000', 'cdd000'), extra=None):
    """Source area caa000 (2 voxels) mapping by `dstmap` to 2-voxel areas."""
    areas = {'caa000': ((2, 1, 1), dstmap)}
    areas.update({a: ((2, 1, 1), {}) for a in others})
    areas.update(extra or {})
    return build_connectome(genome(areas, SAME))


def status(rule, is_object=None):
    values = dict(rule) if isinstance(rule, dict) else dict(zip(
        ('morphology_id', 'morphology_scalar', 'postSynapticCurrent_multiplier',
         'plasticity_flag', 'plasticity_constant', 'ltp_multiplier', 'ltd_multiplier',
         'plasticity_window'), rule))
    return read_plasticity(values, isinstance(rule, dict))


@pytest.mark.parametrize('rule, state', [
    (plastic(flag=1), 'static'),                 # JSON true only: 1 is not
    (plastic(flag='true'), 'static'),
    (plastic(flag=False), 'static'),
    (plastic(), 'plastic'),
    (plastic()[:7], 'fail'),                     # 7 elements: window 0
    (plastic()[:4], 'fail'),
    (plastic(window=0.9), 'fail'),               # truncated to 0
    (plastic(ltp=128), 'fail'), (plastic(ltd=-129), 'fail'),
    (plastic(ltp=127, ltd=-128), 'plastic'),
    (plastic(c='abc'), 'fail'), (plastic(window=True), 'fail'),
    (plastic(c='abc', flag=False), 'static'),    # a static rule's parameters are not read
    (obj(), 'plastic'), (obj(ltp_multiplier=None), 'drop'),
    (obj(plasticity_mode='off'), 'static'), (obj(plasticity_mode='rstdp'), 'plastic'),
    (obj(plasticity_mode='hebb'), 'fail'),
    (obj(plasticity_mode='off', plasticity_eta=1), 'fail'),
    (obj(plasticity_mode='off', max_weight=9), 'fail'),
    (obj(plasticity_eta=0), 'fail'), (obj(plasticity_eta=-1), 'fail'),
    (obj(plasticity_eta='x'), 'fail'), (obj(plasticity_eta=0.5), 'plastic'),
    (obj(max_weight=0), 'fail'), (obj(max_weight=12.5), 'plastic')])
def test_which_rules_are_plastic_and_which_fail(rule, state):
    assert status(rule).status == state


def test_parameters_truncate_toward_zero_and_steps_clamp():
    p = status(plastic(c=2.5, ltp=3.7, ltd=-1.6, window=2.7)).params
    assert (p.constant, p.ltp, p.ltd, p.window) == (2, 3, -1, 2)
    assert (p.d_plus, p.d_minus) == (6, 0)                 # c * ltd < 0 -> 0
    big = status(plastic(c=100, ltp=100, ltd=3)).params
    assert (big.d_plus, big.d_minus) == (255, 255)         # min(255, ...)
    eta = status(obj(plasticity_eta=0.5, plasticity_constant=1, ltp_multiplier=3)).params
    assert eta.d_plus == np.float32(1.5) and eta.d_plus.dtype == np.float32
    assert not status(plastic(c=0)).params.learns
    assert not status(obj(plasticity_mode='rstdp')).params.learns


def test_failing_rule_stops_its_area_in_byte_order_of_destinations():
    """Destinations build in byte order (cbb < ccc < cdd), whatever the dstmap order."""
    c = brain({'cdd000': [plastic()], 'ccc000': [plastic(), plastic(window=0), plastic()],
               'cbb000': [['same', [1, 1, 1], 1, False]]},
              extra={'cee000': ((2, 1, 1), {'cbb000': [plastic()]})})
    built = {(m.src, m.dst, m.rule_index) for m in c.mappings}
    # ccc000's first rule (before the failing one) keeps its synapses; the rest of its list
    # and the later destination cdd000 get none; cee000 (another source) is unaffected
    assert built == {('caa000', 'cbb000', 4), ('caa000', 'ccc000', 1),
                     ('cee000', 'cbb000', 0)}
    assert set(c.plastic_pairs) == {('caa000', 'ccc000'), ('cee000', 'cbb000')}
    warning = next(w for w in c.warnings if 'stops there' in w)
    assert "'caa000'" in warning and "'ccc000'" in warning and 'plasticity_window 0 < 1' \
        in warning and 'cdd000' in warning and '3 rule(s) not built' in warning


def test_legacy_ids_order_as_their_underscore_padded_bytes():
    """A 6-byte legacy custom id orders as its bytes padded with '_' (cb0000__ < cb0000_x)."""
    c = build_connectome(genome({
        'caa000': ((1, 1, 1), {'cbb001': [plastic(window=0)], 'cbb000': [plastic()]}),
        'cbb000': ((1, 1, 1), {}), 'cbb001': ((1, 1, 1), {})}, SAME))
    assert [(m.dst) for m in c.mappings] == ['cbb000']


def test_dropped_object_builds_nothing_and_others_build():
    c = brain({'cbb000': [obj(ltd_multiplier=None), ['same', [1, 1, 1], 4, False]]})
    assert [(m.dst, m.rule_index) for m in c.mappings] == [('cbb000', 1)]
    assert not c.plastic_pairs
    assert any('without ltd_multiplier' in w and 'dropped whole' in w for w in c.warnings)


def test_last_plastic_rule_of_a_pair_wins_and_every_synapse_of_it_is_plastic():
    c = brain({'cbb000': [plastic(ltp=1), ['same', [1, 1, 1], 4, False], plastic(ltp=5)]})
    assert c.plastic_pairs[('caa000', 'cbb000')].ltp == 5
    assert any('replaces the parameters' in w for w in c.warnings)
    model = EngineModel.from_connectome(c)
    assert model.plastic.n_synapses == 6 and model.synapses.n_synapses == 0
    assert sorted(model.plastic.initial.tolist()) == [4, 4, 10, 10, 10, 10]


def test_elements_past_the_eighth_are_ignored_with_a_warning():
    c = brain({'cbb000': [plastic() + [1, 2]]})
    assert ('caa000', 'cbb000') in c.plastic_pairs
    assert any('past the 8th' in w for w in c.warnings)


def learning_brain(rule):
    """caa000 -> cbb000 by `rule`; cbb000 fires only when injected (threshold 10000)."""
    return brain({'cbb000': [rule]}, others=(),
                 extra={'cbb000': ((2, 1, 1), {}, {'nx-fire_t-f': 10000})})


def run_pair(c, bursts=6):
    """Fire both areas' voxel 0 every burst, voxel 1 of the source only; return weights."""
    engine = BurstEngine(EngineModel.from_connectome(c))
    src, dst = (c.area_index(a) for a in ('caa000', 'cbb000'))
    for _ in range(bursts):
        engine.inject_indices(c.voxel_neuron(src, [0, 1], 0, 0).tolist()
                              + [int(c.voxel_neuron(dst, 0, 0, 0))], [1e6] * 3)
        engine.burst()
    return engine.plastic.magnitude.tolist()


def test_rstdp_never_changes_and_max_weight_caps_ltp():
    assert run_pair(learning_brain(obj(plasticity_mode='rstdp'))) == [10, 10]
    capped = run_pair(learning_brain(obj(max_weight=17.5, ltp_multiplier=3)))
    assert capped == [17.5, 0.0]             # 10 + 3 + 3 + 3 -> capped; LTD floors at 0


def test_a_brain_without_plastic_pairs_refuses_a_plastic_checkpoint(tmp_path):
    learning = BurstEngine(EngineModel.from_connectome(brain({'cbb000': [plastic()]})))
    learning.checkpoint(tmp_path / 'p.npz')
    fixed = BurstEngine(EngineModel.from_connectome(
        brain({'cbb000': [plastic(flag=False)]})))
    with pytest.raises(CheckpointError, match='plastic pairs'):
        fixed.restore(tmp_path / 'p.npz')
