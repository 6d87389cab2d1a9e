"""The Hailo-8 path on a fake `hailo_platform`.

Scan, open, load, burst, health, close, the version and architecture checks, and HailoRT
status names translated into advice.
"""

import shutil
import time

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.devices.base import DeviceError, DeviceTimeout, DeviceUnavailable
from feagi_hailo_ros.devices.export import export_partition, write_partition
from feagi_hailo_ros.devices.hailo import explain, HailoDevice, load_hailort, scan, status_name
from feagi_hailo_ros.devices.host_io import PartitionIO
from feagi_hailo_ros.devices.planner import plan_partitions
from feagi_hailo_ros.devices.selfcheck import FRAME_DENSITIES
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid import HybridEngine
import numpy as np
import pytest
import test_devices_conftest_helpers as helpers
from test_devices_conftest_helpers import (bursts_until_device, ESSENTIAL, ESSENTIAL_INJECT,
                                           random_vision_injections, read_injections, run_bursts,
                                           small_synthetic)

fake_hailo = helpers.fake_hailo


def _compiled(connectome, tmp_path, spec='auto'):
    """Export each partition and 'compile' it (the fake HEF is the ONNX file)."""
    plan = plan_partitions(connectome, spec, prefix='hailo')
    exported = {}
    for part in plan.partitions:
        exp = write_partition(export_partition(connectome, part), str(tmp_path / part.name),
                              connectome=connectome)
        shutil.copy(exp.onnx_path, exp.hef_path)
        exported[part.name] = exp
    return plan, exported


def test_without_hailort_the_problem_and_the_install_are_named():
    report = scan()
    assert report['hailort'] is None and report['devices'] == []
    assert 'not installed' in report['problem'] and 'hailo-all' in report['problem']
    with pytest.raises(DeviceUnavailable, match='HailoRT'):
        HailoDevice().open()


def test_scan_open_load_burst_health_close(fake_hailo, tmp_path):
    c = build_connectome(str(ESSENTIAL))
    plan, exported = _compiled(c, tmp_path)
    report = scan()
    assert report['hailort'] == '4.23.0' and report['problem'] == ''
    (dev_info,) = report['devices']
    assert dev_info['architecture'] == 'HAILO8' and '\x00' not in dev_info['board']
    exp = exported['hailo0']
    device = HailoDevice(name='hailo0')
    device.open()
    assert fake_hailo.claimed == {'0000:01:00.0'}
    device.upload(exp)
    io = PartitionIO(c, exp.manifest)
    a = c.area_index('iic100')
    fired = np.arange(c.area_start[a], c.area_start[a] + 30, dtype=np.int64)
    outputs = device.infer(io.inputs(fired, np.zeros(fired.size, np.float32)))
    bac = c.area_index('c__bac')
    (spec,) = [o for o in exp.manifest['outputs']
               if any(m['area_index'] == bac for m in o['members'])]
    (member,) = [m for m in spec['members'] if m['area_index'] == bac]
    assert member['kind'] == 'current'            # sign-definite: reach = current != 0
    assert float(outputs[spec['name']][member['offset']]) == 30 * 5.0   # psp 5, weight 1
    grids = {t['lo']: io.target_grid(outputs, t) for t in io.targets}
    base, stride, current, reach = grids[int(c.area_start[bac])]
    assert (base, stride, reach) == (int(c.area_start[bac]), 1, None)
    assert np.flatnonzero(current).tolist() == [0] and current[0] == 150.0
    health = device.describe()
    assert health.temperature_c == pytest.approx(47.5) and health.power_w == pytest.approx(1.9)
    assert health.architecture == 'HAILO8' and health.emulated is False
    device.close()
    assert fake_hailo.claimed == set() and device.describe().status == 'closed'


