"""Placement by the cost model: a partition moves to the device and back with activity."""

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.factory import EngineConfig
from feagi_hailo_ros.engine.hybrid import HybridEngine
import numpy as np
import pytest
from test_brain_morphologies import genome

SIDE = 100
WIDE = {'wide': {'type': 'vectors', 'parameters': {
    'vectors': [[dx, dy, 0] for dx in range(-3, 4) for dy in range(-3, 4)]}}}


class CountingHailo(EmulatedHailo):
    """The emulator, counting its burst inferences."""

    count = 0

    def infer(self, inputs):
        CountingHailo.count += 1
        return super().infer(inputs)


def brain():
    """A 100 x 100 area feeding another through a 7 x 7 kernel (a Conv2D on the device)."""
    return build_connectome(genome({
        'csrc00': ((SIDE, SIDE, 1), {'cdst00': [['wide', [1, 1, 1], 1, False]]}),
        'cdst00': ((SIDE, SIDE, 1), {}, {'nx-fire_t-f': 30.0})}, WIDE))


def test_a_partition_moves_to_the_device_and_back_as_activity_rises_and_falls():
    c = brain()
    rng = np.random.default_rng(3)
    src = c.area_index('csrc00')
    start = int(c.area_start[src])
    cpu = BurstEngine(c)
    with HybridEngine(c, lambda p: CountingHailo(p.name), partition='cdst00',
                      placement='auto', profile='x86-gen3x4') as hybrid:
        runner = hybrid.runners[0]
        assert runner.placed == 'cpu'               # expected 2% activity: the CPU wins
        placed, inferences = [], []
        for burst in range(500):
            share = 0.6 if burst < 250 else 0.01     # dense, then sparse
            idx = start + np.flatnonzero(rng.random(SIDE * SIDE) < share)
            for engine in (cpu, hybrid):
                engine.inject_indices(idx, np.full(idx.size, 5.0, np.float32))
            assert np.array_equal(hybrid.burst(), cpu.burst()), f'burst {burst}'
            placed.append(runner.placed)
            inferences.append(CountingHailo.count)
        moves = [(m.burst, m.to) for m in hybrid.placement.moves]
        assert [to for _, to in moves] == ['cpu', 'device', 'cpu'] and moves[0][0] == 0
        to_device, to_cpu = (burst for burst, _ in moves[1:])
        assert 50 <= to_device < 250 < to_cpu
        # a move decided after burst B (the count) holds from that burst's step B - 1 on
        assert placed[to_device - 1:to_cpu - 1] == ['device'] * (to_cpu - to_device)
        assert placed[to_cpu - 1:] == ['cpu'] * (len(placed) - to_cpu + 1)
        # the device ran one inference per burst while placed there, none on the CPU
        assert inferences[to_device - 2] == inferences[0] == 0
        assert inferences[-1] == inferences[to_cpu - 1] == to_cpu - to_device
        assert not hybrid.faults
        assert hybrid.describe()[0]['placed'] == 'cpu'


def test_forced_placements_and_bad_values():
    c = brain()
    with HybridEngine(c, lambda p: EmulatedHailo(p.name), partition='cdst00',
                      placement='cpu') as hybrid:
        hybrid.burst()
        assert hybrid.runners[0].placed == 'cpu' and not hybrid.runners[0].active
    with pytest.raises(ValueError, match='placement'):
        EngineConfig(device='emulator', placement='sometimes')
    with pytest.raises(ValueError, match='known are'):
        EngineConfig(device='emulator', profile='pi4')
