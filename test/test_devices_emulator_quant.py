"""The emulator quantises as the compiled HEF does (compile report: qp_scale, qp_zp)."""

import copy

from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.devices.export import export_partition
from feagi_hailo_ros.devices.host_io import inexact_reason, PartitionIO, quant_grid
from feagi_hailo_ros.devices.planner import plan_partitions
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid import HybridEngine
import numpy as np
from test_devices_conftest_helpers import small_synthetic


def exported_with(report):
    """The synthetic brain's partition, its manifest holding `report(spec)` per output."""
    c = small_synthetic(neurons=6000)
    part = plan_partitions(c, 'auto', 1).partitions[0]
    exported = export_partition(c, part)
    manifest = copy.deepcopy(exported.manifest)
    manifest['hef_quant'] = {s['name']: report(s) for s in manifest['outputs']}
    exported.manifest = manifest
    return c, part, exported


def ideal(spec):
    return {'qp_scale': spec['scale'], 'qp_zp': 2 ** (spec['bits'] - 1)}


def coarse(spec):
    return {'qp_scale': 2.0, 'qp_zp': 2 ** (spec['bits'] - 1)}


def test_quant_grid_follows_the_compile_report_with_its_zero_point():
    spec = {'name': 'cur', 'bits': 8, 'scale': 1.0, 'exact': True, 'kind': 'current',
            'bound': 20}
    assert quant_grid(spec, {}) is None                       # exact: identity
    report = {'hef_quant': {'cur': {'qp_scale': 0.5, 'qp_zp': 100}}}
    assert quant_grid(spec, report) == (-100.0, 155.0, 0.5)
    assert 'qp_scale 0.5' in inexact_reason(spec, report)
    tight = {'hef_quant': {'cur': {'qp_scale': 1.0, 'qp_zp': 250}}}
    assert 'does not hold its bound 20' in inexact_reason(spec, tight)
    assert inexact_reason(spec, {'hef_quant': {'cur': ideal(spec)}}) is None


def devices(exported, **kw):
    device = EmulatedHailo('q', **kw)
    device.open()
    device.upload(exported)
    return device


def test_coarse_compiled_outputs_are_rounded_and_flagged():
    """A compile report with qp_scale 2: outputs rounded to even values, flagged inexact."""
    c, part, exported = exported_with(coarse)
    _, _, ideal_export = exported_with(ideal)
    coarse_dev, ideal_dev = devices(exported), devices(ideal_export)
    assert 'qp_scale 2' in ' '.join(coarse_dev.describe().notes)
    assert 'every output exact' in ' '.join(ideal_dev.describe().notes)
    io = PartitionIO(c, exported.manifest)
    rng = np.random.default_rng(5)
    fired = np.flatnonzero(rng.random(c.n_neurons) < 0.3).astype(np.int64)
    inputs = io.inputs(fired, np.full(fired.size, 5.0, np.float32))
    rounded = {k: v.copy() for k, v in coarse_dev.infer(inputs).items()}
    plain = {k: v.copy() for k, v in ideal_dev.infer(inputs).items()}
    odd = 0
    for name, grid in plain.items():
        np.testing.assert_array_equal(rounded[name], 2 * np.rint(grid / 2))
        odd += int(np.count_nonzero(np.rint(grid) % 2))
    assert odd > 0                     # the probe did reach currents that rounding changes


def test_emulator_with_the_ideal_compile_report_equals_the_cpu_engine():
    c, part, exported = exported_with(ideal)
    device = devices(exported)
    cpu = BurstEngine(c)
    rng = np.random.default_rng(5)
    source = next(a for a in range(len(c.areas)) if c.areas[a].role == 'input')
    lo, hi = int(c.area_start[source]), int(c.area_start[source + 1])
    with HybridEngine(c, lambda p: device, plan=plan_partitions(c, 'auto', 1),
                      exported={part.name: exported}) as hybrid:
        fired = 0
        for _ in range(40):
            idx = lo + np.flatnonzero(rng.random(hi - lo) < 0.3)
            for engine in (cpu, hybrid):
                engine.inject_indices(idx, np.full(idx.size, 30.0, np.float32))
            got = hybrid.burst()
            assert np.array_equal(got, cpu.burst())
            fired += got.size
        assert fired and not hybrid.faults
        assert hybrid.describe()[0]['mode'] == 'device'