def test_hybrid_on_fake_hailo_matches_cpu(fake_hailo, tmp_path):
    c = build_connectome(str(ESSENTIAL))
    plan, exported = _compiled(c, tmp_path, 'c__bac,c__for,omot00')
    injections = read_injections(ESSENTIAL_INJECT)
    cpu = run_bursts(BurstEngine(c), 150, injections)
    with HybridEngine(c, lambda p: HailoDevice(name=p.name), plan=plan,
                      exported=exported) as hybrid:
        fired = run_bursts(hybrid, 150, injections)
        assert hybrid.faults == [] and hybrid.describe()[0]['mode'] == 'device'
    # the recorded self-check frames, the inference at open, the bursts
    assert fake_hailo.runs == len(FRAME_DENSITIES) + 1 + 150
    assert all(np.array_equal(x, y) for x, y in zip(cpu, fired))


def test_runtime_error_and_timeout_fall_back_and_recover(fake_hailo, tmp_path):
    c = small_synthetic(neurons=4000, hidden=2)
    plan, exported = _compiled(c, tmp_path)
    drive = random_vision_injections(c, 'iic400')

    def inject(engine, burst):
        drive(engine, burst)
        time.sleep(0.003)                   # leave time for background reopens
    cpu = run_bursts(BurstEngine(c), 150, inject_fn=drive)
    fake_hailo.fail_on_run = {10}
    fake_hailo.timeout_on_run = {30}
    logs = []
    with HybridEngine(c, lambda p: HailoDevice(name=p.name), plan=plan, exported=exported,
                      retry_bursts=5, log=logs.append) as hybrid:
        fired = run_bursts(hybrid, 80, inject_fn=inject)
        fired += bursts_until_device(hybrid, inject, 80)
        mode = hybrid.describe()[0]['mode']
    assert all(np.array_equal(x, y) for x, y in zip(cpu, fired))
    assert [f['what'] for f in hybrid.faults] == ['error', 'error']
    assert 'driver operation failed' in hybrid.faults[0]['reason']
    assert 'did not answer in time' in hybrid.faults[1]['reason']
    assert mode == 'device' and sum('device back' in line for line in logs) == 2


def test_hailort_5_and_hailo10_are_refused(fake_hailo, tmp_path):
    import hailo_platform
    hailo_platform.__version__ = '5.1.0'
    with pytest.raises(DeviceUnavailable, match='needs HailoRT 4.x'):
        load_hailort()
    assert '5.1.0' in scan()['problem']
    hailo_platform.__version__ = '4.23.0'
    fake_hailo.boards[0].architecture = 'HAILO10H'
    with pytest.raises(DeviceUnavailable, match='Hailo-10/15 chips need HailoRT 5.x'):
        HailoDevice().open()
    assert fake_hailo.claimed == set()


@pytest.mark.parametrize('setup,match', [
    (lambda s: setattr(s.boards[0], 'used_by_other_process', True), 'in use by another'),
    (lambda s: setattr(s, 'driver_version', '4.20.0'), 'driver and the HailoRT library'),
    (lambda s: setattr(s, 'driver_installed', False), 'driver is not installed'),
    (lambda s: s.boards.clear(), 'no Hailo device found'),
])
def test_open_failures_say_what_to_do(fake_hailo, setup, match):
    setup(fake_hailo)
    with pytest.raises(DeviceError, match=match):
        HailoDevice().open()


def test_missing_hef_names_the_compile_command(fake_hailo, tmp_path):
    c = build_connectome(str(ESSENTIAL))
    plan = plan_partitions(c, 'auto', prefix='hailo')
    exp = write_partition(export_partition(c, plan.partitions[0]), str(tmp_path / 'hailo0'))
    device = HailoDevice()
    device.open()
    with pytest.raises(DeviceUnavailable, match='python3 .*compile_hef.py'):
        device.upload(exp)
    device.close()


def test_power_na_when_the_board_has_no_sensor(fake_hailo):
    fake_hailo.boards[0].power_w = None
    device = HailoDevice()
    device.open()
    first = device.describe()
    assert first.power_w is None and any('power n/a' in n for n in first.notes)
    assert first.temperature_c is not None
    device.close()


