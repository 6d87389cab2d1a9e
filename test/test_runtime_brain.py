"""The brain runtime behind the node (no DDS): encoders in, fired sets out, gaze, points."""

from feagi_hailo_ros.runtime.loading import build_runtime
from feagi_hailo_ros.runtime.settings import defaults
import numpy as np
import pytest


@pytest.fixture
def essential(data_dir):
    runtime = build_runtime(dict(defaults(), genome=str(data_dir / 'essential_genome.json')))
    try:
        yield runtime
    finally:
        runtime.close()


def _voxel(runtime, area_id, x, y, z):
    index = runtime.area_ids.index(area_id)
    return int(runtime.connectome.voxel_neuron(index, x, y, z))


def test_gaze_area_moves_the_vision_gaze(essential):
    assert essential.vision.gaze.ex == 0.5
    # ogaz00 is 4 x 1 x 10: column 0 at z = 0 reads 1.0 (eccentricity x), column 1 at
    # z = 9 reads 0.0 (eccentricity y); column 2 (modulation) silent keeps its value
    fired = np.array(sorted([_voxel(essential, 'ogaz00', 0, 0, 0),
                             _voxel(essential, 'ogaz00', 1, 0, 9)]), dtype=np.int64)
    values, spoke = essential.decode_motors(fired)
    assert not spoke.any() and list(values) == [0.0] * 4
    gaze = essential.vision.gaze
    assert (gaze.ex, gaze.ey, gaze.modulation) == (1.0, 0.0, 0.5)


def test_motor_decoding_forward_reverse_and_silence(essential):
    forward = np.array([_voxel(essential, 'omot00', x, 0, 0) for x in (0, 2)], np.int64)
    values, spoke = essential.decode_motors(forward)
    assert list(spoke) == [True, True, False, False]
    assert list(values) == [1.0, 1.0, 0.0, 0.0]
    reverse = np.array([_voxel(essential, 'omot00', 7, 0, 0)], np.int64)
    values, spoke = essential.decode_motors(reverse)
    assert list(spoke) == [False, False, False, True] and values[3] == -1.0
    values, spoke = essential.decode_motors(np.zeros(0, np.int64))
    assert not spoke.any()


def test_fired_points_sit_in_their_area_at_its_genome_position(essential):
    index = essential.area_ids.index('omot00')
    area = essential.areas[index]
    fired = np.array([_voxel(essential, 'omot00', 3, 0, 0)], np.int64)
    xyz, intensity = essential.fired_points(fired, 0.5)
    expected = (np.array(area.position, np.float32) + [3.5, 0.5, 0.5]) * 0.5
    np.testing.assert_allclose(xyz[0], expected)
    assert intensity[0] == index


def test_frame_encoding_injects_into_vision_and_bursts_fire_there(essential):
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[:16, 24:40] = 255   # top-middle ninth only
    count = essential.encode_frame(frame)
    assert count > 0
    fired = essential.burst()
    area = np.asarray(essential.connectome.neuron_area)[fired]
    fired_ids = {essential.area_ids[a] for a in area.tolist()}
    assert 'iic700' in fired_ids and 'iic100' not in fired_ids
    with pytest.raises(ValueError):
        essential.encode_image('rgb8', 4, 4, 12, False, bytes(10))   # truncated


def test_warm_up_leaves_the_run_unchanged(data_dir):
    from feagi_hailo_ros.engine.core import BurstEngine
    path = str(data_dir / 'essential_genome.json')
    runtime = build_runtime(dict(defaults(), genome=path))   # warmed up at build
    plain = BurstEngine(runtime.connectome)
    try:
        assert runtime.engine.burst_count == 0
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[:16, 24:40] = 255
        injections = runtime.vision.encode(frame)
        for area_id, x, y, z, p in injections.by_area():
            runtime.engine.inject(area_id, x, y, z, p)
            plain.inject(area_id, x, y, z, p)
        for _ in range(6):
            np.testing.assert_array_equal(runtime.engine.burst(), plain.burst())
    finally:
        runtime.close()
        plain.close()
