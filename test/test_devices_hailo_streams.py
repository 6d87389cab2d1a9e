"""A Hailo device proves itself at upload (fake `hailo_platform`).

Streams found through the HEF's original names whatever their order, a HEF from another
export or with other quantisation refused with the reason, and recorded frames that must
give the CPU's outputs before any burst runs on the chip.
"""

import shutil

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.devices.base import DeviceError, DeviceUnavailable
from feagi_hailo_ros.devices.export import export_partition, write_partition
from feagi_hailo_ros.devices.hailo import HailoDevice
from feagi_hailo_ros.devices.planner import plan_partitions
from feagi_hailo_ros.devices.selfcheck import load_frames
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid import HybridEngine
import numpy as np
import onnx
import pytest
import test_devices_conftest_helpers as helpers
from test_devices_conftest_helpers import (bursts_until_device, ESSENTIAL, ESSENTIAL_INJECT,
                                           read_injections, run_bursts)

fake_hailo = helpers.fake_hailo
SPEC = 'c__bac,c__for,omot00'       # outputs cur_8x1, dense_16x16 (16-bit), dense_1x1


@pytest.fixture(scope='module')
def essential():
    """The essential genome's connectome."""
    return build_connectome(str(ESSENTIAL))


def _export(connectome, folder, spec=SPEC, record=True):
    """Export the one partition of `spec` into `folder` and 'compile' it (HEF = ONNX)."""
    plan = plan_partitions(connectome, spec, prefix='hailo')
    (part,) = plan.partitions
    exp = write_partition(export_partition(connectome, part), str(folder),
                          connectome=connectome if record else None)
    shutil.copy(exp.onnx_path, exp.hef_path)
    return plan, exp


def _load(exp, **kwargs):
    device = HailoDevice(name='hailo0', **kwargs)
    device.open()
    try:
        device.upload(exp)
    except BaseException:
        device.close()
        raise
    return device


def _injector(injections):
    """An inject_fn replaying conformance injections."""
    def inject(engine, burst):
        for row in injections.get(burst, []):
            engine.inject(row['area'], row['x'], row['y'], row['z'], row['p'])
    return inject


def _hef_order(exp):
    from hailo_platform import HEF
    hef = HEF(exp.hef_path)
    return [hef.get_original_names_from_vstream_name(info.name)[-1]
            for info in hef.get_output_vstream_infos()]


def test_streams_are_found_by_original_names_in_any_order(fake_hailo, essential, tmp_path):
    fake_hailo.shuffle_seed = 3
    plan, exp = _export(essential, tmp_path / 'hailo0')
    manifest_order = [o['name'] for o in exp.manifest['outputs']]
    hef_order = _hef_order(exp)
    assert sorted(hef_order) == sorted(manifest_order) and hef_order != manifest_order
    injections = read_injections(ESSENTIAL_INJECT)
    cpu = run_bursts(BurstEngine(essential), 120, injections)
    with HybridEngine(essential, lambda p: HailoDevice(name=p.name), plan=plan,
                      exported={'hailo0': exp}) as hybrid:
        fired = run_bursts(hybrid, 120, injections)
        (health,) = hybrid.describe()
    assert hybrid.faults == [] and health['mode'] == 'device'
    notes = ' '.join(health['device']['notes'])
    assert 'matched by original names' in notes and 'cur_8x1=hailo0/conv' in notes
    assert 'dense_16x16=hailo0/fc' in notes
    assert ('4 recorded frames vs the CPU: cur_8x1 exact, dense_16x16 exact, dense_1x1 exact'
            in notes)
    assert all(np.array_equal(x, y) for x, y in zip(cpu, fired))


def test_two_same_shaped_outputs_swapped_in_the_hef_are_matched_by_name(fake_hailo, tmp_path):
    probe = build_connectome(str(helpers.PROBE))
    fake_hailo.swap_outputs = ('dense_3x3', 'dense_3x3_frac')     # counts, fractional currents
    _, exp = _export(probe, tmp_path / 'hailo0', 'cseven')
    manifest_order = [o['name'] for o in exp.manifest['outputs']]
    hef_order = _hef_order(exp)
    shapes = {o['name']: o['hef_shape'] for o in exp.manifest['outputs']}
    assert shapes['dense_3x3'] == shapes['dense_3x3_frac']   # order would swap them silently
    assert hef_order.index('dense_3x3') == manifest_order.index('dense_3x3_frac')
    frames = load_frames(exp.directory, exp.manifest, exp.model)
    assert not np.array_equal(frames.expected['dense_3x3'], frames.expected['dense_3x3_frac'])
    device = _load(exp)
    notes = ' '.join(device.describe().notes)
    device.close()
    assert 'matched by original names' in notes and 'dense_3x3 exact' in notes
    assert 'dense_3x3_frac within bound' in notes