def test_status_names_from_every_exception_shape(fake_hailo):
    from hailo_platform.pyhailort import pyhailort
    from hailo_platform.pyhailort._pyhailort import HailoRTStatusException
    assert status_name(pyhailort.HailoRTException(
        'libhailort failed with error: 74 (HAILO_OUT_OF_PHYSICAL_DEVICES)')) == \
        'HAILO_OUT_OF_PHYSICAL_DEVICES'
    assert status_name(HailoRTStatusException('64')) == 'HAILO_DRIVER_NOT_INSTALLED'
    assert status_name(pyhailort.HailoRTPCIeDriverException('x')) == \
        'HAILO_DRIVER_OPERATION_FAILED'
    timeout = explain(pyhailort.HailoRTTimeout('t'), 'burst')
    assert isinstance(timeout, DeviceTimeout) and timeout.status == 'HAILO_TIMEOUT'
    busy = explain(pyhailort.HailoRTException(
        'libhailort failed with error: 73 (HAILO_DEVICE_IN_USE)'))
    assert 'another process' in busy.reason


def test_chip_busy_at_start_runs_on_cpu_then_takes_the_chip(fake_hailo, tmp_path):
    c = small_synthetic(neurons=4000, hidden=2)
    plan, exported = _compiled(c, tmp_path)
    inject = random_vision_injections(c, 'iic400', seed=11)
    cpu = run_bursts(BurstEngine(c), 100, inject_fn=inject)
    fake_hailo.boards[0].used_by_other_process = True
    with HybridEngine(c, lambda p: HailoDevice(name=p.name), plan=plan, exported=exported,
                      retry_bursts=5) as hybrid:
        assert hybrid.faults[0]['what'] == 'open failed'
        assert 'in use by another process' in hybrid.faults[0]['reason']
        fired = run_bursts(hybrid, 20, inject_fn=inject)
        fake_hailo.boards[0].used_by_other_process = False     # the camera pipeline stops
        fired += bursts_until_device(hybrid, inject, 20)
        assert hybrid.describe()[0]['mode'] == 'device'
        fired += run_bursts(hybrid, 5, inject_fn=inject, start=len(fired))
    assert all(np.array_equal(x, y) for x, y in zip(cpu, fired)) and len(fired) > 25
    assert fake_hailo.runs > 0


def test_missing_library_is_an_error_at_start(tmp_path):
    c = small_synthetic(neurons=3000, hidden=1)
    plan, exported = _compiled(c, tmp_path)
    with pytest.raises(DeviceUnavailable, match='not installed'):
        HybridEngine(c, lambda p: HailoDevice(name=p.name), plan=plan, exported=exported)


def test_emulator_and_fake_device_agree_where_quantisation_is_inexact(fake_hailo, tmp_path):
    from feagi_hailo_ros.devices.emulator import EmulatedHailo
    c = build_connectome(str(helpers.PROBE))
    plan, exported = _compiled(c, tmp_path)
    exp = exported['hailo0']
    assert exp.manifest['exact'] is False
    device = HailoDevice(name='hailo0')
    device.open()
    device.upload(exp)
    quantised, plain = EmulatedHailo('q'), EmulatedHailo('f', quantized=False)
    for emu in (quantised, plain):
        emu.open()
        emu.upload(exp)
    io = PartitionIO(c, exp.manifest)
    rng = np.random.default_rng(4)
    differs = 0
    for _ in range(5):
        fired = np.flatnonzero(rng.random(c.n_neurons) < 0.3).astype(np.int64)
        grids = io.inputs(fired, rng.uniform(0, 300, fired.size).astype(np.float32))
        on_device, emulated, exact = device.infer(grids), quantised.infer(grids), \
            plain.infer(grids)
        for spec in exp.manifest['outputs']:
            name = spec['name']
            np.testing.assert_allclose(on_device[name], emulated[name], rtol=0, atol=1e-5)
            differs += int(np.any(np.abs(emulated[name] - exact[name]) > 1e-6))
    device.close()
    assert differs > 0                  # the quantisation is really applied (inexact inputs)
