"""Plastic pairs in the hybrid engine: they stay on the host and learn as on the CPU engine.

The conformance vectors (fired sets and every weight) replay through a HybridEngine, and a
brain whose device targets also receive plastic synapses (plastic + residual + device
currents in one target range) equals the CPU engine burst for burst, weights included, with
and without the worker's share of the updates, and across a bad result and a fallback.
"""

import json
from pathlib import Path

from feagi_hailo_ros.brain.builder import load_brain
from feagi_hailo_ros.brain.connectome import Connectome
from feagi_hailo_ros.brain.genome import AreaSpec
from feagi_hailo_ros.brain.plasticity import PlasticParams
from feagi_hailo_ros.devices.emulator import EmulatedHailo
from feagi_hailo_ros.devices.planner import plan_partitions
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.factory import EngineConfig, make_engine
from feagi_hailo_ros.engine.hybrid import HybridEngine
from feagi_hailo_ros.engine.replay import FiredRecorder, read_injections
import numpy as np
import pytest

VECTORS = Path(__file__).parent / 'data' / 'conformance'
DIMS = (6, 6, 1)
PARTITION = 'hc,hd'


def _weights(engine) -> list:
    """Every synapse as the weights file holds it: [[src], [dst], weight], sorted."""
    model = engine.model
    syn = model.plastic
    ids = model.layout.ids
    out = []
    for idx in (syn.source, syn.target):
        area, x, y, z = model.layout.coords(np.asarray(idx, np.int64))
        out.append([[ids[a], int(i), int(j), int(k)] for a, i, j, k in zip(
            area.tolist(), x.tolist(), y.tolist(), z.tolist())])
    weights = engine.plastic.magnitude.tolist()
    return sorted([s, d, float(w)] for s, d, w in zip(out[0], out[1], weights))


@pytest.mark.parametrize('name', ['plastic_basic', 'plastic_window'])
def test_hybrid_engine_replays_the_plastic_vectors(name, tmp_path):
    """Fired sets and every weight of FEAGI's vectors, through the emulator's HybridEngine."""
    connectome = load_brain(str(VECTORS / f'{name}.json'), cache=False)
    assert connectome.plastic_pairs
    lines = []
    hybrid = make_engine(connectome, EngineConfig(device='emulator'), log=lines.append)
    assert isinstance(hybrid, HybridEngine)
    plastic_lines = [line for line in lines if 'plastic pair' in line]
    assert len(plastic_lines) == len(connectome.plastic_pairs)
    assert all(': cpu (' in line and 'host learns its weights' in line
               for line in plastic_lines)
    cpu = BurstEngine(connectome)
    injections = read_injections(VECTORS / f'{name}.inject.jsonl', cpu.model.layout)
    expected_weights = (VECTORS / f'{name}.weights.jsonl').read_text().splitlines()
    out = tmp_path / 'fired.jsonl'
    with hybrid, FiredRecorder(out, cpu.model.layout) as recorder:
        assert cpu.model.synapses.n_synapses == 0      # every synapse is plastic here
        for burst in range(120):
            if burst in injections:
                cpu.inject_indices(*injections[burst])
                hybrid.inject_indices(*injections[burst])
            fired = np.array(hybrid.burst())
            assert np.array_equal(fired, cpu.burst()), f'{name}: burst {burst}'
            recorder.write(burst, fired)
            row = json.loads(expected_weights[burst])
            assert row['burst'] == burst
            assert _weights(hybrid) == sorted(row['synapses']), f'{name}: burst {burst}'
        assert hybrid.faults == []
    assert out.read_text() == (VECTORS / f'{name}.fired.jsonl').read_text()


def _vectors(src: int, dst: int, vectors, weight: float):
    """Synapses of a vectors mapping between two DIMS areas (area index offsets)."""
    n = DIMS[0] * DIMS[1]
    out = []
    for x in range(DIMS[0]):
        for y in range(DIMS[1]):
            for dx, dy in vectors:
                tx, ty = x + dx, y + dy
                if 0 <= tx < DIMS[0] and 0 <= ty < DIMS[1]:
                    out.append((src * n + x * DIMS[1] + y, dst * n + tx * DIMS[1] + ty, weight))
    return out


def plastic_device_brain() -> Connectome:
    """Device targets hc, hd that receive device, residual and plastic synapses at once.

    hc <- ia (conv), ib (plastic), ix (fractional weights: the host's residual);
    hd <- hc (conv), ib (plastic, inhibitory); out <- hd (plastic), ia (static), on the CPU.
    psp_uniform: every weight and sum is an integer or a half, so any order sums exactly.
    """
    names = ['hc', 'hd', 'ia', 'ib', 'ix', 'out']
    areas = [AreaSpec(id=a, name=a, role='custom', unit=None, index_in_unit=0, dims=DIMS,
                      fire_threshold=3.0, psp_uniform=True) for a in names]
    at = {a: i for i, a in enumerate(names)}
    synapses = (_vectors(at['ia'], at['hc'], [(0, 0), (1, 0)], 2)
                + _vectors(at['ib'], at['hc'], [(0, 0)], 3)
                + _vectors(at['ix'], at['hc'], [(0, 0)], 2.5)
                + _vectors(at['hc'], at['hd'], [(0, 0), (0, 1)], 2)
                + _vectors(at['ib'], at['hd'], [(1, 0)], -2)
                + _vectors(at['hd'], at['out'], [(0, 0)], 4)
                + _vectors(at['ia'], at['out'], [(0, 0)], 1))
    src, dst, weight = zip(*synapses)
    pairs = {('ib', 'hc'): PlasticParams(1, 2, 1, 2), ('ib', 'hd'): PlasticParams(1, 2, 1, 1),
             ('hd', 'out'): PlasticParams(2, 1, 1, 3)}
    return Connectome.from_synapse_list(areas, src, dst, weight, plastic_pairs=pairs)