def test_a_hef_from_another_export_is_refused_naming_the_streams(fake_hailo, essential,
                                                                 tmp_path):
    _, exp = _export(essential, tmp_path / 'mine', 'c__bac')
    _, other = _export(essential, tmp_path / 'other')
    shutil.copy(other.hef_path, exp.hef_path)
    with pytest.raises(DeviceUnavailable, match='compiled from another export') as info:
        _load(exp)
    message = str(info.value)
    assert 'dense_1x1' in message and 'is no manifest output' in message
    assert 'Export and compile again' in message
    assert info.value.reason.startswith('HEF streams do not match the manifest')
    assert fake_hailo.claimed == set()


def test_an_output_node_not_named_after_its_tensor_is_unmatched(fake_hailo, essential,
                                                                tmp_path):
    _, exp = _export(essential, tmp_path / 'hailo0')
    model = onnx.load(exp.hef_path)
    (node,) = [n for n in model.graph.node if 'dense_16x16' in n.output]
    node.name = 'MatMul_17'             # an export before output nodes bore their names
    onnx.save(model, exp.hef_path)
    with pytest.raises(DeviceUnavailable,
                       match='manifest output dense_16x16 has no output stream'):
        _load(exp)


@pytest.mark.parametrize('where', ['hef', 'compile_report'])
def test_a_quant_info_mismatch_is_refused_with_both_values(fake_hailo, essential, tmp_path,
                                                           where):
    plan, exp = _export(essential, tmp_path / 'hailo0')
    if where == 'hef':                  # the compile chose another scale than the manifest's
        fake_hailo.quant = {'dense_16x16': {'qp_scale': 2.0, 'qp_zp': 32768}}
        want = 'qp_scale 2, qp_zp 32768; expected (manifest) qp_scale 1, qp_zp 32768'
    else:                               # the compile report recorded another HEF
        exp.manifest['hef_quant'] = {'dense_16x16': {'qp_scale': 0.5, 'qp_zp': 32768}}
        want = 'qp_scale 1, qp_zp 32768; expected (compile report) qp_scale 0.5'
    with pytest.raises(DeviceUnavailable, match='not quantised as the manifest') as info:
        _load(exp)
    assert 'output dense_16x16 (stream hailo0/fc' in str(info.value)
    assert want in str(info.value) and 'compile again' in str(info.value)
    with pytest.raises(DeviceUnavailable) as info:
        HybridEngine(essential, lambda p: HailoDevice(name=p.name), plan=plan,
                     exported={'hailo0': exp})
    assert info.value.reason.startswith('HEF quantisation differs from the manifest: output')
    assert fake_hailo.claimed == set()          # the refused device is closed


def test_a_compile_report_matching_the_hef_is_accepted(fake_hailo, essential, tmp_path):
    _, exp = _export(essential, tmp_path / 'hailo0')
    exp.manifest['hef_quant'] = {'hailo0/input_layer1': {'qp_scale': 1.0, 'qp_zp': 0.0}}
    device = _load(exp)
    assert any('as the compile report states' in n for n in device.describe().notes)
    device.close()


def test_the_compile_report_next_to_the_hef_sets_the_expected_quantisation(
        fake_hailo, essential, tmp_path):
    import json
    from feagi_hailo_ros.devices.export import ExportedPartition
    _export(essential, tmp_path / 'hailo0')
    report = {'streams': [{'original_name': 'dense_16x16',
                           'quant_info': {'qp_scale': 0.5, 'qp_zp': 32768}},
                          {'original_name': 'in_1x1', 'quant_info': None}]}
    (tmp_path / 'hailo0' / 'compile_report.json').write_text(json.dumps(report))
    loaded = ExportedPartition.load(str(tmp_path / 'hailo0'))
    assert loaded.manifest['hef_quant'] == {'dense_16x16': {'qp_scale': 0.5,
                                                            'qp_zp': 32768}}
    with pytest.raises(DeviceUnavailable, match='expected \\(compile report\\) qp_scale 0.5'):
        _load(loaded)
    (tmp_path / 'hailo0' / 'compile_report.json').write_text('{"streams": 3}')
    with pytest.raises(ValueError, match='compile report .*unreadable'):
        ExportedPartition.load(str(tmp_path / 'hailo0'))


def test_a_wrong_output_sends_only_its_areas_to_the_host(fake_hailo, essential, tmp_path):
    """Self-check: dense_16x16 wrong -> c__bac and c__for on the host, omot00 on the chip."""
    plan, exp = _export(essential, tmp_path / 'hailo0')
    fake_hailo.corrupt_output = 'dense_16x16'
    injections = read_injections(ESSENTIAL_INJECT)
    cpu = run_bursts(BurstEngine(essential), 60, injections)
    with HybridEngine(essential, lambda p: HailoDevice(name=p.name), plan=plan,
                      exported={'hailo0': exp}) as hybrid:
        (health,) = hybrid.describe()
        assert health['mode'] == 'device' and not hybrid.faults
        assert sorted(health['host_targets']) == ['c__bac', 'c__for']
        assert 'dense_16x16: self-check: off by up to 1 (exact output' in \
            health['host_targets']['c__bac']
        assert any('are wrong; the host integrates' in n for n in health['device']['notes'])
        runs = fake_hailo.runs
        fired = run_bursts(hybrid, 60, injections)
        assert fake_hailo.runs - runs >= 60                  # the chip still runs omot00
    assert all(np.array_equal(x, y) for x, y in zip(cpu, fired)) and len(fired) == 60


