"""Device operators: area pairs recognised as conv (also strided) / dense / cpu.

The exported ONNX graph must compute exactly the synapse list's currents and reach.
"""

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.brain.connectome import Connectome
from feagi_hailo_ros.brain.genome import AreaSpec, MappingRule
from feagi_hailo_ros.brain.plasticity import PlasticParams
from feagi_hailo_ros.devices.export import export_partition
from feagi_hailo_ros.devices.operators import analyse, pair_synapses
from feagi_hailo_ros.devices.planner import DevicePartition, plan_partitions
from feagi_hailo_ros.devices.verify import verify_partition
import numpy as np
import pytest
from test_devices_conftest_helpers import ESSENTIAL, PROBE, small_synthetic


def _area(area_id, dims, n=1, role='custom', mappings=()):
    return AreaSpec(id=area_id, name=area_id, role=role, unit=None, index_in_unit=0,
                    dims=tuple(dims), neurons_per_voxel=n, mappings=tuple(mappings))


def _brain(src_dims, dst_dims, pairs, weights, n_src=1, n_dst=1, plastic=False,
           registered=None):
    """Build two areas with synapses from source voxels to destination voxels.

    Every neuron k of a source voxel gets the voxel's synapses; targets are each voxel's
    last neuron. `plastic` sets the rule's flag; `registered` the brain's plastic pairs.
    """
    rule = MappingRule(dst='b', morphology_id='m', plasticity_flag=plastic)
    areas = [_area('a', src_dims, n_src, mappings=[rule]), _area('b', dst_dims, n_dst)]
    n_a = int(np.prod(src_dims)) * n_src
    src, dst, w = [], [], []
    for (s, d), weight in zip(pairs, weights):
        for k in range(n_src):
            src.append(s * n_src + k)
            dst.append(n_a + d * n_dst + n_dst - 1)
            w.append(weight)
    return Connectome.from_synapse_list(areas, src, dst, w, plastic_pairs=registered)


def _vox(dims, x, y, z):
    return (x * dims[1] + y) * dims[2] + z


def _vector_pairs(src_dims, dst_dims, vectors):
    pairs = []
    for x in range(src_dims[0]):
        for y in range(src_dims[1]):
            for z in range(src_dims[2]):
                for dx, dy, dz in vectors:
                    tx, ty, tz = x + dx, y + dy, z + dz
                    if 0 <= tx < dst_dims[0] and 0 <= ty < dst_dims[1] and 0 <= tz < dst_dims[2]:
                        pairs.append((_vox(src_dims, x, y, z), _vox(dst_dims, tx, ty, tz)))
    return pairs


def _check_graph(c, expected_form):
    ops = analyse(c)
    assert [op.form for op in ops] == [expected_form], [op.summary() for op in ops]
    part = DevicePartition('t', [1], ops)
    exported = export_partition(c, part)
    assert verify_partition(c, exported, pair_synapses(c), seed=1, density=0.3) == 0.0
    assert verify_partition(c, exported, pair_synapses(c), seed=2, density=0.9) == 0.0
    return ops[0], exported


@pytest.mark.parametrize('src_dims,dst_dims,vectors', [
    ((6, 5, 2), (6, 5, 2), [(0, 0, 0), (1, -1, 0), (-2, 0, 1)]),
    ((4, 4, 3), (5, 6, 2), [(1, 1, -1), (-1, 3, 0)]),          # a source padded to the target
    ((5, 5, 1), (5, 5, 1), [(-1, -2, 0)]),                     # only negative offsets
])
def test_vectors_become_an_exact_conv(src_dims, dst_dims, vectors):
    pairs = _vector_pairs(src_dims, dst_dims, vectors)
    op, exported = _check_graph(_brain(src_dims, dst_dims, pairs, [3] * len(pairs)), 'conv')
    assert op.kernel.shape[:2] == (dst_dims[2], src_dims[2])
    assert op.synapses == len(pairs)
    assert exported.manifest['weight_bits'] == 8           # |w| = 3 fits int8


def test_two_neurons_per_voxel_and_negative_weights_stay_exact():
    dims = (4, 4, 1)
    pairs = _vector_pairs(dims, dims, [(1, 0, 0)])
    _check_graph(_brain(dims, dims, pairs, [-7] * len(pairs), n_src=2, n_dst=3), 'conv')


def test_projector_downscale_is_a_strided_conv_and_upscale_dense():
    c = build_connectome(str(PROBE))
    forms = {(op.src_id, op.dst_id): op for op in analyse(c)}
    down = forms[('iin000', 'cthree')]             # 5 x 5 -> 3 x 3: blocks of 2
    assert down.form == 'conv' and down.stride == (2, 2) and down.kernel.shape[2:] == (3, 3)
    assert 'stride 2x2' in down.reason
    assert forms[('cthree', 'cseven')].form == 'dense'      # an upscale has no strided conv
    assert forms[('cgrad0', 'cseven')].form == 'conv'
    for op in forms.values():
        assert op.device_weights <= op.synapses * 4 + 1300
    for op in forms.values():
        if op.form == 'conv':                     # odd, centred: "same" padding holds
            assert op.kernel.shape[2] % 2 == 1 and op.kernel.shape[3] % 2 == 1


def test_vectors_from_a_larger_grid_need_a_crop_so_go_dense_or_stay_on_the_cpu():
    src_dims, dst_dims = (7, 4, 1), (5, 6, 1)
    pairs = _vector_pairs(src_dims, dst_dims, [(2, 1, 0), (-1, 3, 0)])
    c = _brain(src_dims, dst_dims, pairs, [3] * len(pairs))
    _check_graph(c, 'dense')
    (op,) = analyse(c, dense_limit=100)
    assert op.form == 'cpu' and 'crop' in op.reason and 'dense limit' in op.reason


