"""HybridEngine on the emulator: the CPU engine's fired sets, and faults without state loss.

Faults fall back to the CPU; the runs are compared with uninterrupted runs.
"""

import copy
import os
import time

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.cli.main import main as cli_main
from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid import HybridEngine
from feagi_hailo_ros.testing.faulty import FaultPlan, FaultyDevice
import numpy as np
import pytest
from test_devices_conftest_helpers import (bursts_until_device, ESSENTIAL, ESSENTIAL_INJECT, PROBE,
                                           PROBE_INJECT, random_vision_injections, read_injections,
                                           run_bursts, small_synthetic, TEST_DIR)


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_cli_records_identical_fired_sets_cpu_vs_emulator_on_essential(tmp_path):
    records = {}
    for device in ('cpu', 'emulator'):
        out = tmp_path / f'{device}.jsonl'
        rc = cli_main(['run', '--genome', str(ESSENTIAL), '--bursts', '200', '--inject',
                       str(ESSENTIAL_INJECT), '--record', str(out), '--device', device,
                       '--partition', 'auto', '--no-cache'])
        assert rc == 0
        records[device] = out.read_text().splitlines()
    assert len(records['cpu']) == 200
    assert records['cpu'] == records['emulator']
    assert sum('c__bac' in line or 'c__for' in line for line in records['cpu']) > 0


def test_emulator_partition_is_really_used_and_matches_cpu():
    c = build_connectome(str(ESSENTIAL))
    injections = read_injections(ESSENTIAL_INJECT)
    cpu = run_bursts(BurstEngine(c), 200, injections)
    calls = []

    def factory(part):
        dev = EmulatedHailo(part.name)
        real = dev.infer
        dev.infer = lambda inputs: calls.append(1) or real(inputs)
        return dev
    with HybridEngine(c, factory, partition='c__bac,c__for,omot00') as hybrid:
        fired = run_bursts(hybrid, 200, injections)
        assert hybrid.describe()[0]['exact'] is True
        assert hybrid.describe()[0]['device']['emulated'] is True
        assert hybrid.share_updates is False       # too small to be worth the handoff
    # one inference per burst, plus burst 201's prefetched one unless close cancelled it
    assert len(calls) in (200, 201) and hybrid.faults == []
    assert _same(cpu, fired)
    motor = c.area_index('omot00')
    lo, hi = c.area_start[motor], c.area_start[motor + 1]
    assert any(((f >= lo) & (f < hi)).any() for f in fired)   # the device drove the motors


@pytest.mark.parametrize('share,ahead', [(True, None), (False, False), (True, True),
                                         (False, True)])
def test_synthetic_integer_brain_identical_for_200_bursts(share, ahead):
    """Identical with the worker sharing the updates or not, inputs filled ahead or not."""
    c = small_synthetic()
    inject = random_vision_injections(c, 'iic400')
    cpu = run_bursts(BurstEngine(c), 200, inject_fn=inject)
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='auto',
                      share_updates=share, fill_ahead=ahead) as hybrid:
        assert hybrid.plan.partitions and hybrid.runners[0].exported.manifest['exact']
        assert bool(hybrid.runners[0].worker_share) == share
        fired = run_bursts(hybrid, 200, inject_fn=inject)
        full_fills = hybrid.runners[0].full_fills
    if ahead is not None:                      # forced: always / never filled ahead
        assert full_fills == 0 if ahead else full_fills in (200, 201)
    assert sum(f.size for f in cpu) > 1000
    assert _same(cpu, fired)


def test_probe_genome_with_non_integer_inputs_is_reported_inexact():
    c = build_connectome(str(PROBE))
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='auto') as hybrid:
        manifest = hybrid.runners[0].exported.manifest
        run_bursts(hybrid, 30, read_injections(PROBE_INJECT))
    assert manifest['exact'] is False
    inexact = [s for s in manifest['inputs'] + manifest['outputs'] if not s['exact']]
    assert inexact and all(s['kind'] in ('input', 'current') for s in inexact)