def test_a_failed_self_check_sends_the_partition_to_the_cpu(fake_hailo, essential, tmp_path):
    plan, exp = _export(essential, tmp_path / 'hailo0')
    fake_hailo.corrupt_output = '*'
    injections = read_injections(ESSENTIAL_INJECT)
    cpu = run_bursts(BurstEngine(essential), 100, injections)
    with HybridEngine(essential, lambda p: HailoDevice(name=p.name), plan=plan,
                      exported={'hailo0': exp}, retry_bursts=5) as hybrid:
        (health,) = hybrid.describe()
        assert health['mode'] == 'cpu' and hybrid.faults[0]['what'] == 'open failed'
        assert 'self-check failed: output cur_8x1 off by up to 1' in health['last_fault']
        assert 'output dense_16x16 off by up to 1' in health['last_fault']
        assert 'exact output' in health['last_fault']
        fired = run_bursts(hybrid, 20, injections)
        fake_hailo.corrupt_output = ''          # a good HEF: the next reopen checks it again
        fired += bursts_until_device(hybrid, _injector(injections), 20)
        assert hybrid.describe()[0]['mode'] == 'device' and len(fired) < 80
        fired += run_bursts(hybrid, 100 - len(fired), injections, start=len(fired))
    assert all(np.array_equal(x, y) for x, y in zip(cpu, fired)) and len(fired) == 100
    assert all('self-check failed' in f['reason'] for f in hybrid.faults)


def test_inexact_outputs_pass_within_their_error_bound(fake_hailo, tmp_path):
    probe = build_connectome(str(helpers.PROBE))
    _, exp = _export(probe, tmp_path / 'hailo0', 'auto')
    (inexact,) = [o for o in exp.manifest['outputs'] if not o['exact']]
    device = _load(exp)
    (line,) = [n for n in device.describe().notes if n.startswith('self-check at open')]
    device.close()
    assert f'{inexact["name"]} within bound (error ' in line
    error = float(line.split(f'{inexact["name"]} within bound (error ')[1].split(',')[0])
    assert 0 < error <= inexact['error_bound']


def test_an_export_without_frames_is_refused_unless_allowed(fake_hailo, essential, tmp_path):
    _, exp = _export(essential, tmp_path / 'hailo0', record=False)
    with pytest.raises(DeviceUnavailable, match='no selfcheck.npz') as info:
        _load(exp)
    assert info.value.reason == 'self-check frames missing' and fake_hailo.runs == 0
    device = _load(exp, allow_unchecked=True)
    assert any(n.startswith('UNCHECKED') for n in device.describe().notes)
    device.close()


def test_frames_of_another_export_are_refused(fake_hailo, essential, tmp_path):
    _, exp = _export(essential, tmp_path / 'mine', 'c__bac')
    _, other = _export(essential, tmp_path / 'other')
    shutil.copy(tmp_path / 'other' / 'selfcheck.npz', tmp_path / 'mine' / 'selfcheck.npz')
    with pytest.raises(DeviceUnavailable, match='recorded for another model.onnx'):
        _load(exp)


def test_the_fake_quantises_inputs_and_outputs_as_hailort(fake_hailo):
    from hailo_platform.pyhailort import pyhailort
    from types import SimpleNamespace
    info = SimpleNamespace(_bits=8, _onnx='x',
                           quant_info=SimpleNamespace(qp_scale=0.5, qp_zp=0.0))
    x = np.array([0.25, 0.75, 1.25, -3.0, 500.0], np.float32)
    # bankers rounding of x / 0.5 (0.5, 1.5, 2.5 -> 0, 2, 2), clipped to [0, 255 * 0.5]
    assert pyhailort._to_chip(x, info).tolist() == [0.0, 1.0, 1.0, 0.0, 127.5]
    info.quant_info.qp_zp = 128.0
    y = np.array([-70.0, -0.25, 0.25, 0.75, 70.0], np.float32)
    assert pyhailort._from_chip(y, info).tolist() == [-64.0, -0.0, 0.0, 1.0, 63.5]


def test_device_errors_at_self_check_are_device_errors(fake_hailo, essential, tmp_path):
    _, exp = _export(essential, tmp_path / 'hailo0')
    fake_hailo.fail_on_run = {1}              # the first recorded frame
    with pytest.raises(DeviceError, match='self-check inference') as info:
        _load(exp)
    assert not isinstance(info.value, DeviceUnavailable)
