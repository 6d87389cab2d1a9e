"""Our encoders and decoders against FEAGI's own library (feagi-rust-py-libs 0.0.120).

Test-only: `pip install feagi-rust-py-libs==0.0.120`; skipped where it is not installed. The
library panics (pyo3 PanicException, a BaseException) on some bad inputs: every call goes
through `_guard` so a panic fails the test with a message instead of killing the run.
"""

import base64
from types import SimpleNamespace

from feagi_hailo_ros.io.motors import decode_rotary, decode_rotary_fractional, decode_servo
from feagi_hailo_ros.io.scalars import encode_multi_axis, encode_unsigned
from feagi_hailo_ros.io.vision import Gaze, SegmentedVisionEncoder
import numpy as np
import pytest

frpl = pytest.importorskip('feagi_rust_py_libs')
cc = frpl.connector_core
dt = cc.data_types
ds = dt.descriptors
ca = frpl.data_structures.genomic.cortical_area
xyzp = frpl.data_structures.neurons_voxels.xyzp
Stage = cc.data_pipeline.stage_properties.PipelineStageProperties
ABSOLUTE = ca.FrameChangeHandling.Absolute()
LINEAR = ca.PercentageNeuronPositioning.Linear()
FRACTIONAL = ca.PercentageNeuronPositioning.Fractional()


