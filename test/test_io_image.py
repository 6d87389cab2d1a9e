"""Tests of io.image: every ROS encoding, padded rows, endianness, compressed images, errors."""

import cv2
from feagi_hailo_ros.io.image import compressed_to_rgb, image_to_rgb, SUPPORTED_ENCODINGS
import numpy as np
import pytest

RNG = np.random.default_rng(11)
H, W = 5, 6


def _rgb(h=H, w=W):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pad(rows: np.ndarray, pad: int) -> bytes:
    """Rows (h, row_bytes) uint8 with `pad` garbage bytes after each row."""
    h = rows.shape[0]
    garbage = np.full((h, pad), 0xAB, np.uint8)
    return np.hstack([rows, garbage]).tobytes()


@pytest.mark.parametrize('pad', [0, 3, 7])
@pytest.mark.parametrize('encoding,order,channels', [
    ('rgb8', [0, 1, 2], 3), ('bgr8', [2, 1, 0], 3), ('8UC3', [2, 1, 0], 3),
    ('rgba8', [0, 1, 2], 4), ('bgra8', [2, 1, 0], 4)])
def test_colour_encodings_with_padded_rows(encoding, order, channels, pad):
    rgb = _rgb()
    src = np.zeros((H, W, channels), np.uint8)
    src[:, :, :3] = rgb[:, :, order]  # the message's channel order
    if channels == 4:
        src[:, :, 3] = 77
    step = W * channels + pad
    out = image_to_rgb(_pad(src.reshape(H, -1), pad), W, H, encoding, step, False)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('encoding', ['mono8', '8UC1'])
def test_mono8_gives_equal_channels(encoding):
    grey = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    out = image_to_rgb(_pad(grey, 2), W, H, encoding, W + 2)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
@pytest.mark.parametrize('big', [False, True])
def test_16bit_endianness_padding_and_scaling(encoding, big):
    values = np.array([[0, 257, 65535, 32768, 1000, 12850]] * H, np.uint16)
    raw = values.astype('>u2' if big else '<u2').view(np.uint8).reshape(H, -1)
    out = image_to_rgb(_pad(raw, 4), W, H, encoding, W * 2 + 4, big)
    expected = np.rint(values / 65535.0 * 255.0).astype(np.uint8)
    np.testing.assert_array_equal(out[:, :, 0], expected)
    np.testing.assert_array_equal(out[:, :, 2], expected)
    # a depth range in millimetres: 0..1000 maps to 0..255, beyond clamps
    ranged = image_to_rgb(_pad(raw, 4), W, H, encoding, W * 2 + 4, big, value_range=(0, 1000))
    assert ranged[0, :, 0].tolist() == [0, 66, 255, 255, 255, 255]


@pytest.mark.parametrize('big', [False, True])
def test_32fc1_range_nan_and_endianness(big):
    values = np.array([[0.0, 0.5, 1.0, 2.0, np.nan, np.inf]] * H, np.float32)
    raw = values.astype('>f4' if big else '<f4').view(np.uint8).reshape(H, -1)
    out = image_to_rgb(_pad(raw, 1), W, H, '32FC1', W * 4 + 1, big)
    assert out[0, :, 1].tolist() == [0, 128, 255, 255, 0, 0]
    metres = image_to_rgb(_pad(raw, 1), W, H, '32FC1', W * 4 + 1, big, value_range=(0.0, 4.0))
    assert metres[0, :, 0].tolist() == [0, 32, 64, 128, 0, 0]


def test_wrong_endianness_flag_changes_16bit_result():
    values = np.full((H, W), 0x0102, np.uint16)
    raw = values.astype('>u2').tobytes()
    right = image_to_rgb(raw, W, H, 'mono16', W * 2, True)
    wrong = image_to_rgb(raw, W, H, 'mono16', W * 2, False)
    assert right[0, 0, 0] == round(0x0102 / 65535 * 255)
    assert wrong[0, 0, 0] == round(0x0201 / 65535 * 255)


