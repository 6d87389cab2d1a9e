"""Tests of `feagi-hailo encode` (cli/encode.py) on the fixture genomes and test images."""

import json
from pathlib import Path

from feagi_hailo_ros.cli.main import main
from feagi_hailo_ros.io.vision import Gaze, SegmentedVisionEncoder
import numpy as np
import pytest

DATA = Path(__file__).parent / 'data'
SCENE_A = str(DATA / 'io' / 'scene_a.png')
SCENE_B = str(DATA / 'io' / 'scene_b.png')
pytest.importorskip('feagi_hailo_ros.brain.genome')


def _run(capsys, *argv):
    code = main(['encode', *argv])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def test_encode_prints_sorted_json_lines(capsys):
    code, rows, _ = _run(capsys, '--genome', str(DATA / 'essential_genome.json'), SCENE_B)
    assert code == 0 and rows
    keys = [(r['area'], r['x'], r['y'], r['z']) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {r['area'] for r in rows} <= {f'iic{s}00' for s in range(9)}
    assert all(2 <= r['p'] <= 255 for r in rows)
    assert {r['z'] for r in rows if r['area'] != 'iic400'} == {0, 1, 2}  # colour periphery


def test_encode_equals_the_encoder_and_legacy_equals_v3(capsys):
    import cv2

    from feagi_hailo_ros.brain.genome import load_genome
    _, legacy, _ = _run(capsys, '--genome', str(DATA / 'essential_genome.json'), SCENE_B,
                        '--gaze', '0.3', '0.6', '0.4')
    _, v3, _ = _run(capsys, '--genome', str(DATA / 'essential_genome_v3.json'), SCENE_B,
                    '--gaze', '0.3', '0.6', '0.4')
    image = cv2.cvtColor(cv2.imread(SCENE_B), cv2.COLOR_BGR2RGB)
    areas = load_genome(str(DATA / 'essential_genome.json')).areas
    inj = SegmentedVisionEncoder(areas, Gaze(0.3, 0.6, 0.4)).encode(image)
    assert len(legacy) == len(inj)
    assert sorted((r['area'], r['x'], r['y'], r['z'], r['p']) for r in legacy) == sorted(
        (inj.area_ids[a], int(x), int(y), int(z), float(p))
        for a, x, y, z, p in zip(inj.area_index, inj.x, inj.y, inj.z, inj.p))

    def by_segment(rows, segment_of):
        return sorted((segment_of(r['area']), r['x'], r['y'], r['z'], r['p']) for r in rows)
    import base64
    assert by_segment(legacy, lambda a: int(a[3])) == \
        by_segment(v3, lambda a: base64.b64decode(a)[4] >> 4)


def test_previous_frame_and_change_range(capsys):
    genome = str(DATA / 'essential_genome.json')
    _, same, _ = _run(capsys, '--genome', genome, SCENE_A, '--previous', SCENE_A)
    assert same == []
    _, absolute, _ = _run(capsys, '--genome', genome, SCENE_B)
    _, changed, _ = _run(capsys, '--genome', genome, SCENE_B, '--previous', SCENE_A)
    assert 0 < len(changed) < len(absolute)
    _, narrow, _ = _run(capsys, '--genome', genome, SCENE_B, '--previous', SCENE_A,
                        '--change-range', '100', '255', '--burst', '3')
    assert 0 < len(narrow) < len(changed) and all(r['burst'] == 3 for r in narrow)


def test_errors_exit_1_with_a_message(capsys, tmp_path):
    genome = str(DATA / 'essential_genome.json')
    code, _, err = _run(capsys, '--genome', genome, str(tmp_path / 'missing.png'))
    assert code == 1 and 'no such image file' in err
    garbage = tmp_path / 'garbage.png'
    garbage.write_bytes(b'not an image')
    code, _, err = _run(capsys, '--genome', genome, str(garbage))
    assert code == 1 and 'cannot read it as an image' in err
    code, _, err = _run(capsys, '--genome', str(DATA / 'barebones_genome.json'), SCENE_A)
    assert code == 1 and 'no segmented-vision areas' in err
    code, _, err = _run(capsys, '--genome', genome, SCENE_A, '--gaze', '2', '0.5', '0.5')
    assert code == 1 and 'outside 0..1' in err


def test_encode_small_odd_image(capsys, tmp_path):
    import cv2
    image = np.random.default_rng(9).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    path = tmp_path / 'odd.png'
    cv2.imwrite(str(path), image)
    code, rows, _ = _run(capsys, '--genome', str(DATA / 'vision_genome.json'), str(path))
    assert code == 0
    grey = [r for r in rows if r['area'] != 'iic400']
    assert grey and {r['z'] for r in grey} == {0}  # vision_genome periphery is grey
    assert max(r['x'] for r in rows if r['area'] == 'iic400') <= 255
