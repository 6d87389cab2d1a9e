"""Cortical area ids: legacy 6-character ids and FEAGI 2.x base64 ids, roles and units.

A 2.x input/output id is 8 bytes in base64 (feagi-rust-py-libs' layout): byte 0 `i`/`o`,
bytes 1-3 the unit (`svi` segmented vision, `pro` proximity, `svm` servo sensor, `rim` raw
IMU, `mot` rotary motor, `pse` positional servo, `gaz` gaze...), byte 4 the data type (low
4 bits) and the area's index within its unit (high 4 bits), byte 5 flags (bit 0
incremental, bit 1 fractional), byte 6 the unit's group. Legacy input/output ids are known
from a table (`iicN00` is segmented-vision segment N).
"""

import base64
import binascii
from dataclasses import dataclass
import re
from typing import Dict, Optional, Tuple

# FEAGI's seven one-neuron core areas, in the order of their excitability ids 0..6.
CORE_KINDS = ('power', 'death', 'fatigue', 'pain', 'pleasure', 'fear', 'hope')
_CORE_ALIASES = {'pwr': 'power'}

# 2.x unit type for a legacy segmented-vision id; also used to give legacy ids a 2.x alias.
SEGMENTED_VISION = 'svi'

# Legacy input/output id -> (direction, unit, index in unit); `iicN00` is matched apart.
_LEGACY_IO: Dict[str, Tuple[str, str, int]] = {
    'omot00': ('o', 'mot', 0), 'o__mot': ('o', 'mot', 0), 'ogaz00': ('o', 'gaz', 0),
    'i__pro': ('i', 'pro', 0), 'i__imu': ('i', 'rim', 0),
    'i_spos': ('i', 'svm', 0),      # servo position sensor (FEAGI's `svm`)
    'o_spos': ('o', 'pse', 0),      # positional servo, an output (FEAGI's `pse`)
}
_LEGACY_VISION = re.compile(r'^iic([0-8])00$')


@dataclass(frozen=True)
class IoId:
    """What an input/output area id says about the area."""

    direction: str          # 'i' or 'o'
    unit: str               # 3-letter unit type: 'svi', 'mot', 'pse', 'gaz', ...
    index_in_unit: int      # segment for vision, sub-area index otherwise
    data_type: int          # low 4 bits of byte 4 (2.x); -1 for legacy ids
    incremental: bool
    fractional: bool
    group: int
    legacy: bool


@dataclass(frozen=True)
class AreaId:
    """What an area id says: role, unit type, index within the unit, and its readable text."""

    role: str                 # input | output | core | custom | memory
    unit: Optional[str]       # 'svi', 'mot', ... or None
    index_in_unit: int
    text: str                 # decoded text of a 2.x id, or the legacy id itself
    is_v2: bool
    core_kind: Optional[str]  # one of CORE_KINDS for core areas, else None