@pytest.mark.parametrize('ahead', [None, True])
@pytest.mark.parametrize('faults,timeout_s,what', [
    (FaultPlan(fail_on={40}), 1.0, 'error'),
    (FaultPlan(hang_on={25}, hang_s=1.2), 0.3, 'timeout'),    # limit: 100x an inference
    (FaultPlan(disconnect_on=30, reconnect_after_s=0.0), 1.0, 'error'),
])
def test_fault_falls_back_without_losing_state(faults, timeout_s, what, ahead):
    """A hung job that wakes up later must not apply its share of the updates then."""
    faults = copy.deepcopy(faults)            # a reconnect clears the plan's disconnect
    c = small_synthetic()
    inject = random_vision_injections(c, 'iic400', seed=5)
    reference = run_bursts(BurstEngine(c), 200, inject_fn=inject)
    logs = []
    hybrid = HybridEngine(c, lambda p: FaultyDevice(EmulatedHailo(p.name), faults),
                          partition='auto', timeout_s=timeout_s, retry_bursts=10,
                          log=logs.append, share_updates=True, fill_ahead=ahead)
    try:
        fired = run_bursts(hybrid, 120, inject_fn=inject)
        fired += bursts_until_device(hybrid, inject, 120, max_bursts=80)
        modes = hybrid.describe()[0]['mode']
    finally:
        hybrid.close()
    assert _same(reference[:len(fired)], fired)
    assert len(hybrid.faults) >= 1 and hybrid.faults[0]['what'] == what
    assert any('moved to the CPU' in line for line in logs)
    assert modes == 'device'                          # reopened after retry_bursts
    assert any('device back' in line for line in logs)


def test_failed_reopen_keeps_bursting_on_cpu():
    c = small_synthetic(neurons=3000, hidden=1)
    inject = random_vision_injections(c, 'iic400', seed=7)
    reference = run_bursts(BurstEngine(c), 60, inject_fn=inject)
    faults = FaultPlan(disconnect_on=5, reconnect_after_s=None)     # never comes back

    def paced(engine, burst):                 # the background reopen gets time to fail
        time.sleep(0.002)
        inject(engine, burst)
    with HybridEngine(c, lambda p: FaultyDevice(EmulatedHailo(p.name), faults), partition='auto',
                      retry_bursts=5) as hybrid:
        fired = run_bursts(hybrid, 60, inject_fn=paced)
        assert hybrid.describe()[0]['mode'] == 'cpu'
    assert _same(reference, fired)
    assert [f['what'] for f in hybrid.faults][:2] == ['error', 'reopen failed']
    assert 'disconnected' in hybrid.faults[0]['reason']


def test_latency_is_overlapped_and_timing_is_split():
    c = small_synthetic(neurons=3000, hidden=1)
    with HybridEngine(c, lambda p: EmulatedHailo(p.name, latency_ms=5.0),
                      partition='auto') as hybrid:
        run_bursts(hybrid, 5)
        timing = hybrid.last_timing
    assert timing.device_s >= 0.004
    assert timing.total_s >= timing.device_s
    assert set(timing.as_dict()) >= {'host_s', 'transfer_s', 'device_s', 'wait_s',
                                     'cpu_partition_s'}


def test_cpu_device_gives_the_emulator_outputs_and_the_cpu_fired_sets():
    from feagi_hailo_ros.testing.cpu_device import CpuDevice
    c = build_connectome(str(PROBE))
    injections = read_injections(PROBE_INJECT)
    reference = run_bursts(BurstEngine(c), 60, injections)
    with HybridEngine(c, lambda p: CpuDevice(c, p.name), partition='auto') as hybrid:
        fired = run_bursts(hybrid, 60, injections)
        rt = hybrid.runners[0]
        emulator = EmulatedHailo('e', quantized=False)
        emulator.open()
        emulator.upload(rt.exported)
        prev, prev_v = hybrid.engine.previous_fired()
        grids = rt.io.inputs(prev, prev_v)
        got, want = rt.device.infer(grids), emulator.infer(grids)
    assert set(got) == set(want)
    for name in got:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)
    assert _same(reference, fired)
    assert sum(f.size for f in fired) > 100


