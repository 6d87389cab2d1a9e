"""Tests of io.vision against hand-computed NEURON_MODEL §7a expectations (no FEAGI library)."""

import base64
from types import SimpleNamespace

from feagi_hailo_ros.io.areas import find_vision_areas
from feagi_hailo_ros.io.vision import (crop_edges, CropEdges, Gaze, nearest_indices,
                                       round_half_away, SegmentedVisionEncoder)
import numpy as np
import pytest


def legacy_areas(centre=(2, 2, 3), peripheral=(1, 1, 1), extra=()):
    """Nine legacy vision areas plus a few others (so area indices differ from segments)."""
    areas = [SimpleNamespace(id='_power', dims=(1, 1, 1))]
    for s in range(9):
        areas.append(SimpleNamespace(id=f'iic{s}00', dims=centre if s == 4 else peripheral))
    areas.extend(extra)
    return areas


def as_dict(inj):
    """{area_id: {(x, y, z): p}} of injections."""
    out = {}
    for area_id, x, y, z, p in inj.by_area():
        out[area_id] = {(int(a), int(b), int(c)): float(v) for a, b, c, v in zip(x, y, z, p)}
    return out


def test_crop_default_gaze_on_vga():
    assert crop_edges(640, 480, (128, 128), Gaze()) == CropEdges(160, 480, 120, 360)


def test_crop_tall_centre_gets_wide_crop_and_ey_points_up():
    # cw=10 < ch=14: fw = m, fh = m*10/14 (FEAGI's rule); v_y = 1 - ey
    edges = crop_edges(67, 53, (10, 14), Gaze(0.3, 0.8, 0.6))
    assert edges == CropEdges(left=8, right=48, top=6, bottom=28)
    low = crop_edges(67, 53, (10, 14), Gaze(0.3, 0.2, 0.6))
    assert low.top > edges.top  # a lower gaze moves the crop down the image


def test_crop_edges_are_clamped_to_leave_one_pixel_bands():
    edges = crop_edges(100, 50, (8, 8), Gaze(0.0, 1.0, 1.0))
    assert (edges.left, edges.top) == (1, 1)
    edges = crop_edges(100, 50, (8, 8), Gaze(1.0, 0.0, 1.0))
    assert (edges.right, edges.bottom) == (99, 49)


def test_zero_pixel_crop_is_refused_clearly():
    with pytest.raises(ValueError, match='zero pixels'):
        crop_edges(2, 50, (8, 8), Gaze())
    encoder = SegmentedVisionEncoder(legacy_areas())
    with pytest.raises(ValueError, match='zero pixels'):
        encoder.encode(np.zeros((40, 2, 3), np.uint8))


def test_nearest_neighbour_index_rule_is_float32():
    assert nearest_indices(292, 72)[54] == 218  # float64 would give 219
    assert nearest_indices(6, 2).tolist() == [0, 3]
    assert nearest_indices(3, 5).tolist() == [0, 0, 1, 1, 2]


def test_round_half_away_is_exact():
    values = np.array([0.49999997, 0.5, 1.5, 2.4999998, 254.5], np.float32)
    assert round_half_away(values).tolist() == [0.0, 1.0, 2.0, 2.0, 255.0]


