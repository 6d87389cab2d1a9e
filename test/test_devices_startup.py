"""Cold start is not a fault, device results are checked, failed reopens back off.

Each device here is the emulator with one behaviour changed; the runs are compared with
the CPU engine's. Device limits are chosen as multiples of the injected delays, so the
tests do not depend on the speed of the machine.
"""

import time

from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.hybrid import HybridEngine
from feagi_hailo_ros.runtime.brain_runtime import BrainRuntime
from feagi_hailo_ros.testing.faulty import FaultPlan, FaultyDevice
import numpy as np
import pytest
from test_devices_conftest_helpers import (bursts_until_device, random_vision_injections,
                                           run_bursts, small_synthetic)

LIMIT_S = 0.25           # the device deadline of these tests: far above a normal inference
# what BrainRuntime reads of the node's parameters (ros.parameters needs rclpy)
SETTINGS = {'gaze_x': 0.5, 'gaze_y': 0.5, 'gaze_modulation': 0.5, 'vision_change_min': 1,
            'vision_change_max': 255}


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


class SlowStart(EmulatedHailo):
    """An emulator whose open-time inference and first burst inference are slow."""

    def __init__(self, name, open_s=4 * LIMIT_S, first_s=2 * LIMIT_S, slow_opens=1):
        super().__init__(name)
        self.open_s, self.first_s, self.slow_opens = open_s, first_s, slow_opens
        self.opens = 0

    def warm_up(self, inputs):
        self.opens += 1
        if self.opens <= self.slow_opens:
            time.sleep(self.open_s)
        return super().warm_up(inputs)

    def infer(self, inputs):
        if self._calls == 0:
            time.sleep(self.first_s)
        return super().infer(inputs)


def test_slow_open_and_first_inference_are_start_up_not_faults():
    c = small_synthetic(neurons=3000, hidden=1)
    inject = random_vision_injections(c, 'iic400', seed=11)
    reference = run_bursts(BurstEngine(c), 30, inject_fn=inject)
    logs = []
    with HybridEngine(c, lambda p: SlowStart(p.name), partition='auto', timeout_s=LIMIT_S,
                      log=logs.append) as hybrid:
        assert hybrid.startup_timeout_s >= 10 * LIMIT_S
        fired = run_bursts(hybrid, 30, inject_fn=inject)
        (part,) = hybrid.describe()
    assert hybrid.faults == [] and part['mode'] == 'device'
    assert part['startup_s'] >= 4 * LIMIT_S
    assert any('ready in' in line and 'before any burst deadline' in line for line in logs)
    assert any('first burst inference after the open took' in line
               and 'not a fault' in line for line in logs)
    assert _same(reference, fired)


def test_an_open_that_does_not_finish_in_time_starts_on_the_cpu_then_recovers():
    c = small_synthetic(neurons=3000, hidden=1)
    inject = random_vision_injections(c, 'iic400', seed=12)
    reference = run_bursts(BurstEngine(c), 200, inject_fn=inject)
    logs = []
    with HybridEngine(c, lambda p: SlowStart(p.name, open_s=3.0, first_s=0.0),
                      partition='auto', timeout_s=LIMIT_S, startup_timeout_s=0.5,
                      retry_bursts=5, log=logs.append) as hybrid:
        assert hybrid.describe()[0]['mode'] == 'cpu'
        fired = run_bursts(hybrid, 20, inject_fn=inject)
        fired += bursts_until_device(hybrid, inject, 20, max_bursts=150)
        (part,) = hybrid.describe()
    assert [f['what'] for f in hybrid.faults] == ['open failed']
    assert 'start-up timeout' in hybrid.faults[0]['reason']
    assert part['mode'] == 'device' and any('device back' in line for line in logs)
    assert _same(reference[:len(fired)], fired)


class Corrupting(EmulatedHailo):
    """An emulator whose result of one inference is corrupted by `corrupt(outputs)`."""

    def __init__(self, name, at, corrupt):
        super().__init__(name)
        self.at, self.corrupt = at, corrupt

    def infer(self, inputs):
        outputs = super().infer(inputs)
        if self._calls != self.at:
            return outputs
        outputs = {name: np.array(grid, copy=True) for name, grid in outputs.items()}
        name = sorted(outputs)[0]
        outputs[name] = self.corrupt(outputs[name])
        return outputs


def _set_first(value):
    def corrupt(grid):
        grid[(0,) * grid.ndim] = value        # any layout (the emulator's is planar)
        return grid
    return corrupt


@pytest.mark.parametrize('corrupt,why', [
    (_set_first(np.nan), 'is NaN, infinite or outside'),
    (_set_first(-np.inf), 'is NaN, infinite or outside'),
    (_set_first(1e9), 'outside the quantised range'),
    (lambda grid: grid.astype(np.int32), 'dtype int32'),
    (lambda grid: grid.reshape(-1)[:-1], 'shape'),
    (lambda grid: np.ascontiguousarray(grid.reshape(grid.shape[::-1])), 'shape'),
])
def test_a_bad_device_result_is_a_fault_and_the_partition_falls_back_exactly(corrupt, why):
    c = small_synthetic(neurons=3000, hidden=1)
    inject = random_vision_injections(c, 'iic400', seed=13)
    reference = run_bursts(BurstEngine(c), 120, inject_fn=inject)
    with HybridEngine(c, lambda p: Corrupting(p.name, 12, corrupt), partition='auto',
                      retry_bursts=10) as hybrid:
        fired = run_bursts(hybrid, 40, inject_fn=inject)
        fired += bursts_until_device(hybrid, inject, 40, max_bursts=80)
        (part,) = hybrid.describe()
    assert [f['what'] for f in hybrid.faults] == ['error']
    assert 'bad result' in hybrid.faults[0]['reason'] and why in hybrid.faults[0]['reason']
    assert part['mode'] == 'device'
    assert _same(reference[:len(fired)], fired) and sum(f.size for f in fired) > 50


def test_failed_reopens_back_off_and_diagnostics_show_the_cause():
    c = small_synthetic(neurons=3000, hidden=1)
    inject = random_vision_injections(c, 'iic400', seed=14)
    retry = 4
    faults = FaultPlan(disconnect_on=3, reconnect_after_s=None)       # never comes back

    def paced(engine, burst):                 # the background reopen gets time to fail
        time.sleep(0.002)
        inject(engine, burst)
    reference = run_bursts(BurstEngine(c), 200, inject_fn=inject)
    hybrid = HybridEngine(c, lambda p: FaultyDevice(EmulatedHailo(p.name), faults),
                          partition='auto',
                          retry_bursts=retry)
    try:
        fired = run_bursts(hybrid, 200, inject_fn=paced)
        health = BrainRuntime(c, hybrid, 'emulator', SETTINGS).health()
        (part,) = hybrid.describe()
    finally:
        hybrid.close()
    assert _same(reference, fired)
    reopens = [f['burst'] for f in hybrid.faults if f['what'] == 'reopen failed']
    assert 3 <= len(reopens) <= 6                 # without back-off: about 200 / retry
    for k, (a, b) in enumerate(zip(reopens, reopens[1:]), start=1):
        assert b - a >= retry * 2 ** k            # each failure doubles the wait
    assert part['failed_reopens'] == len(reopens) and part['retry_in_bursts'] > 0
    assert 'reopen failed' in part['last_fault'] and 'disconnected' in part['last_fault']
    assert health['p0_last_fault'] == part['last_fault']
    assert health['p0_failed_reopens'] == len(reopens) and health['p0_mode'] == 'cpu'