def test_zero_net_input_still_makes_candidates_through_the_reach_output():
    from feagi_hailo_ros.brain.connectome import Connectome
    from feagi_hailo_ros.brain.genome import AreaSpec
    dims = (3, 3, 1)
    src = AreaSpec(id='a', name='a', role='custom', unit=None, index_in_unit=0, dims=dims,
                   psp=4.0, psp_uniform=True)
    dst = AreaSpec(id='b', name='b', role='custom', unit=None, index_in_unit=0, dims=dims,
                   fire_threshold=0.0)
    n = 9
    sources = np.repeat(np.arange(n), 2)                 # +2 and -2 onto the same target
    targets = n + np.repeat(np.arange(n), 2)
    weights = np.tile([2, -2], n)
    c = Connectome.from_synapse_list([src, dst], sources, targets, weights)

    def inject(engine, burst):
        engine.inject_indices(np.arange(burst % 3, n, 3), 5.0)
    reference = run_bursts(BurstEngine(c), 12, inject_fn=inject)
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='b') as hybrid:
        manifest = hybrid.runners[0].exported.manifest
        fired = run_bursts(hybrid, 12, inject_fn=inject)
    assert any(m['kind'] == 'count' for o in manifest['outputs'] for m in o['members'])
    assert _same(reference, fired)
    assert sum(int((f >= n).sum()) for f in fired) >= 9    # b fires on 0 net input


def test_a_worker_that_stops_waiting_leaves_its_share_to_the_main_thread(monkeypatch):
    """Bursts further apart than SHARE_WAIT_S: the main thread updates the whole partition.

    The prefetched job never waits long; the fired sets stay the same.
    """
    import feagi_hailo_ros.engine.hybrid.runner as runner_module
    monkeypatch.setattr(runner_module, 'SHARE_WAIT_S', 0.0)
    c = small_synthetic()
    vision = random_vision_injections(c, 'iic400')

    def inject(engine, burst):          # a gap: the prefetched job is done before the burst
        time.sleep(0.005)
        vision(engine, burst)
    cpu = run_bursts(BurstEngine(c), 40, inject_fn=vision)
    shared = []
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='auto',
                      share_updates=True) as hybrid:
        assert hybrid.runners[0].worker_share
        fired = []
        for b in range(40):
            fired += run_bursts(hybrid, 1, inject_fn=inject, start=b)
            shared.append(hybrid.last_timing.worker_targets_s)
    assert _same(cpu, fired)
    assert not any(shared[1:])       # the first job, launched in its burst, may share


def test_an_unclosed_hybrid_engine_lets_the_process_exit(tmp_path):
    """A prefetched job waiting for the next burst must not keep the interpreter alive."""
    import subprocess
    import sys
    script = tmp_path / 'unclosed.py'
    script.write_text(
        'import sys\n'
        f'sys.path.insert(0, {str(TEST_DIR)!r})\n'
        'from test_devices_conftest_helpers import run_bursts, small_synthetic\n'
        'from feagi_hailo_ros.devices.emulator import EmulatedHailo\n'
        'from feagi_hailo_ros.engine.hybrid import HybridEngine\n'
        'c = small_synthetic(neurons=3000, hidden=2)\n'
        'h = HybridEngine(c, lambda p: EmulatedHailo(p.name), share_updates=True)\n'
        'run_bursts(h, 5)\n'
        'print("done", h.runners[0].pending is not None)\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TEST_DIR.parent)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
                                  if p]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['done', 'True']
