"""Convert ROS image buffers (sensor_msgs/Image fields, CompressedImage) to RGB arrays.

Rows may be padded: row r starts at byte r*step and only its first width*bytes_per_pixel
bytes are pixels (never assume step == width*bpp). Multi-byte pixels follow is_bigendian.
Non-8-bit encodings are mapped to 0..255 with a fixed range so that the same scene gives the
same values frame after frame (per-frame min/max would flicker and defeat change detection):
- mono16, 16UC1: value_range (default 0..65535) mapped linearly to 0..255, clamped;
  for a depth camera in millimetres pass e.g. (0, 5000).
- 32FC1: value_range (default 0.0..1.0) mapped linearly to 0..255, clamped; NaN and inf
  (no reading) become 0. For depth in metres pass e.g. (0.0, 5.0).
YUV 4:2:2 (yuv422 = UYVY, yuv422_yuy2 = YUYV) is read as BT.601 video range (OpenCV's
conversion, what V4L2 cameras send). Grey encodings give R = G = B. 8UC3 is read as BGR
(OpenCV's convention), 8UC1 as mono8.
"""

import array
from typing import Dict, Optional, Tuple, Union

import cv2
import numpy as np

Buffer = Union[bytes, bytearray, memoryview, array.array, np.ndarray]  # rclpy: array('B')

# encoding -> (bytes per pixel, kind)
_ENCODINGS: Dict[str, Tuple[int, str]] = {
    'rgb8': (3, 'rgb'), 'bgr8': (3, 'bgr'), 'rgba8': (4, 'rgba'), 'bgra8': (4, 'bgra'),
    '8UC3': (3, 'bgr'), 'mono8': (1, 'mono8'), '8UC1': (1, 'mono8'),
    'mono16': (2, 'u16'), '16UC1': (2, 'u16'), '32FC1': (4, 'f32'),
    'bayer_rggb8': (1, 'bayer'), 'bayer_bggr8': (1, 'bayer'),
    'bayer_gbrg8': (1, 'bayer'), 'bayer_grbg8': (1, 'bayer'),
    'yuv422': (2, 'uyvy'), 'uyvy': (2, 'uyvy'),
    'yuv422_yuy2': (2, 'yuyv'), 'yuyv': (2, 'yuyv'),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)

# ROS names the 2x2 pattern from the top-left pixel; OpenCV from the second row's pixels.
_BAYER_CODES = {
    'bayer_rggb8': cv2.COLOR_BayerBG2RGB, 'bayer_bggr8': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg8': cv2.COLOR_BayerGR2RGB, 'bayer_grbg8': cv2.COLOR_BayerGB2RGB,
}
_COLOUR_CODES = {'bgr': cv2.COLOR_BGR2RGB, 'rgba': cv2.COLOR_RGBA2RGB,
                 'bgra': cv2.COLOR_BGRA2RGB, 'mono8': cv2.COLOR_GRAY2RGB}
_DEFAULT_RANGES = {'u16': (0.0, 65535.0), 'f32': (0.0, 1.0)}


def _byte_view(data: Buffer) -> np.ndarray:
    """View a message buffer (bytes, array('B'), ndarray...) as flat uint8, without a copy."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _rows(data: Buffer, width: int, height: int, bpp: int, step: int,
          encoding: str) -> np.ndarray:
    """View the buffer as height rows of width*bpp bytes, honouring the row step."""
    if width <= 0 or height <= 0:
        raise ValueError(f'image ({encoding}): size {width}x{height} is empty; '
                         f'width and height must be >= 1')
    buf = _byte_view(data)
    row_bytes = width * bpp
    if step < row_bytes:
        raise ValueError(f'image ({encoding}, {width}x{height}): step {step} is smaller than '
                         f"one row ({width} px * {bpp} B = {row_bytes} B); fix the publisher's "
                         f'step')
    needed = step * (height - 1) + row_bytes
    if buf.size < needed:
        raise ValueError(f'image ({encoding}, {width}x{height}, step {step}): data holds '
                         f'{buf.size} B but needs {needed} B (truncated message?)')
    return np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1),
                                           writeable=False)


def _to_u8(values: np.ndarray, value_range: Tuple[float, float]) -> np.ndarray:
    """Map values linearly from value_range to 0..255 (clamped, rounded; NaN/inf -> 0)."""
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f'value_range {value_range}: the upper bound must exceed the lower')
    with np.errstate(invalid='ignore', over='ignore'):   # NaN and inf become 0 below
        scaled = (values.astype(np.float64) - lo) * (255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def image_to_rgb(data: Buffer, width: int, height: int, encoding: str, step: int,
                 is_bigendian: bool = False,
                 value_range: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """Convert one sensor_msgs/Image buffer to a new uint8 HxWx3 RGB array.

    `value_range` sets the 0..255 mapping of mono16/16UC1/32FC1 (see the module docstring).
    Raises ValueError naming the problem for unknown encodings, empty or truncated data, a
    step smaller than a row, or sizes the encoding cannot have (odd YUV widths).
    """
    if encoding not in _ENCODINGS:
        raise ValueError(f'image encoding {encoding!r} is not supported; supported: '
                         f'{", ".join(SUPPORTED_ENCODINGS)}')
    bpp, kind = _ENCODINGS[encoding]
    width, height, step = int(width), int(height), int(step)
    rows = _rows(data, width, height, bpp, step, encoding)
    if kind == 'rgb':
        return np.array(rows.reshape(height, width, 3))
    if kind in _COLOUR_CODES:  # OpenCV reads the padded rows in place (no extra copy)
        pixels = rows.reshape(height, width, bpp) if bpp > 1 else rows
        return cv2.cvtColor(pixels, _COLOUR_CODES[kind])
    if kind in ('u16', 'f32'):
        dtype = np.dtype('>u2' if kind == 'u16' else '>f4') if is_bigendian \
            else np.dtype('<u2' if kind == 'u16' else '<f4')
        values = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
        grey = _to_u8(values, value_range or _DEFAULT_RANGES[kind])
        return np.repeat(grey[:, :, None], 3, axis=2)
    if kind == 'bayer':
        if width < 2 or height < 2:
            raise ValueError(f'image ({encoding}): a Bayer image needs at least 2x2 pixels, '
                             f'not {width}x{height}')
        return cv2.cvtColor(np.ascontiguousarray(rows), _BAYER_CODES[encoding])
    if width % 2:
        raise ValueError(f'image ({encoding}): YUV 4:2:2 needs an even width, not {width}')
    packed = np.ascontiguousarray(rows).reshape(height, width, 2)
    code = cv2.COLOR_YUV2RGB_UYVY if kind == 'uyvy' else cv2.COLOR_YUV2RGB_YUYV
    return cv2.cvtColor(packed, code)


to_rgb = image_to_rgb  # the name docs/ARCHITECTURE.md uses


def compressed_to_rgb(data: Buffer, fmt: str = '') -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png) to a uint8 HxWx3 RGB array."""
    described = (fmt if fmt.isprintable() and len(fmt) <= 40 else repr(fmt[:40])) \
        or 'unspecified format'     # the publisher's text, kept to one short line
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise ValueError(f'compressed image ({described}): compressedDepth is not supported; '
                         f'subscribe to the raw depth image instead')
    buf = _byte_view(data)
    if buf.size == 0:
        raise ValueError(f'compressed image ({described}): no data')
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ValueError(f'compressed image ({described}): cannot decode: {exc}') from None
    if bgr is None:
        raise ValueError(f'compressed image ({described}): {buf.size} B are not a jpeg or png '
                         f'image OpenCV can decode')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
