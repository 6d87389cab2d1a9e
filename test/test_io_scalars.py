"""Tests of io.scalars: FEAGI scalar encoding (NEURON_MODEL §7a) and ROS-unit normalisation."""

from feagi_hailo_ros.io.scalars import (encode_multi_axis, encode_signed, encode_unsigned,
                                        magnitude_z, normalize_signed, normalize_unsigned,
                                        scalar_injections, ScalarRejected)
import numpy as np
import pytest


def test_unsigned_z_rule():
    # z = min(d-1, floor((1-v)*d)): z = 0 means 100 %
    x, z = encode_unsigned([0.0, 0.05, 0.5, 0.95, 1.0, 0.33], 10)
    assert x.tolist() == [0, 1, 2, 3, 4, 5]
    assert z.tolist() == [9, 9, 5, 0, 0, 6]


def test_depth_one_and_bad_depth():
    assert magnitude_z([0.0, 0.5, 1.0], 1).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match='depth'):
        magnitude_z([0.5], 0)


def test_signed_columns_and_zero_fires_both():
    x, z = encode_signed([0.5, -0.5, 0.0, -1.0], 10)
    assert list(zip(x.tolist(), z.tolist())) == [(0, 5), (3, 5), (4, 9), (5, 9), (7, 0)]


def test_multi_axis_layout():
    # 2 channels x 3 axes: x = channel*6 + axis*2 + negative
    values = np.array([[0.0, 0.5, -0.5], [1.0, -1.0, 0.25]])
    x, z = encode_multi_axis(values, 10)
    assert list(zip(x.tolist(), z.tolist())) == [
        (0, 9), (1, 9), (2, 5), (5, 5), (6, 0), (9, 0), (10, 7)]
    with pytest.raises(ValueError, match='shape'):
        encode_multi_axis([0.1, 0.2], 10)


def test_encoders_want_normalised_finite_values():
    with pytest.raises(ValueError, match='normalised'):
        encode_unsigned([1.5], 10)
    with pytest.raises(ValueError, match='normalised'):
        encode_unsigned([-0.1], 10)
    with pytest.raises(ValueError, match='normalised'):
        encode_signed([-1.01], 10)
    with pytest.raises(ScalarRejected, match='not finite'):
        encode_signed([0.1, np.nan], 10)


def test_normalise_with_ranges_clamps():
    got = normalize_unsigned([0.1, 0.55, 1.0, 5.0, -3.0], (0.1, 1.0), 'range')
    np.testing.assert_allclose(got, [0.0, 0.5, 1.0, 1.0, 0.0])
    got = normalize_signed([-2.0, 0.0, 9.81, 40.0], (-19.62, 19.62), 'imu')
    np.testing.assert_allclose(got, [-2.0 / 19.62, 0.0, 0.5, 1.0])


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected_with_a_reason(bad):
    with pytest.raises(ScalarRejected) as info:
        normalize_unsigned([0.5, bad], (0.0, 1.0), 'range sensor')
    assert 'range sensor' in str(info.value) and 'index 1' in str(info.value)
    with pytest.raises(ScalarRejected):
        normalize_signed(bad, (-1.0, 1.0))


@pytest.mark.parametrize('value_range', [(1.0, 1.0), (2.0, 1.0), (0.0, np.inf)])
def test_bad_configured_ranges(value_range):
    with pytest.raises(ValueError, match='range'):
        normalize_unsigned([0.5], value_range)


def test_scalar_injections_for_an_area():
    x, z = encode_signed([0.5, -0.25], 4)
    inj = scalar_injections(('_power', 'i__pro'), 1, x, z, width=4)
    assert inj.area_index.tolist() == [1, 1] and inj.y.tolist() == [0, 0]
    assert inj.x.tolist() == [0, 3] and inj.z.tolist() == [2, 3]
    assert inj.p.dtype == np.float32 and inj.p.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match='does not fit'):
        scalar_injections(('a',), 0, x, z, width=2)
