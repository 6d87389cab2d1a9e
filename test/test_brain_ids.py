"""Area ids: the one decoder of legacy and FEAGI 2.x input/output ids, roles and units."""

import base64

from feagi_hailo_ros.brain.ids import decode_io_id, io_v2_id, parse_area_id
import pytest


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_decode_io_ids_of_both_kinds():
    centre = decode_io_id('aXN2aUkAAAA=')  # b'isviI\\0\\0\\0'
    assert (centre.direction, centre.unit, centre.index_in_unit, centre.data_type) == \
        ('i', 'svi', 4, 9)
    assert decode_io_id('aXN2aQkAAAA=').index_in_unit == 0
    assert decode_io_id('aXN2aYkAAAA=').index_in_unit == 8
    motor = decode_io_id('b21vdAUAAAA=')
    assert (motor.unit, motor.fractional, motor.data_type) == ('mot', False, 5)
    assert decode_io_id(_b64(b'omot\x05\x02\x01\x00')).fractional
    assert decode_io_id(_b64(b'omot\x05\x02\x01\x00')).group == 1
    assert decode_io_id(_b64(b'omot\x05\x01\x00\x00')).incremental
    assert decode_io_id('b2dhegIAAAA=').unit == 'gaz'
    assert decode_io_id('iic300').index_in_unit == 3 and decode_io_id('iic300').legacy
    for other in ('X19fcG93ZXI=', '_power', 'cIHMot', 'Y19fYmFjX18=', 'iic900', 'iic41'):
        assert decode_io_id(other) is None


@pytest.mark.parametrize('area_id, expected', [
    ('iic000', ('i', 'svi', 0)), ('iic800', ('i', 'svi', 8)), ('omot00', ('o', 'mot', 0)),
    ('o__mot', ('o', 'mot', 0)), ('ogaz00', ('o', 'gaz', 0)), ('i__pro', ('i', 'pro', 0)),
    ('i__imu', ('i', 'rim', 0)),
    ('i_spos', ('i', 'svm', 0)),        # servo position sensor
    ('o_spos', ('o', 'pse', 0)),        # positional servo (an output, not `svm`)
])
def test_legacy_ids_decode_from_one_table(area_id, expected):
    info = decode_io_id(area_id)
    assert (info.direction, info.unit, info.index_in_unit) == expected
    assert info.legacy and info.data_type == -1 and info.group == 0
    assert not (info.incremental or info.fractional)
    parsed = parse_area_id(area_id)             # the roles agree with the io decoder
    assert (parsed.role, parsed.unit, parsed.index_in_unit, parsed.is_v2) == \
        ('input' if expected[0] == 'i' else 'output', expected[1], expected[2], False)


def test_servo_units_of_2x_ids():
    sensor = decode_io_id(io_v2_id('i', 'svm', 0, data_type=1))
    servo = decode_io_id(io_v2_id('o', 'pse', 2, data_type=1, group=3))
    assert (sensor.direction, sensor.unit, sensor.legacy) == ('i', 'svm', False)
    assert (servo.direction, servo.unit, servo.index_in_unit, servo.group) == ('o', 'pse', 2, 3)
    assert parse_area_id(io_v2_id('o', 'pse', 0)).role == 'output'
    assert parse_area_id(io_v2_id('i', 'svm', 0)).unit == 'svm'


@pytest.mark.parametrize('area_id', [
    '', 'c_avoid', 'cabcd', 'omot01', 'iic401', 'iic9000',
    'b21vdAUAAAA', 'b21vdAUAAA==',                   # 11 characters; 7 bytes
    'b21vdAUAAAA!', '!!!!!!!!!!!=',                  # not base64
    _b64(b'o1ot\x05\x00\x00\x00'),                   # unit not letters
    _b64(b'xmot\x05\x00\x00\x00'),                   # neither i nor o
])
def test_invalid_or_unknown_ids_are_not_io(area_id):
    assert decode_io_id(area_id) is None
    assert parse_area_id(area_id).unit is None