def _guard(call, *args, **kwargs):
    """Call into the library; turn a Rust panic into a test failure with context."""
    try:
        return call(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        pytest.fail(f'feagi_rust_py_libs {getattr(call, "__name__", call)} failed: '
                    f'{type(exc).__name__}: {exc}')


def _sensor_neurons(agent):
    """Encode the agent's cached sensors; {decoded id bytes: sorted [(x, y, z, p)]}."""
    _guard(agent.sensors_encode_cached_sensor_data_to_bytes)
    container = frpl.data_serialization.FeagiByteContainer()
    _guard(container.load_bytes_and_verify, bytes(agent.sensors_read_bytes()))
    if container.number_contained_structures == 0:
        return {}
    mapped = _guard(container.try_create_new_struct_from_index, 0)
    out = {}
    for area_id, arrays in mapped.iter_full():
        cols = [np.asarray(a).tolist() for a in arrays]
        if cols[0]:
            out[area_id] = sorted(zip(*cols))
    return out


# ---- segmented vision ---------------------------------------------------------------------

class _FeagiVision:
    """FEAGI's segmented vision as its SDK wires it: quick-diff stage, then the segmentator."""

    def __init__(self, width, height, centre, peripheral, centre_rgb, peripheral_rgb, gaze,
                 change_range):
        self.size = (width, height)
        self.layouts = (centre_rgb, peripheral_rgb)
        self.res = (centre, peripheral)
        self.agent = cc.ConnectorAgent()
        self.input_props = ds.ImageFrameProperties(ds.ImageXYResolution(width, height),
                                                   ds.ColorSpace.Gamma, ds.ColorChannelLayout.RGB)
        _guard(self.agent.sensor_SegmentedVision_register, group=0, number_channels=1,
               frame_change_handling=ABSOLUTE, input_image_properties=self.input_props,
               segmented_image_properties=self._segmented_props(),
               initial_gaze=self._gaze(gaze))
        pct = dt.Percentage.new_from_0_1
        diff = Stage.new_image_quick_diff(change_range[0], change_range[1], pct(0.0), pct(1.0),
                                          self.input_props)
        _guard(self.agent.sensor_segmented_vision_replace_all_stages, group=0, channel_index=0,
               updated_pipeline_stage_properties=[diff, self._segmentator(gaze)])

    def _segmented_props(self):
        res = ds.SegmentedXYImageResolutions.create_with_same_sized_peripheral(
            ds.ImageXYResolution(*self.res[0]), ds.ImageXYResolution(*self.res[1]))
        layout = [ds.ColorChannelLayout.RGB if rgb else ds.ColorChannelLayout.GrayScale
                  for rgb in self.layouts]
        return ds.SegmentedImageFrameProperties(res, layout[0], layout[1], ds.ColorSpace.Gamma)

    @staticmethod
    def _gaze(gaze):
        pct = dt.Percentage.new_from_0_1
        return dt.GazeProperties(dt.Percentage2D(pct(gaze[0]), pct(gaze[1])), pct(gaze[2]))

    def _segmentator(self, gaze):
        return Stage.new_image_frame_segmentator(self.input_props, self._segmented_props(),
                                                 self._gaze(gaze))

    def set_gaze(self, gaze):
        _guard(self.agent.sensor_segmented_vision_replace_single_stage, group=0,
               channel_index=0, pipeline_stage_property_index=1,
               updating_property=self._segmentator(gaze))

    def encode(self, frame):
        image = _guard(dt.ImageFrame.new_from_array, np.ascontiguousarray(frame),
                       ds.ColorSpace.Gamma, ds.MemoryOrderLayout.HeightsWidthsChannels)
        _guard(self.agent.sensor_segmented_vision_write, group=0, channel_index=0, data=image)
        return _sensor_neurons(self.agent)


def _svi_areas(centre, peripheral, centre_rgb, peripheral_rgb):
    """The nine 2.x segmented-vision areas (ids as FEAGI builds them: index << 4 | 9)."""
    areas = [SimpleNamespace(id='X19fcG93ZXI=', dims=(1, 1, 1))]
    for segment in range(9):
        xy = centre if segment == 4 else peripheral
        rgb = centre_rgb if segment == 4 else peripheral_rgb
        raw = b'isvi' + bytes([(segment << 4) | 9, 0, 0, 0])
        areas.append(SimpleNamespace(id=base64.b64encode(raw).decode(),
                                     dims=(xy[0], xy[1], 3 if rgb else 1)))
    return areas


def _ours(injections):
    out = {}
    for area_id, x, y, z, p in injections.by_area():
        out[area_id] = sorted(zip(x.tolist(), y.tolist(), z.tolist(), p.tolist()))
    return out


def _frames(width, height, count, seed):
    """A random frame, then frames with ~30 % of pixels changed, then a repeat of frame 1."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8)]
    for _ in range(count - 1):
        frame = frames[-1].copy()
        changed = rng.random((height, width)) < 0.3
        frame[changed] = rng.integers(0, 256, (int(changed.sum()), 3), dtype=np.uint8)
        frame[rng.random((height, width)) < 0.05] //= 2  # small and large differences
        frames.append(frame)
    frames.append(frames[1])
    return frames


CASES = [
    # width, height, centre xy, peripheral xy, centre colour, peripheral colour, gaze
    (64, 48, (12, 10), (5, 4), True, False, (0.5, 0.5, 0.5)),
    (67, 53, (10, 14), (3, 5), False, True, (0.3, 0.8, 0.6)),
    (101, 37, (7, 7), (4, 4), True, True, (0.0, 1.0, 0.9)),
    (33, 91, (20, 9), (6, 2), False, False, (1.0, 0.0, 0.2)),
    (17, 13, (30, 40), (8, 8), True, False, (0.7, 0.2, 0.95)),
    (320, 240, (128, 128), (16, 16), True, True, (0.5, 0.5, 0.5)),
    # centre region 292 px wide into 72: float32 and float64 index rules differ (218 vs 219)
    (584, 292, (72, 72), (9, 9), True, False, (0.5, 0.5, 0.5)),
]


@pytest.mark.parametrize('case', CASES, ids=lambda c: f'{c[0]}x{c[1]}')
@pytest.mark.parametrize('change_range', [(1, 255), (20, 200)])
def test_segmented_vision_matches_feagi(case, change_range):
    width, height, centre, peripheral, centre_rgb, peripheral_rgb, gaze = case
    feagi = _FeagiVision(width, height, centre, peripheral, centre_rgb, peripheral_rgb, gaze,
                         change_range)
    ours = SegmentedVisionEncoder(_svi_areas(centre, peripheral, centre_rgb, peripheral_rgb),
                                  Gaze(*gaze), change_range)
    sent = 0
    for index, frame in enumerate(_frames(width, height, 4, seed=width * height)):
        expected = feagi.encode(frame)
        assert _ours(ours.encode(frame)) == expected, f'frame {index}'
        sent += sum(len(v) for v in expected.values())
    assert sent > 0


@pytest.mark.parametrize('case', CASES[:5], ids=lambda c: f'{c[0]}x{c[1]}')
def test_segmented_vision_matches_feagi_when_the_gaze_moves(case):
    width, height, centre, peripheral, centre_rgb, peripheral_rgb, gaze = case
    feagi = _FeagiVision(width, height, centre, peripheral, centre_rgb, peripheral_rgb, gaze,
                         (1, 255))
    ours = SegmentedVisionEncoder(_svi_areas(centre, peripheral, centre_rgb, peripheral_rgb),
                                  Gaze(*gaze))
    moves = [None, (0.1, 0.9, 0.4), None, (0.9, 0.3, 0.7), (0.5, 0.5, 0.3)]
    for index, frame in enumerate(_frames(width, height, 4, seed=7 + width)):
        if moves[index]:
            feagi.set_gaze(moves[index])
            ours.set_gaze(Gaze(*moves[index]))
        assert _ours(ours.encode(frame)) == feagi.encode(frame), f'frame {index}'


def test_segment_index_four_is_feagi_centre():
    feagi = _FeagiVision(40, 30, (6, 5), (2, 2), True, False, (0.5, 0.5, 0.5), (1, 255))
    got = feagi.encode(np.full((30, 40, 3), 200, np.uint8))
    centre = base64.b64encode(b'isviI\0\0\0').decode()
    assert {x for x, _, _, _ in got[centre]} == set(range(6))
    assert set(got) == {area.id for area in _svi_areas((6, 5), (2, 2), True, False)[1:]}


# ---- scalars -----------------------------------------------------------------------------

def test_unsigned_scalar_matches_feagi_proximity():
    values = np.concatenate([np.arange(101) / 100.0, np.arange(29) / 28.0,
                             np.random.default_rng(1).random(40)])
    for depth in (1, 7, 10):
        agent = cc.ConnectorAgent()
        _guard(agent.sensor_Proximity_register, group=0, number_channels=values.size,
               frame_change_handling=ABSOLUTE, z_neuron_resolution=depth,
               percentage_neuron_positioning=LINEAR)
        for channel, value in enumerate(values):
            _guard(agent.sensor_proximity_write, group=0, channel_index=channel,
                   data=dt.Percentage.new_from_0_1(float(value)))
        (expected,) = _sensor_neurons(agent).values()
        x, z = encode_unsigned(values, depth)
        assert sorted(zip(x.tolist(), [0] * x.size, z.tolist(), [1.0] * x.size)) == expected


def test_signed_multi_axis_matches_feagi_raw_imu():
    rng = np.random.default_rng(2)
    accel = np.vstack([[0.0, 0.5, -0.5], [1.0, -1.0, 0.25], rng.uniform(-1, 1, (3, 3)),
                       np.round(rng.uniform(-1, 1, (3, 3)), 1)])
    gyro = rng.uniform(-1, 1, accel.shape)
    depth = 10
    agent = cc.ConnectorAgent()
    _guard(agent.sensor_RawIMU_register, group=0, number_channels=len(accel),
           frame_change_handling=ABSOLUTE, z_neuron_resolution=depth,
           percentage_neuron_positioning=LINEAR)
    for channel in range(len(accel)):
        imu = _guard(dt.RawIMU.try_from_axis_triples, tuple(map(float, accel[channel])),
                     tuple(map(float, gyro[channel])), (0.0, 0.0, 0.0))
        _guard(agent.sensor_raw_i_m_u_write, group=0, channel_index=channel, data=imu)
    got = _sensor_neurons(agent)
    for index, values in ((0, accel), (1, gyro)):
        area = base64.b64encode(b'irim' + bytes([(index << 4) | 7, 0, 0, 0])).decode()
        x, z = encode_multi_axis(values, depth)
        assert sorted(zip(x.tolist(), [0] * x.size, z.tolist(), [1.0] * x.size)) == got[area]


# ---- motors ------------------------------------------------------------------------------

def _feed_motors(agent, neurons):
    """Send fired neurons {area id: (x, z)} to the agent's motor decoders."""
    mapped = xyzp.CorticalMappedXYZPNeuronVoxels()
    for area_id, (x, z) in neurons.items():
        x = np.asarray(x, np.uint32)
        arrays = xyzp.PyNeuronVoxelXYZPArrays.new_from_numpy(
            x, np.zeros_like(x), np.asarray(z, np.uint32), np.ones(x.size, np.float32))
        mapped.insert(ca.CorticalID.try_from_base_64(area_id), arrays)
    container = frpl.data_serialization.FeagiByteContainer()
    container.add_struct(mapped, 0)
    _guard(agent.motors_load_in_bytes_and_verify, bytes(container.copy_out_as_byte_vector()))
    _guard(agent.motors_decode_cached_byte_data_to_motor)
    return {(g, c): v for g, c, _, v in agent.motors_read_decoded_snapshot()}


def test_motor_decoders_match_feagi():
    depth, channels = 10, 4
    agent = cc.ConnectorAgent()
    _guard(agent.motor_rotary_motor_register, group=0, number_channels=channels,
           frame_change_handling=ABSOLUTE, z_neuron_resolution=depth,
           percentage_neuron_positioning=LINEAR)
    _guard(agent.motor_rotary_motor_register, group=1, number_channels=channels,
           frame_change_handling=ABSOLUTE, z_neuron_resolution=depth,
           percentage_neuron_positioning=FRACTIONAL)
    ids = {base64.b64decode(i)[:4] + bytes([base64.b64decode(i)[6]]): i
           for i in agent.get_motor_cortical_ids_for_verification()}
    rotary, fractional = ids[b'omot\x00'], ids[b'omot\x01']
    rng = np.random.default_rng(4)
    for _ in range(5):
        # every channel fires (FEAGI latches silent channels, we do not compare those)
        x = np.concatenate([np.arange(channels), rng.integers(0, channels, 6)])
        z = rng.integers(0, depth, x.size)
        fx = np.concatenate([2 * np.arange(channels), rng.integers(0, 2 * channels, 6)])
        fz = rng.integers(0, depth, fx.size)
        pairs = {tuple(p) for p in zip(fx.tolist(), fz.tolist())}  # no duplicate neurons
        fx, fz = (np.array(c) for c in zip(*sorted(pairs)))
        got = _feed_motors(agent, {rotary: (x, z), fractional: (fx, fz)})
        ours = decode_rotary(x, z, channels, depth)
        ours_f = decode_rotary_fractional(fx, fz, channels)
        for c in range(channels):
            assert got[(0, c)] == pytest.approx(ours[c], abs=1e-6)
            assert got[(1, c)] == pytest.approx(ours_f[c], abs=1e-6)


def test_servo_decoder_matches_feagi():
    depth, channels = 10, 3
    agent = cc.ConnectorAgent()
    _guard(agent.motor_positional_servo_register, group=0, number_channels=channels,
           frame_change_handling=ABSOLUTE, z_neuron_resolution=depth,
           percentage_neuron_positioning=LINEAR)
    position = base64.b64encode(b'opse\x01\0\0\0').decode()
    assert position in agent.get_motor_cortical_ids_for_verification()
    x, z = np.array([0, 1, 1, 2]), np.array([0, 3, 4, 9])
    got = _feed_motors(agent, {position: (x, z)})
    ours = decode_servo(x, z, channels, depth)
    assert [got[(0, c)] for c in range(channels)] == pytest.approx(ours.tolist(), abs=1e-6)


def test_gaze_decoding_matches_feagi():
    """Compare what the gaze does to segmentation: FEAGI's decoded gaze is opaque in Python."""
    from feagi_hailo_ros.io.motors import decode_gaze, decode_gaze_modulation
    depth = 10
    agent = cc.ConnectorAgent()
    _guard(agent.motor_gaze_register, group=0, number_channels=1,
           frame_change_handling=ABSOLUTE, eccentricity_z_neuron_resolution=depth,
           modulation_z_neuron_resolution=depth, percentage_neuron_positioning=LINEAR)
    eccentricity = base64.b64encode(b'ogaz\x02\0\0\0').decode()
    modulation = base64.b64encode(b'ogaz\x11\0\0\0').decode()
    assert {eccentricity, modulation} <= set(agent.get_motor_cortical_ids_for_verification())
    width, height, centre, peripheral = 120, 90, (12, 12), (3, 3)
    frame = np.random.default_rng(6).integers(0, 256, (height, width, 3), dtype=np.uint8)
    for ex_z, ey_z, m_z in [(3, 6, 4), (0, 9, 2), (7, 1, 0), (2, 2, 8)]:
        ecc_x, ecc_z = np.array([0, 1]), np.array([ex_z, ey_z])
        _feed_motors(agent, {eccentricity: (ecc_x, ecc_z), modulation: ([0], [m_z])})
        feagi_gaze = _guard(agent.motor_gaze_read_postprocessed_cache_value, group=0,
                            channel_index=0)
        feagi = _FeagiVision(width, height, centre, peripheral, True, False, (0.5, 0.5, 0.5),
                             (0, 255))
        stage = Stage.new_image_frame_segmentator(feagi.input_props, feagi._segmented_props(),
                                                  feagi_gaze)
        _guard(feagi.agent.sensor_segmented_vision_replace_single_stage, group=0,
               channel_index=0, pipeline_stage_property_index=1, updating_property=stage)
        ex, ey, _ = decode_gaze(ecc_x, ecc_z, (4, 1, depth))
        m = decode_gaze_modulation([0], [m_z], (1, 1, depth))
        ours = SegmentedVisionEncoder(_svi_areas(centre, peripheral, True, False),
                                      Gaze(ex, ey, m), (0, 255))
        assert _ours(ours.encode(frame)) == feagi.encode(frame), (ex_z, ey_z, m_z)