def _tiny_frame():
    """12x9 frame; with a 2x2 centre the crop is columns 3..9, rows 2..6 (hand-computed)."""
    frame = np.zeros((9, 12, 3), np.uint8)
    frame[2, 3] = (10, 1, 2)      # centre neuron (0, 1)
    frame[4, 3] = (0, 200, 0)     # centre neuron (0, 0)
    frame[2, 6] = (7, 8, 9)       # centre neuron (1, 1)
    frame[4, 6] = (255, 255, 255)  # centre neuron (1, 0)
    frame[6, 0] = (10, 0, 0)      # segment 0 bottom-left: lum 2.99 -> 3
    frame[6, 3] = (100, 50, 25)   # segment 1 bottom-middle: 62.1 -> 62
    frame[6, 9] = (0, 0, 22)      # segment 2 bottom-right: 2.508 -> 3
    frame[2, 0] = (5, 0, 0)       # segment 3: 1.495 -> 1, never sent
    frame[2, 9] = (2, 1, 0)       # segment 5: 1.185 -> 1, never sent
    frame[0, 0] = (0, 0, 255)     # segment 6 top-left: 29.07 -> 29
    frame[0, 3] = (30, 30, 30)    # segment 7 top-middle: 30
    frame[0, 9] = (255, 255, 255)  # segment 8 top-right: 255
    return frame


def test_hand_computed_absolute_frame():
    encoder = SegmentedVisionEncoder(legacy_areas())
    got = as_dict(encoder.encode(_tiny_frame()))
    assert encoder.crop == CropEdges(3, 9, 2, 6)
    assert got == {
        'iic000': {(0, 0, 0): 3.0},
        'iic100': {(0, 0, 0): 62.0},
        'iic200': {(0, 0, 0): 3.0},
        'iic400': {(0, 1, 0): 10.0, (0, 1, 2): 2.0, (0, 0, 1): 200.0, (1, 1, 0): 7.0,
                   (1, 1, 1): 8.0, (1, 1, 2): 9.0, (1, 0, 0): 255.0, (1, 0, 1): 255.0,
                   (1, 0, 2): 255.0},
        'iic600': {(0, 0, 0): 29.0},
        'iic700': {(0, 0, 0): 30.0},
        'iic800': {(0, 0, 0): 255.0},
    }


def test_output_sorted_with_dtypes_and_area_indices():
    areas = legacy_areas(centre=(5, 4, 3), peripheral=(3, 2, 1))
    frame = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    inj = SegmentedVisionEncoder(areas).encode(frame)
    keys = np.stack([inj.area_index, inj.x, inj.y, inj.z])
    assert np.all(np.diff(np.lexsort(keys[::-1])) == 1)  # already in lexicographic order
    assert inj.p.dtype == np.float32 and inj.x.dtype == np.int32
    assert {inj.area_ids[i] for i in np.unique(inj.area_index)} <= {a.id for a in areas}
    assert inj.p.min() >= 2 and inj.p.max() <= 255
    assert inj.z[np.array([inj.area_ids[i] != 'iic400' for i in inj.area_index])].max() == 0


def test_change_detection_per_channel_and_range():
    encoder = SegmentedVisionEncoder(legacy_areas())
    frame = _tiny_frame()
    encoder.encode(frame)
    assert len(encoder.encode(frame)) == 0  # nothing changed
    moved = frame.copy()
    moved[2, 3, 0] = 15      # centre (0, 1) red 10 -> 15: only z = 0 is sent
    moved[6, 3] = (100, 50, 60)  # bottom-middle: only blue changed -> lum of (0, 0, 60)
    got = as_dict(encoder.encode(moved))
    assert got == {'iic400': {(0, 1, 0): 15.0}, 'iic100': {(0, 0, 0): 7.0}}
    narrow = SegmentedVisionEncoder(legacy_areas(), change_range=(6, 255))
    narrow.encode(frame)
    assert as_dict(narrow.encode(moved)) == {'iic100': {(0, 0, 0): 7.0}}  # |5| < 6
    narrow.set_change_range((0, 255))  # 0 keeps unchanged values too
    assert len(narrow.encode(moved)) == len(SegmentedVisionEncoder(legacy_areas())
                                            .encode(moved))


def test_reset_and_frame_size_change_compare_with_black():
    encoder = SegmentedVisionEncoder(legacy_areas())
    frame = _tiny_frame()
    absolute = as_dict(encoder.encode(frame))
    encoder.reset()
    assert as_dict(encoder.encode(frame)) == absolute
    bigger = np.zeros((18, 24, 3), np.uint8)
    bigger[::2, ::2] = frame
    fresh = as_dict(SegmentedVisionEncoder(legacy_areas()).encode(bigger))
    assert as_dict(encoder.encode(bigger)) == fresh and fresh


