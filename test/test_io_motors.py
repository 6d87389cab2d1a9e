"""Tests of io.motors and io.areas: motor/gaze decoding, drive helper, dead-man, area picking."""

import base64
import math
from pathlib import Path
from types import SimpleNamespace

from feagi_hailo_ros.io.areas import find_gaze_area, find_motor_areas, find_vision_areas
from feagi_hailo_ros.io.motors import (DeadMan, decode_area, decode_gaze, decode_gaze_modulation,
                                       decode_legacy_motor, decode_rotary,
                                       decode_rotary_fractional, decode_servo, differential_drive,
                                       DriveLimits)
import numpy as np
import pytest

DATA = Path(__file__).parent / 'data'


def test_rotary_linear_mean_z():
    values = decode_rotary([0, 1, 1, 3], [0, 2, 5, 9], channels=4, depth=10)
    np.testing.assert_allclose(values, [1.0, 1.0 - 7.0 / 9.0, 0.0, -1.0])
    assert decode_rotary([0], [0], 2, 1).tolist() == [0.0, 0.0]  # d = 1 gives 0
    assert decode_rotary([], [], 2, 10, silent=-5.0).tolist() == [-5.0, -5.0]


def test_rotary_fractional_sums_halves_with_sign_columns():
    values = decode_rotary_fractional([0, 1, 2, 0, 0, 3], [0, 1, 3, 1, 2, 0], channels=2)
    np.testing.assert_allclose(values, [1.0 - 0.5 + 0.5 + 0.25, 0.125 - 1.0])


def test_servo_unsigned():
    np.testing.assert_allclose(decode_servo([0, 2, 2], [0, 3, 4], 3, 10),
                               [1.0, 0.0, 1.0 - 3.5 / 9.0])
    assert decode_servo([1], [0], 2, 1).tolist() == [0.0, 1.0]


def test_legacy_motor_columns_and_magnitude():
    # essential genome: omot00 is 8 x 1 x 1 -> 4 motors; d = 1 gives full magnitude
    np.testing.assert_allclose(decode_legacy_motor([0, 2, 5, 6, 7], [0] * 5, 8, 1),
                               [1.0, 1.0, -1.0, 0.0])
    # d = 10: (z+1)/d averaged over the column's fired neurons
    np.testing.assert_allclose(decode_legacy_motor([0, 0, 3], [1, 4, 9], 4, 10),
                               [(0.2 + 0.5) / 2, -1.0])
    # neurons outside the area are ignored
    np.testing.assert_allclose(decode_legacy_motor([0, 99], [0, 0], 2, 1), [1.0])


def test_decode_area_dispatch_and_unknown_kind():
    np.testing.assert_allclose(decode_area('legacy', [1], [0], (8, 1, 1)), [-1, 0, 0, 0])
    np.testing.assert_allclose(decode_area('rotary', [1], [9], (2, 1, 10)), [0, -1])
    np.testing.assert_allclose(decode_area('rotary_fractional', [1], [0], (4, 1, 5)), [-1, 0])
    np.testing.assert_allclose(decode_area('servo', [0], [9], (1, 1, 10)), [0.0])
    with pytest.raises(ValueError, match='unknown motor kind'):
        decode_area('jet', [0], [0], (1, 1, 1))
    with pytest.raises(ValueError, match='x values'):
        decode_rotary([0, 1], [0], 2, 10)


def test_gaze_decoding():
    # columns 0 and 1 are eccentricity x and y; further columns are other channels
    assert decode_gaze([0, 1, 2], [0, 9, 3], (4, 1, 10)) == (1.0, 0.0, None)
    assert decode_gaze([1, 1], [0, 3], (4, 1, 10)) == (None, pytest.approx(1 - 1.5 / 9), None)
    assert decode_gaze([2, 3], [9, 0], (4, 1, 10)) == (None, None, None)
    assert decode_gaze([0], [0], (1, 1, 10)) == (1.0, None, None)
    assert decode_gaze_modulation([0], [3], (1, 1, 10)) == pytest.approx(1 - 3 / 9)
    assert decode_gaze_modulation([0], [9], (1, 1, 10)) is None  # 0: no crop, ignored
    assert decode_gaze_modulation([], [], (1, 1, 10)) is None