def decode_v2(area_id: str) -> Optional[bytes]:
    """Return the 8 bytes of a FEAGI 2.x base64 id, or None if area_id is not one."""
    if len(area_id) != 12 or not area_id.endswith('='):
        return None
    try:
        raw = base64.b64decode(area_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 8 else None


def encode_v2(raw: bytes) -> str:
    """Return the base64 id of 8 bytes (inverse of decode_v2)."""
    if len(raw) != 8:
        raise ValueError(f'a FEAGI 2.x area id holds 8 bytes, not {len(raw)}')
    return base64.b64encode(raw).decode('ascii')


def io_v2_id(direction: str, unit: str, index: int, data_type: int = 9, group: int = 0) -> str:
    """Build a 2.x input ('i') or output ('o') area id (feagi-rust-py-libs byte layout)."""
    if direction not in ('i', 'o') or len(unit) != 3 or not 0 <= index < 16:
        raise ValueError(f'cannot encode io area id {direction!r} {unit!r} {index}')
    raw = (direction + unit).encode('ascii') + bytes(
        [(index << 4) | (data_type & 0x0F), 0, group & 0xFF, 0])
    return encode_v2(raw)


def text_v2_id(text: str) -> str:
    """Build a 2.x core/custom/memory id from 8 ASCII characters (padded with '_')."""
    return encode_v2(text.ljust(8, '_')[:8].encode('ascii'))


def core_kind(text: str) -> Optional[str]:
    """Map a core id's text (`_power`, `___pwr`, `___death`) to one of CORE_KINDS, or None."""
    name = text.strip('_').lower()
    name = _CORE_ALIASES.get(name, name)
    for kind in CORE_KINDS:
        if name == kind or (len(name) >= 3 and kind.startswith(name)):
            return kind
    return None


def decode_io_id(area_id: str) -> Optional[IoId]:
    """Decode an input/output area id, legacy or 2.x; None for other and unknown ids."""
    legacy = _LEGACY_IO.get(area_id)
    if legacy is None:
        match = _LEGACY_VISION.match(area_id)
        if match:
            legacy = ('i', SEGMENTED_VISION, int(match.group(1)))
    if legacy is not None:
        return IoId(*legacy, data_type=-1, incremental=False, fractional=False, group=0,
                    legacy=True)
    raw = decode_v2(area_id)
    if raw is None or raw[0:1] not in (b'i', b'o') or not raw[1:4].isalpha():
        return None
    return IoId(direction=chr(raw[0]), unit=raw[1:4].decode('ascii'),
                index_in_unit=raw[4] >> 4, data_type=raw[4] & 0x0F,
                incremental=bool(raw[5] & 1), fractional=bool(raw[5] & 2),
                group=raw[6], legacy=False)


def parse_area_id(area_id: str, group: Optional[str] = None,
                  memory: bool = False) -> AreaId:
    """Decode an area id (legacy or 2.x) into its role, unit and index."""
    io = decode_io_id(area_id)
    raw = decode_v2(area_id)
    if io is not None:
        role = 'input' if io.direction == 'i' else 'output'
        text = area_id if raw is None else raw.decode('latin-1')
        return AreaId(role, io.unit, io.index_in_unit, text, raw is not None, None)
    if raw is not None:
        return _from_text(raw.decode('latin-1'), group, memory, is_v2=True)
    return _from_text(area_id, group, memory, is_v2=False)


def _from_text(text: str, group: Optional[str], memory: bool, is_v2: bool) -> AreaId:
    """Role of an id that is not a known input/output unit: its lead character or group."""
    if text.startswith('_'):
        return AreaId('core', None, 0, text, is_v2, core_kind(text))
    lead = text[:1]
    if not is_v2 and lead in ('i', 'o'):
        return AreaId('input' if lead == 'i' else 'output', None, 0, text, is_v2, None)
    grp = (group or '').upper()
    if memory or grp == 'MEMORY' or lead == 'm':
        return AreaId('memory', None, 0, text, is_v2, None)
    if grp == 'IPU':
        return AreaId('input', None, 0, text, is_v2, None)
    if grp == 'OPU':
        return AreaId('output', None, 0, text, is_v2, None)
    return AreaId('custom', None, 0, text, is_v2, None)


def aliases(area_id: str) -> list:
    """Other spellings that name the same area: decoded text, legacy and 2.x equivalents."""
    info = parse_area_id(area_id)
    out = []
    if info.is_v2:
        if info.role in ('input', 'output'):
            if info.unit == SEGMENTED_VISION and info.role == 'input':
                out.append(f'iic{info.index_in_unit}00')
            elif info.unit in ('mot', 'gaz'):
                out.append(f'o{info.unit}{info.index_in_unit:02d}'[:6])
        else:
            out.append(info.text)
            stripped = info.text.rstrip('_')
            if info.role == 'core':
                out.append('_' + info.text.strip('_'))
                if info.core_kind == 'power':
                    out.extend(['_power', '___pwr'])
            elif len(stripped) <= 6:
                out.append(stripped.ljust(6, '_'))
    else:
        if info.role == 'input' and info.unit == SEGMENTED_VISION:
            out.append(io_v2_id('i', SEGMENTED_VISION, info.index_in_unit))
        elif info.role == 'core' and info.core_kind == 'power':
            out.extend(['_power', '___pwr', text_v2_id('___power')])
        elif info.role == 'core' and info.core_kind:
            out.append(text_v2_id('___' + info.core_kind))
    return [a for a in dict.fromkeys(out) if a != area_id]
