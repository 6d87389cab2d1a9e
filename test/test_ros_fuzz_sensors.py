"""Fuzzing the sensor boundary: messages with random fields never stop the bursts.

Property-based (hypothesis), derandomized and bounded. sensor_msgs messages with random
sizes, steps, encodings, NaN and infinities, empty and large data, and compressed images that
are not images go through SensorInbox.feed into a real BrainRuntime: a consistent message is
encoded without a warning, a bad one is reported once through warn(topic, one line naming
the topic and the reason), nothing else escapes, and the brain bursts after every message.
The last test sends such messages to a running node over DDS: it counts them as bad inputs
and keeps bursting.
"""

import json
import math
from pathlib import Path
import time

import cv2
from feagi_hailo_ros.io.image import SUPPORTED_ENCODINGS
from feagi_hailo_ros.ros.node import FeagiHailoNode
from feagi_hailo_ros.ros.sensor_inbox import SensorInbox
from feagi_hailo_ros.runtime.loading import build_runtime
from feagi_hailo_ros.runtime.settings import defaults
from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import make_executor, spin_until
from sensor_msgs.msg import CompressedImage, Image, Imu, JointState, LaserScan, Range

# a numpy warning per odd frame would flood a robot's log: each is a failure here
pytestmark = [pytest.mark.ros, pytest.mark.filterwarnings('error::RuntimeWarning')]

DATA_DIR = Path(__file__).resolve().parent / 'data'
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
BYTES_PER_PIXEL = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, '8UC3': 3, 'mono8': 1,
                   '8UC1': 1, 'mono16': 2, '16UC1': 2, '32FC1': 4, 'bayer_rggb8': 1,
                   'bayer_bggr8': 1, 'bayer_gbrg8': 1, 'bayer_grbg8': 1, 'yuv422': 2,
                   'uyvy': 2, 'yuv422_yuy2': 2, 'yuyv': 2}
TOPICS = {'raw': 'image_raw', 'compressed': 'image_raw/compressed', 'imu': 'imu',
          'proximity': 'proximity', 'range': 'range', 'joints': 'joints'}
FLOATS = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1e-300, math.nan,
                                    math.inf, -math.inf, 9.81, 4.0, 0.05]),
                   st.floats(allow_nan=True, allow_infinity=True))
FLOATS32 = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 3.0e38, -3.0e38, math.nan, math.inf,
                                      -math.inf, 0.05, 4.0, 100.0]),
                     st.floats(width=32, allow_nan=True, allow_infinity=True))


def _area_genes(area_id, dims, position):
    genes = {'___bbx-i': dims[0], '___bby-i': dims[1], '___bbz-i': dims[2],
             'rcordx-i': position[0], 'rcordy-i': position[1], 'rcordz-i': position[2],
             '_n_cnt-i': 1, 'dstmap-d': {}, '__name-t': area_id}
    return {f'_____10c-{area_id}-cx-{gene}': value for gene, value in genes.items()}


@pytest.fixture(scope='module')
def genome_path(tmp_path_factory):
    """The essential genome (vision, motors) with IMU, proximity and servo-position inputs."""
    genome = json.loads((DATA_DIR / 'essential_genome.json').read_text(encoding='utf-8'))
    for area_id, dims, position in (('i__imu', (12, 1, 10), (200, 0, 0)),
                                    ('i__pro', (4, 1, 10), (220, 0, 0)),
                                    ('i_spos', (2, 1, 10), (230, 0, 0))):
        genome['blueprint'].update(_area_genes(area_id, dims, position))
    path = tmp_path_factory.mktemp('genome') / 'sensor_genome.json'
    path.write_text(json.dumps(genome))
    return str(path)


class Harness:
    """A BrainRuntime on the genome and a SensorInbox whose warnings are recorded."""

    def __init__(self, genome_path):
        self.settings = dict(defaults(), genome=genome_path, device='cpu')
        self.runtime = build_runtime(self.settings)
        assert self.runtime.inputs == {'vision', 'imu', 'proximity', 'joints'}
        self.warnings = []
        self.inbox = SensorInbox(lambda source, text: self.warnings.append((source, text)))

    def __repr__(self) -> str:
        return '<runtime and inbox>'

    def feed(self, kind, msg):
        """Store one message, feed it into the brain, burst; return the warnings it made."""
        self.warnings.clear()
        if kind in ('raw', 'compressed'):
            self.inbox.frame_store(kind)(msg)
        else:
            self.inbox.scalar_store(kind)(msg)
        self.inbox.feed(self.runtime, self.settings, time.monotonic())
        self.inbox.clear()
        fired = self.runtime.burst()
        n = self.runtime.connectome.n_neurons
        assert fired.size == 0 or 0 <= int(fired.min()) <= int(fired.max()) < n
        for source, text in self.warnings:
            topic = TOPICS[kind]
            assert source == kind or source == topic, (source, kind)
            assert '\n' not in text and 'Traceback' not in text, text
            assert text.startswith(f'{topic} '), text
            reason = text.split(': ', 1)[-1]
            assert len(reason) >= 8 and len(text) < 1000, text
        return list(self.warnings)