def test_irregular_pairs_go_dense_when_small_and_cpu_when_large():
    rng = np.random.default_rng(0)
    dims = (6, 6, 1)
    pairs = sorted({(int(s), int(d)) for s, d in rng.integers(0, 36, (60, 2))})
    weights = rng.integers(1, 9, len(pairs)).tolist()
    c = _brain(dims, dims, pairs, weights)
    _check_graph(c, 'dense')
    (op,) = analyse(c, dense_limit=100)
    assert op.form == 'cpu' and 'irregular' in op.reason and 'dense limit' in op.reason


def test_registered_plastic_pairs_stay_on_the_cpu():
    """The brain's registered pairs decide (NEURON_MODEL §4b), not the rules' flags."""
    dims = (3, 3, 1)
    pairs = _vector_pairs(dims, dims, [(0, 0, 0)])
    registered = {('a', 'b'): PlasticParams(1, 2, 1, 2)}
    for flag in (True, False):      # a pair is plastic whichever rule made its synapses
        (op,) = analyse(_brain(dims, dims, pairs, [1] * len(pairs), plastic=flag,
                               registered=registered))
        assert op.form == 'cpu' and op.reason.startswith('plastic pair, STDP: the host learns')
    rstdp = {('a', 'b'): PlasticParams(1, 2, 1, 2, mode='rstdp')}
    (op,) = analyse(_brain(dims, dims, pairs, [1] * len(pairs), registered=rstdp))
    assert op.form == 'cpu' and op.reason.startswith('plastic pair, RSTDP')
    # flagged but not registered (e.g. a failing rule): FEAGI learns nothing, a device may run it
    (op,) = analyse(_brain(dims, dims, pairs, [1] * len(pairs), plastic=True))
    assert op.form == 'conv'


def test_essential_genome_plan_says_where_every_mapping_runs():
    c = build_connectome(str(ESSENTIAL))
    plan = plan_partitions(c, 'auto')
    lines = plan.report(c)
    assert len(lines) == len(plan.operators) > 0
    targets = {c.areas[t].id for p in plan.partitions for t in p.targets}
    assert {'c__bac', 'c__for'} <= targets
    assert 'omot00' not in targets                 # output areas stay on the CPU in auto
    assert any('omot00' in line and ': cpu (' in line for line in lines)
    explicit = plan_partitions(c, 'c__bac,omot00')
    assert [c.areas[t].id for t in explicit.partitions[0].targets] == ['c__bac', 'omot00']
    with pytest.raises(ValueError, match='no area'):
        plan_partitions(c, 'nonexistent_area')


def test_synthetic_brain_is_all_conv_and_the_graph_matches():
    c = small_synthetic()
    plan = plan_partitions(c, 'auto')
    (part,) = plan.partitions
    assert all(op.form == 'conv' for op in part.operators)
    exported = export_partition(c, part)
    assert verify_partition(c, exported, pair_synapses(c), density=0.5) == 0.0
    assert exported.manifest['exact'] is True


def test_weight_budget_splits_and_keeps_overflow_on_cpu():
    c = small_synthetic()
    two = plan_partitions(c, 'auto', devices=2)
    assert len(two.partitions) == 2
    assert not set(two.partitions[0].targets) & set(two.partitions[1].targets)
    tight = plan_partitions(c, 'auto', weight_budget=16)
    kept = [n for n in tight.notes if 'exceed the budget' in n]
    assert kept and sum(len(p.targets) for p in tight.partitions) < 3


def test_size_spec_picks_eligible_areas_of_at_least_n_neurons():
    c = build_connectome(str(ESSENTIAL))
    small = plan_partitions(c, 'size:1')
    assert {c.areas[t].id for t in small.partitions[0].targets} >= {'c__bac', 'c__for'}
    assert plan_partitions(c, 'size:2').partitions == []     # its eligible areas are 1-neuron
    s = small_synthetic()
    hidden = plan_partitions(s, 'size:2000').partitions[0].targets
    assert sorted(s.areas[t].id for t in hidden) == ['c_h000', 'c_h001', 'c_h002']
    assert plan_partitions(s, 'size:3000').partitions == []
    with pytest.raises(ValueError, match='size:<neurons>'):
        plan_partitions(c, 'size:lots')


def test_fractional_weights_and_negative_psp_stay_on_the_cpu():
    """A device graph holds integer weights and unsigned inputs: such pairs run on the CPU."""
    from feagi_hailo_ros.brain import build_connectome
    from feagi_hailo_ros.devices.operators import analyse
    vec = {'same': {'type': 'vectors', 'parameters': {'vectors': [[0, 0, 0]]}}}

    def genome(multiplier, psp):
        blueprint = {}
        for area, dstmap in (('csrc00', {'cdst00': [['same', [1, 1, 1], multiplier, False]]}),
                             ('cdst00', {})):
            for axis in 'xyz':
                blueprint[f'_____10c-{area}-cx-___bb{axis}-i'] = 4
            blueprint[f'_____10c-{area}-cx-dstmap-d'] = dstmap
        blueprint['_____10c-csrc00-nx-pstcr_-f'] = psp
        return {'blueprint': blueprint, 'neuron_morphologies': vec}
    (plain,) = analyse(build_connectome(genome(2, 1.0)))
    (fraction,) = analyse(build_connectome(genome(2.5, 1.0)))
    (negative,) = analyse(build_connectome(genome(2, -3.0)))
    assert plain.form == 'conv'
    assert fraction.form == 'cpu' and 'fractional weights' in fraction.reason
    assert negative.form == 'cpu' and 'negative psp' in negative.reason