def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Bayer mosaic of an RGB image; pattern names the 2x2 cell row by row (ROS naming)."""
    index = {'r': 0, 'g': 1, 'b': 2}
    out = np.zeros(rgb.shape[:2], np.uint8)
    for k, letter in enumerate(pattern):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, index[letter]]
    return out


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
def test_bayer_patterns_recover_a_flat_colour(pattern):
    colour = np.array([200, 90, 30], np.uint8)
    rgb = np.broadcast_to(colour, (8, 10, 3)).copy()
    mosaic = _mosaic(rgb, pattern)
    out = image_to_rgb(_pad(mosaic, 6), 10, 8, f'bayer_{pattern}8', 16)
    # interior pixels of a flat image demosaic to the exact colour
    np.testing.assert_array_equal(out[2:-2, 2:-2], np.broadcast_to(colour, (4, 6, 3)))


def _yuv(r, g, b):
    """BT.601 video-range YUV of an RGB colour (what cameras send and OpenCV reads)."""
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    return y, u, v


@pytest.mark.parametrize('encoding,layout', [('yuv422', 'uyvy'), ('uyvy', 'uyvy'),
                                             ('yuv422_yuy2', 'yuyv'), ('yuyv', 'yuyv')])
def test_yuv422_layouts(encoding, layout):
    colour = (40, 180, 220)
    y, u, v = (int(round(c)) for c in _yuv(*colour))
    pair = [u, y, v, y] if layout == 'uyvy' else [y, u, y, v]
    rows = np.tile(np.array(pair, np.uint8), (H, W // 2))
    out = image_to_rgb(_pad(rows, 2), W, H, encoding, W * 2 + 2)
    assert np.abs(out.astype(int) - np.array(colour)).max() <= 3
    # the two layouts read the same bytes differently
    other = 'yuv422_yuy2' if layout == 'uyvy' else 'yuv422'
    assert np.abs(image_to_rgb(_pad(rows, 2), W, H, other, W * 2 + 2).astype(int)
                  - np.array(colour)).max() > 20


def test_unpadded_last_row_is_accepted_and_memoryview_works():
    rgb = _rgb()
    data = _pad(rgb.reshape(H, -1), 5)[:-5]  # the last row's padding is missing
    out = image_to_rgb(memoryview(data), W, H, 'rgb8', W * 3 + 5)
    np.testing.assert_array_equal(out, rgb)


def test_rclpy_array_buffer():
    import array
    rgb = _rgb()
    data = array.array('B', _pad(rgb.reshape(H, -1), 2))  # what rclpy gives for uint8[]
    np.testing.assert_array_equal(image_to_rgb(data, W, H, 'rgb8', W * 3 + 2), rgb)
    np.testing.assert_array_equal(image_to_rgb(data, W, H, 'bgr8', W * 3 + 2), rgb[:, :, ::-1])


def test_output_is_a_copy():
    buf = bytearray(_rgb().tobytes())
    out = image_to_rgb(buf, W, H, 'rgb8', W * 3)
    before = out.copy()
    buf[:] = bytes(len(buf))
    np.testing.assert_array_equal(out, before)


def test_unknown_encoding_names_it_and_the_supported_list():
    with pytest.raises(ValueError) as info:
        image_to_rgb(b'\0' * 90, W, H, 'hsv8', W * 3)
    assert "'hsv8'" in str(info.value) and 'rgb8' in str(info.value)
    assert all(enc in str(info.value) for enc in SUPPORTED_ENCODINGS)


@pytest.mark.parametrize('data,width,height,step,words', [
    (b'', W, H, W * 3, 'needs'),                     # empty data
    (b'\0' * (W * 3 * H - 1), W, H, W * 3, 'truncated'),
    (b'\0' * 200, W, H, W * 3 - 1, 'smaller than one row'),
    (b'\0' * 200, 0, H, 0, 'empty'),
])
def test_bad_buffers(data, width, height, step, words):
    with pytest.raises(ValueError, match=words):
        image_to_rgb(data, width, height, 'rgb8', step)


def test_odd_yuv_width_and_tiny_bayer_are_refused():
    with pytest.raises(ValueError, match='even width'):
        image_to_rgb(b'\0' * 60, 5, 3, 'yuv422', 10)
    with pytest.raises(ValueError, match='2x2'):
        image_to_rgb(b'\0' * 4, 4, 1, 'bayer_rggb8', 4)


def test_bad_value_range():
    with pytest.raises(ValueError, match='upper bound'):
        image_to_rgb(b'\0' * 60, W, H, 'mono16', W * 2, value_range=(5, 5))


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_compressed_round_trip(ext):
    yy, xx = np.mgrid[0:24, 0:32]
    rgb = np.stack([xx * 8, yy * 10, np.full_like(xx, 128)], -1).astype(np.uint8)
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    out = compressed_to_rgb(encoded.tobytes(), ext[1:].replace('jpg', 'jpeg'))
    assert out.shape == rgb.shape
    tolerance = 0 if ext == '.png' else 12
    assert np.abs(out.astype(int) - rgb).max() <= tolerance


def test_compressed_garbage_and_empty_and_depth():
    with pytest.raises(ValueError, match='not a jpeg or png'):
        compressed_to_rgb(b'this is not an image at all', 'jpeg')
    with pytest.raises(ValueError, match='no data'):
        compressed_to_rgb(b'', 'png')
    with pytest.raises(ValueError, match='compressedDepth'):
        compressed_to_rgb(b'\x89PNG', '16UC1; compressedDepth png')