def test_differential_drive():
    limits = DriveLimits(max_wheel_speed_mps=1.0, wheel_separation_m=0.5, max_linear_mps=0.8,
                         max_angular_rps=3.0)
    assert differential_drive(0.5, 0.5, limits) == (0.5, 0.0)
    assert differential_drive(1.0, 1.0, limits) == (0.8, 0.0)  # clamped linear
    linear, angular = differential_drive(-0.5, 0.5, limits)
    assert linear == 0.0 and angular == pytest.approx(2.0)
    assert differential_drive(-1.0, 1.0, limits)[1] == 3.0  # clamped angular
    assert differential_drive(math.nan, 2.0, limits) == (0.5, 2.0)  # NaN -> 0, 2 -> 1
    with pytest.raises(ValueError, match='wheel_separation_m'):
        DriveLimits(wheel_separation_m=0.0)


def test_dead_man_zeroes_after_silence():
    guard = DeadMan(2, timeout_s=0.5)
    assert guard.output(0.0).tolist() == [0.0, 0.0]
    guard.update(1.0, [0.3, -0.7])
    assert guard.output(1.4).tolist() == [0.3, -0.7]
    guard.update(1.4, [0.9, 0.0], fired=[True, False])
    assert guard.output(1.45).tolist() == [0.9, -0.7]  # motor 1 holds its value
    assert guard.output(1.7).tolist() == [0.9, 0.0]  # motor 1 silent since 1.0
    assert guard.output(2.0).tolist() == [0.0, 0.0]
    guard.update(3.0, [0.5, 0.5])
    guard.stop()
    assert guard.output(3.0).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match='timeout'):
        DeadMan(1, -1.0)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_areas_of_legacy_and_v3_essential_genomes_match():
    load_genome = pytest.importorskip('feagi_hailo_ros.brain.genome').load_genome
    legacy = load_genome(str(DATA / 'essential_genome.json')).areas
    v3 = load_genome(str(DATA / 'essential_genome_v3.json')).areas
    vision_l = find_vision_areas(legacy)
    vision_3 = find_vision_areas(v3)
    assert [v.segment for v in vision_l] == list(range(9))
    assert [(v.segment, v.width, v.height, v.depth) for v in vision_l] == \
        [(v.segment, v.width, v.height, v.depth) for v in vision_3]
    assert vision_3[4].area_id == 'aXN2aUkAAAA=' and vision_3[4].width == 128
    assert [(m.area_id, m.kind, m.dims) for m in find_motor_areas(legacy)] == \
        [('omot00', 'legacy', (8, 1, 1))]
    assert [(m.area_id, m.kind) for m in find_motor_areas(v3)] == [('b21vdAUAAAA=', 'rotary')]
    assert find_gaze_area(legacy)[1].id == 'ogaz00'
    assert find_gaze_area(v3)[1].id == 'b2dhegIAAAA='
    assert find_gaze_area(v3, index_in_unit=1) is None
    modulation = SimpleNamespace(id='b2dhehEAAAA=', dims=(1, 1, 10))  # b'ogaz\\x11...'
    assert find_gaze_area(v3 + [modulation], 1)[1] is modulation


def test_vision_groups_and_servo_pick():
    areas = [SimpleNamespace(id=_b64(b'isvi' + bytes([(s << 4) | 9, 0, g, 0])), dims=(2, 2, 1))
             for g in (1, 0) for s in range(9)]
    assert {v.area_index for v in find_vision_areas(areas)} == set(range(9, 18))
    assert {v.area_index for v in find_vision_areas(areas, group=1)} == set(range(9))
    servos = [SimpleNamespace(id=_b64(b'opse' + bytes([(i << 4) | 1, 0, 0, 0])),
                              dims=(3, 1, 10)) for i in range(3)]
    assert [m.kind for m in find_motor_areas(servos)] == ['servo']
    legacy_servo = SimpleNamespace(id='o_spos', dims=(1, 1, 10))  # a `pse`, not decoded
    assert find_motor_areas([legacy_servo]) == []
    with pytest.raises(ValueError, match='dimensions'):
        find_motor_areas([SimpleNamespace(id='omot00', dims=(0, 1, 1))])
