"""Cortical area ids: legacy 6-character ids and FEAGI 2.x base64 ids, roles and units."""

import base64
import binascii
from dataclasses import dataclass
from typing import Optional

# FEAGI's seven one-neuron core areas, in the order of their excitability ids 0..6 (DESIGN §4).
CORE_KINDS = ('power', 'death', 'fatigue', 'pain', 'pleasure', 'fear', 'hope')
_CORE_ALIASES = {'pwr': 'power'}

# Legacy input/output id -> (unit, index) where known (DESIGN §5, §7a).
_LEGACY_UNITS = {
    'omot': 'mot', 'o__mot': 'mot', 'ogaz': 'gaz', 'i__pro': 'pro', 'i_spos': 'svm',
    'o_spos': 'svm', 'i__imu': 'rim',
}

# 2.x unit type for a legacy segmented-vision id; also used to give legacy ids a 2.x alias.
SEGMENTED_VISION = 'svi'


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


def parse_area_id(area_id: str, group: Optional[str] = None,
                  memory: bool = False) -> AreaId:
    """Decode an area id (legacy or 2.x) into its role, unit and index."""
    raw = decode_v2(area_id)
    if raw is not None:
        lead = chr(raw[0])
        if lead in ('i', 'o') and raw[1:4].isalpha():
            unit = raw[1:4].decode('ascii')
            role = 'input' if lead == 'i' else 'output'
            return AreaId(role, unit, raw[4] >> 4, raw.decode('latin-1'), True, None)
        text = raw.decode('latin-1')
        return _from_text(text, group, memory, is_v2=True)
    return _from_text(area_id, group, memory, is_v2=False)


def _from_text(text: str, group: Optional[str], memory: bool, is_v2: bool) -> AreaId:
    if text.startswith('_'):
        return AreaId('core', None, 0, text, is_v2, core_kind(text))
    lead = text[:1]
    if not is_v2 and lead in ('i', 'o'):
        role = 'input' if lead == 'i' else 'output'
        unit, index = None, 0
        if text.startswith('iic') and len(text) == 6 and text[3].isdigit():
            unit, index = SEGMENTED_VISION, int(text[3])
        else:
            for prefix, legacy_unit in _LEGACY_UNITS.items():
                if text.startswith(prefix):
                    unit = legacy_unit
                    tail = text[len(prefix):]
                    index = int(tail[0]) if tail[:1].isdigit() else 0
                    break
        return AreaId(role, unit, index, text, is_v2, None)
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