@pytest.fixture(scope='module')
def harness(genome_path):
    made = Harness(genome_path)
    try:
        yield made
    finally:
        made.runtime.close()


# ---------------------------------------------------------------------------- raw images
def image_is_valid(encoding, width, height, step, size) -> bool:
    """What image_to_rgb must accept (the oracle of the raw-image fuzz)."""
    bpp = BYTES_PER_PIXEL.get(encoding)
    if bpp is None or width < 1 or height < 1 or step < width * bpp:
        return False
    if size < step * (height - 1) + width * bpp:
        return False
    if encoding.startswith('bayer') and (width < 2 or height < 2):
        return False
    return not (encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv') and width % 2)


@st.composite
def raw_images(draw):
    """Images whose fields are consistent, slightly off, or absurd."""
    if draw(st.booleans(), label='consistent fields'):
        encoding = draw(st.sampled_from(SUPPORTED_ENCODINGS), label='encoding')
        bpp = BYTES_PER_PIXEL[encoding]
        width = draw(st.integers(1, 96), label='width')
        height = draw(st.integers(1, 96), label='height')
        step = width * bpp + draw(st.sampled_from([0, 0, 1, 3, 64]), label='padding')
        needed = step * (height - 1) + width * bpp
        size = needed + draw(st.sampled_from([0, 0, 0, 1, step]), label='extra bytes')
    else:
        encoding = draw(st.one_of(st.sampled_from(SUPPORTED_ENCODINGS),
                                  st.sampled_from(['', 'RGB8', 'rgb16', 'jpeg', 'mono8 ']),
                                  st.text(max_size=8)), label='encoding')
        bpp = BYTES_PER_PIXEL.get(encoding, 3)
        width = draw(st.one_of(st.integers(0, 96), st.sampled_from(
            [0, 1, 2, 3, 639, 640, 2**31, 2**32 - 1])), label='width')
        height = draw(st.one_of(st.integers(0, 96), st.sampled_from(
            [0, 1, 2, 480, 2**32 - 1])), label='height')
        step = draw(st.one_of(st.just(width * bpp), st.integers(0, 400), st.sampled_from(
            [0, width * bpp + 3, width * bpp - 1, 2**32 - 1])), label='step')
        step = min(max(step, 0), 2**32 - 1)
        needed = step * max(height - 1, 0) + width * bpp
        size = draw(st.one_of(st.just(needed), st.integers(0, 4096), st.sampled_from(
            [0, needed - 1, needed + 5])), label='data size')
        size = max(size, 0)
    size = min(size, 1 << 21)
    fill = draw(st.sampled_from(['random', 'zeros', 'ff', 'nan32']), label='fill')
    if fill == 'random':
        data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    elif fill == 'nan32':
        data = (np.full(size // 4 + 1, np.nan, '<f4').tobytes() + b'\xff')[:size]
    else:
        data = (b'\x00' if fill == 'zeros' else b'\xff') * size
    bigendian = draw(st.integers(0, 1), label='is_bigendian')
    msg = Image(encoding=encoding, width=width, height=height, step=step,
                is_bigendian=bigendian, data=data)
    return msg, image_is_valid(encoding, width, height, step, size)


@FUZZ
@given(case=raw_images())
def test_raw_images_with_random_fields_encode_or_warn_once(harness, case):
    msg, valid = case
    warnings = harness.feed('raw', msg)
    if valid and min(msg.width, msg.height) < 8:     # the gaze may crop nothing of it
        assert len(warnings) <= 1 and all('centre crop' in w[1] for w in warnings), warnings
    else:
        assert len(warnings) == (0 if valid else 1), (valid, warnings)
    event('encoded' if not warnings else 'warned')


def test_a_large_frame_and_huge_padding_are_encoded(harness):
    frame = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    assert harness.feed('raw', Image(encoding='rgb8', width=1920, height=1080, step=1920 * 3,
                                     data=frame.tobytes())) == []
    big = bytes(8 << 20)     # 8 MiB of data behind a small image: the extra bytes are unused
    assert harness.feed('raw', Image(encoding='mono8', width=8, height=8, step=8,
                                     data=big)) == []
    assert len(harness.feed('raw', Image(encoding='rgb8', width=2**32 - 1, height=2**32 - 1,
                                         step=2**32 - 1, data=big))) == 1


# ---------------------------------------------------------------------------- compressed
def _encoded(ext, shape, seed=0):
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


REAL = {'jpeg': _encoded('.jpg', (24, 32, 3)), 'png': _encoded('.png', (24, 32, 3)),
        'png grey': _encoded('.png', (5, 7)), 'png rgba': _encoded('.png', (6, 4, 4)),
        'png 16-bit': cv2.imencode('.png', np.full((4, 4), 40000, np.uint16))[1].tobytes(),
        'jpeg 1x1': _encoded('.jpg', (1, 1, 3))}


def _png_claiming(width, height) -> bytes:
    """A PNG whose header claims width x height but holds no pixel data."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack(
            '>I', zlib.crc32(kind + body) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8,
                                                              2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + chunk(b'IEND', b''))


@st.composite
def compressed_images(draw):
    """Real jpeg/png, truncated or damaged ones, non-images and empty data, odd formats."""
    fmt = draw(st.one_of(st.sampled_from(['jpeg', 'png', '', 'rgb8; jpeg compressed bgr8',
                                          '16UC1; compressedDepth', 'tiff']),
                         st.text(max_size=12)), label='format')
    what = draw(st.sampled_from(['real', 'truncated', 'damaged', 'random', 'empty', 'text',
                                 'huge header']), label='data')
    if what in ('real', 'truncated', 'damaged'):
        data = REAL[draw(st.sampled_from(sorted(REAL)), label='image')]
        if what == 'truncated':
            data = data[:draw(st.integers(0, len(data) - 1), label='cut at')]
        elif what == 'damaged':
            data = bytearray(data)
            for _ in range(draw(st.integers(1, 8), label='damaged bytes')):
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            data = bytes(data)
    elif what == 'random':
        data = draw(st.binary(max_size=512))
    elif what == 'empty':
        data = b''
    elif what == 'text':
        data = draw(st.text(max_size=64)).encode('utf-8', 'surrogatepass')
    else:
        data = _png_claiming(draw(st.sampled_from([1, 20000, 2**31 - 1])),
                             draw(st.sampled_from([1, 20000, 2**31 - 1])))
    must_warn = what in ('empty', 'text', 'huge header') or \
        'compresseddepth' in fmt.lower().replace(' ', '') or \
        (what == 'random' and not data.startswith((b'\xff\xd8', b'\x89PNG', b'BM', b'GIF')))
    return CompressedImage(format=fmt, data=data), what, must_warn


@FUZZ
@given(case=compressed_images())
def test_compressed_images_that_are_not_images_warn_once(harness, case):
    msg, what, must_warn = case
    warnings = harness.feed('compressed', msg)
    assert len(warnings) <= 1, warnings
    if must_warn:
        assert len(warnings) == 1, (what, msg.format)
    if what == 'real' and 'compresseddepth' not in msg.format.lower().replace(' ', ''):
        assert all('centre crop' in w[1] for w in warnings), warnings   # 1x1: nothing seen
    event(f'{what}: {"warned" if warnings else "encoded"}')


# ---------------------------------------------------------------------------- scalars
@st.composite
def scalar_messages(draw, kind=None):
    """Imu, LaserScan, Range and JointState with random values, sizes and names."""
    kind = kind or draw(st.sampled_from(['imu', 'proximity', 'range', 'joints']), label='kind')
    if kind == 'imu':
        msg = Imu()
        values = draw(st.lists(FLOATS, min_size=6, max_size=6), label='imu values')
        (msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z,
         msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z) = values
        msg.orientation.w = draw(FLOATS)
        with np.errstate(all='ignore'):
            scaled = np.array(values[:3]) / 19.62, np.array(values[3:]) / 8.73
        valid = all(np.all(np.isfinite(v)) for v in scaled)
    elif kind == 'proximity':
        size = draw(st.sampled_from([0, 1, 3, 4, 360, 5000]), label='ranges')
        ranges = draw(st.lists(FLOATS32, min_size=min(size, 8), max_size=min(size, 8)))
        ranges = (ranges * (size // max(len(ranges), 1) + 1))[:size]
        msg = LaserScan(ranges=ranges, angle_min=draw(FLOATS32), angle_max=draw(FLOATS32),
                        range_min=draw(FLOATS32), range_max=draw(FLOATS32))
        valid = size > 0 and not all(math.isnan(r) for r in ranges)
    elif kind == 'range':
        msg = Range(range=draw(FLOATS32), min_range=draw(FLOATS32), max_range=draw(FLOATS32))
        valid = not math.isnan(msg.range)
    else:
        positions = draw(st.lists(FLOATS, max_size=6), label='positions')
        names = draw(st.one_of(st.just([]), st.lists(st.text(max_size=4),
                                                     min_size=len(positions),
                                                     max_size=len(positions)),
                               st.lists(st.text(max_size=4), max_size=8)), label='names')
        msg = JointState(name=names, position=positions,
                         velocity=draw(st.lists(FLOATS, max_size=3)))
        valid = bool(positions) and len(names) in (0, len(positions)) and \
            all(math.isfinite(p) for p in positions)
    return kind, msg, valid


@FUZZ
@given(case=scalar_messages())
def test_scalar_messages_with_random_values_encode_or_warn_once(harness, case):
    kind, msg, valid = case
    warnings = harness.feed(kind, msg)
    assert len(warnings) == (0 if valid else 1), (kind, valid, warnings)
    event(f'{kind}: {"encoded" if valid else "warned"}')


# ---------------------------------------------------------------------------- the node
@pytest.fixture(scope='module')
def node_and_publishers(ros_context, genome_path):
    import rclpy
    node = FeagiHailoNode(parameter_overrides=[
        Parameter('genome', value=genome_path), Parameter('autostart', value=False),
        Parameter('burst_rate_hz', value=100.0), Parameter('viz_rate_hz', value=0.0)])
    sender = rclpy.create_node('fuzz_sender')
    publishers = {kind: sender.create_publisher(msg_type, topic, qos_profile_sensor_data)
                  for kind, msg_type, topic in (
                      ('raw', Image, 'image_raw'),
                      ('compressed', CompressedImage, 'image_raw/compressed'),
                      ('imu', Imu, 'imu'), ('proximity', LaserScan, 'scan'),
                      ('range', Range, 'range'), ('joints', JointState, 'joint_states'))}
    executor = make_executor(node, sender)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    try:
        yield node, publishers, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        sender.destroy_node()


@st.composite
def bad_messages(draw):
    """A message of each kind that must be refused."""
    kind = draw(st.sampled_from(['raw', 'compressed', 'imu', 'proximity', 'range', 'joints']))
    if kind == 'raw':
        msg, _ = draw(raw_images().filter(lambda case: not case[1]))
    elif kind == 'compressed':
        msg = CompressedImage(format=draw(st.sampled_from(['jpeg', 'png', ''])),
                              data=draw(st.sampled_from([b'', b'not an image', REAL['png'][:40],
                                                         _png_claiming(20000, 20000)])))
    elif kind == 'imu':
        msg = Imu()
        bad = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        setattr(draw(st.sampled_from([msg.linear_acceleration, msg.angular_velocity])),
                draw(st.sampled_from('xyz')), bad)
    elif kind == 'proximity':
        msg = LaserScan(ranges=[math.nan] * draw(st.integers(0, 400)))
    elif kind == 'range':
        msg = Range(range=math.nan)
    else:
        positions = draw(st.lists(FLOATS, max_size=4))
        names = draw(st.lists(st.text(max_size=3), min_size=len(positions) + 1, max_size=6))
        msg = JointState(name=names if positions else [], position=positions)
    return kind, msg


@settings(FUZZ, max_examples=40)
@given(case=bad_messages())
def test_the_node_counts_bad_messages_and_keeps_bursting(node_and_publishers, case):
    node, publishers, executor = node_and_publishers
    kind, msg = case
    bad, bursts, errors = node.bad_inputs, node.burst_stats().bursts, node.burst_errors
    assert spin_until(executor, lambda: node.bad_inputs > bad and
                      node.burst_stats().bursts > bursts + 2, 5.0,
                      every=lambda: publishers[kind].publish(msg)), kind
    assert node.burst_errors == errors