def test_gaze_moves_the_crop_at_run_time():
    encoder = SegmentedVisionEncoder(legacy_areas(centre=(4, 4, 3)))
    frame = np.random.default_rng(5).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    encoder.encode(frame)
    first = encoder.crop
    encoder.set_gaze(Gaze(0.9, 0.9, 0.3))
    # same frame: change detection is per pixel, so nothing changed and nothing is sent
    assert len(encoder.encode(frame)) == 0
    assert encoder.crop == crop_edges(60, 40, (4, 4), Gaze(0.9, 0.9, 0.3)) != first
    with pytest.raises(ValueError, match='outside'):
        encoder.set_gaze(Gaze(1.2, 0.5, 0.5))
    tiny = SegmentedVisionEncoder(legacy_areas())
    tiny.encode(np.zeros((9, 12, 3), np.uint8))
    with pytest.raises(ValueError, match='zero pixels'):
        tiny.set_gaze(Gaze(0.5, 0.5, 0.01))  # known frame size: refused now, gaze kept
    assert tiny.gaze == Gaze()
    with pytest.raises(ValueError, match='modulation'):
        encoder.set_gaze(Gaze(0.5, 0.5, 0.0))


def test_bad_areas_and_frames():
    with pytest.raises(ValueError, match='no segmented-vision'):
        SegmentedVisionEncoder([SimpleNamespace(id='omot00', dims=(8, 1, 1))])
    no_centre = [a for a in legacy_areas() if a.id != 'iic400']
    with pytest.raises(ValueError, match='centre'):
        SegmentedVisionEncoder(no_centre)
    mixed = legacy_areas()
    mixed[1] = SimpleNamespace(id='iic000', dims=(1, 1, 3))
    with pytest.raises(ValueError, match='share one depth'):
        SegmentedVisionEncoder(mixed)
    with pytest.raises(ValueError, match='depth 1'):
        SegmentedVisionEncoder(legacy_areas(centre=(2, 2, 2)))
    with pytest.raises(ValueError, match='both vision segment 4'):
        find_vision_areas(legacy_areas(extra=[SimpleNamespace(
            id=base64.b64encode(b'isviI\0\0\0').decode(), dims=(2, 2, 3))]))
    encoder = SegmentedVisionEncoder(legacy_areas())
    with pytest.raises(ValueError, match='uint8 HxWx3'):
        encoder.encode(np.zeros((9, 12), np.uint8))
    with pytest.raises(ValueError, match='uint8 HxWx3'):
        encoder.encode(np.zeros((9, 12, 3), np.float32))
    with pytest.raises(ValueError, match='change range'):
        SegmentedVisionEncoder(legacy_areas(), change_range=(10, 5))


def test_missing_peripheral_segments_are_skipped():
    areas = [a for a in legacy_areas() if a.id in ('iic400', 'iic700')]
    got = as_dict(SegmentedVisionEncoder(areas).encode(_tiny_frame()))
    assert set(got) == {'iic400', 'iic700'}


def test_output_sorted_for_a_shuffled_area_list():
    areas = legacy_areas(centre=(5, 4, 3), peripheral=(3, 2, 1))
    shuffled = [areas[i] for i in np.random.default_rng(8).permutation(len(areas))]
    frame = np.random.default_rng(4).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    inj = SegmentedVisionEncoder(shuffled).encode(frame)
    keys = np.stack([inj.area_index, inj.x, inj.y, inj.z])
    assert np.all(np.diff(np.lexsort(keys[::-1])) == 1)
    assert as_dict(inj) == as_dict(SegmentedVisionEncoder(areas).encode(frame))
