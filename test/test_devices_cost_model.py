"""The placement cost model's arithmetic (devices/cost_model.py): estimates, not timings."""

from types import SimpleNamespace

from feagi_hailo_ros.devices.cost_model import (CostModel, DeviceProfile, expected_activity,
                                                HOST_VOXEL_S, IN_BYTES_PER_VOXEL,
                                                op_macs, OUT_BYTES_PER_VOXEL, profile,
                                                PROFILES, UPDATE_S)
import numpy as np
import pytest

LINK = DeviceProfile('test', 'test link', bandwidth=1e9, overhead_s=1e-3, macs_per_s=1e12,
                     cpu_factor=2.0)


def brain(*dims):
    """A stand-in connectome: areas of the given dims (one neuron per voxel)."""
    areas = [SimpleNamespace(dims=d, voxels=int(np.prod(d)), id=f'a{k}')
             for k, d in enumerate(dims)]
    return SimpleNamespace(areas=areas, n_neurons=sum(a.voxels for a in areas),
                           area_index=lambda name: int(name[1:]))


def conv(src, dst, synapses, taps=(1, 1, 3, 3)):
    return SimpleNamespace(src=src, dst=dst, synapses=synapses, form='conv',
                           kernel=np.zeros(taps), matrix=None, axes=None)


def test_cpu_time_is_events_times_time_per_event_times_the_cpu_factor():
    c = brain((100, 10, 1), (100, 10, 1))
    op = conv(0, 1, synapses=9000)
    model = CostModel(c, [op], LINK, cpu_event_s=4e-9)
    activity = np.array([0.1, 0.0])
    assert model.events(op, activity) == pytest.approx(900)
    assert model.cpu_s(op, activity) == pytest.approx(900 * 4e-9 * 2.0)


def test_device_time_is_overhead_plus_bytes_over_bandwidth_plus_macs_over_throughput():
    c = brain((100, 10, 1), (100, 10, 1))
    op = conv(0, 1, synapses=9000)
    model = CostModel(c, [op], LINK)
    moved = 1000 * IN_BYTES_PER_VOXEL + 1000 * OUT_BYTES_PER_VOXEL
    assert model.io_bytes([op]) == moved
    macs = 2 * 9 * 1000                       # value and reach passes, 9 taps per voxel
    assert op_macs(op, (100, 10, 1)) == macs
    assert model.device_s([op]) == pytest.approx(1e-3 + moved / 1e9 + macs / 1e12)
    assert model.host_io_s([op]) == pytest.approx(2000 * HOST_VOXEL_S * 2.0)


def test_a_burst_overlaps_the_device_with_the_cpu_mappings():
    c = brain((100, 10, 1), (100, 10, 1), (10, 1, 1))
    dev, cpu = conv(0, 1, 9000), conv(0, 2, 1_000_000)
    model = CostModel(c, [dev, cpu], LINK, cpu_event_s=1e-9)
    activity = np.array([0.5, 0.0, 0.0])
    update = c.n_neurons * UPDATE_S * 2.0
    on_cpu = model.predict([], activity, 'cpu')
    assert on_cpu.total_s == pytest.approx(update + (4500 + 500_000) * 1e-9 * 2.0)
    split = model.predict([[dev]], activity, 'device')
    cpu_s = 500_000 * 1e-9 * 2.0
    assert split.total_s == pytest.approx(update + cpu_s + model.host_io_s([dev])
                                          + max(0.0, model.device_s([dev]) - cpu_s))
    assert 'model estimate' in split.line()


def test_gain_turns_with_activity():
    """Sparse activity: the CPU wins; dense activity on a wide kernel: the device wins."""
    c = brain((200, 200, 1), (200, 200, 1))
    op = conv(0, 1, synapses=40_000 * 49, taps=(1, 1, 7, 7))
    model = CostModel(c, [op], PROFILES['pi5-gen3'])
    assert model.gain_s([op], np.array([0.01, 0.0])) < 0
    assert model.gain_s([op], np.array([0.6, 0.0])) > 0


def test_profiles_and_activity():
    assert set(PROFILES) >= {'pi5-gen2', 'pi5-gen3', 'x86-gen3x4'}
    assert PROFILES['pi5-gen2'].bandwidth < PROFILES['pi5-gen3'].bandwidth
    with pytest.raises(ValueError, match='known are'):
        profile('pi4')
    c = brain((2, 1, 1), (3, 1, 1))
    assert expected_activity(c, 0.02, {'a1': 0.5}).tolist() == [0.02, 0.5]