def _inject(engine, burst: int) -> None:
    """Seeded random firing of the input areas ia, ib and ix."""
    rng = np.random.default_rng(1000 + burst)
    for area in ('ia', 'ib', 'ix'):
        x, y = np.nonzero(rng.random(DIMS[:2]) < 0.3)
        if x.size:
            engine.inject(area, x, y, np.zeros_like(x), 5.0)


class Corrupting(EmulatedHailo):
    """An emulator whose result of inference `at` holds a NaN (a bad result: a fault)."""

    def __init__(self, name: str, at: int):
        super().__init__(name)
        self.at = at

    def infer(self, inputs):
        outputs = super().infer(inputs)
        if self._calls != self.at:
            return outputs
        outputs = {name: np.array(grid, copy=True) for name, grid in outputs.items()}
        first = outputs[sorted(outputs)[0]]
        first[(0,) * first.ndim] = np.nan
        return outputs


def test_plan_keeps_the_plastic_pairs_on_the_host_next_to_the_device():
    connectome = plastic_device_brain()
    plan = plan_partitions(connectome, PARTITION)
    (part,) = plan.partitions
    assert [connectome.areas[t].id for t in part.targets] == ['hc', 'hd']
    on_device = {(op.src_id, op.dst_id) for op in part.operators}
    residual = {(op.src_id, op.dst_id): op.reason for op in part.residual}
    assert on_device == {('ia', 'hc'), ('hc', 'hd')}
    assert set(residual) == {('ib', 'hc'), ('ix', 'hc'), ('ib', 'hd')}
    assert 'fractional' in residual[('ix', 'hc')]
    assert residual[('ib', 'hc')].startswith('plastic pair, STDP')
    lines = plan.report(connectome)
    assert 'ib -> hc: cpu (host next to device0: plastic pair, STDP' in '\n'.join(lines)
    assert any(line.startswith('hd -> out: cpu (plastic pair') for line in lines)
    assert 'hd' not in [connectome.areas[t].id
                        for p in plan_partitions(connectome, 'auto').partitions
                        for t in p.targets]


@pytest.mark.parametrize('share', [False, True])
def test_device_targets_with_plastic_synapses_equal_the_cpu_engine(share):
    """Plastic, residual and device currents in one target range; weights too, each burst."""
    connectome = plastic_device_brain()
    cpu = BurstEngine(connectome)
    with HybridEngine(connectome, lambda p: EmulatedHailo(p.name), partition=PARTITION,
                      share_updates=share) as hybrid:
        assert hybrid.runners and bool(hybrid.runners[0].worker_share) == share
        assert hybrid.runners[0].exported.manifest['exact'] is True
        assert [hybrid._receives_plastic(lo, hi) for lo, hi in hybrid.runners[0].ranges] == [
            True, True]
        total = 0
        for burst in range(150):
            _inject(cpu, burst)
            _inject(hybrid, burst)
            fired = cpu.burst()
            assert np.array_equal(fired, hybrid.burst()), f'burst {burst}'
            assert np.array_equal(cpu.plastic.magnitude.view(np.uint32),
                                  hybrid.engine.plastic.magnitude.view(np.uint32))
            total += fired.size
        assert hybrid.faults == [] and hybrid.describe()[0]['mode'] == 'device'
    weights = cpu.plastic.magnitude
    initial = cpu.model.plastic.initial
    assert total > 1000
    assert np.any(weights > initial) and np.any(weights < initial)   # LTP and LTD both ran


def test_a_bad_result_and_the_fallback_keep_plastic_delivery_exact():
    """A NaN in one target's grid (host integration of that target), then the CPU fallback."""
    connectome = plastic_device_brain()
    cpu = BurstEngine(connectome)
    with HybridEngine(connectome, lambda p: Corrupting(p.name, 20), partition=PARTITION,
                      retry_bursts=10) as hybrid:
        modes = []
        for burst in range(80):
            _inject(cpu, burst)
            _inject(hybrid, burst)
            assert np.array_equal(cpu.burst(), hybrid.burst()), f'burst {burst}'
            modes.append(hybrid.describe()[0]['mode'])
        assert np.array_equal(cpu.plastic.magnitude, hybrid.engine.plastic.magnitude)
    assert [f['what'] for f in hybrid.faults] == ['error']
    assert 'cpu' in modes and modes[-1] == 'device'
