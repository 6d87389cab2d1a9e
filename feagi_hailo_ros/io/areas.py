"""Find the sensory and motor areas of a genome by their ids (legacy and FEAGI 2.x).

Works on any AreaSpec-like object with `id` and `dims`; the id itself says what the area is,
decoded by `brain.ids.decode_io_id` (legacy `iicN00` segmented-vision segment N, `omot00` /
`o__mot` motor, `ogaz00` gaze; 2.x ids by their unit, index, flags and group).
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from feagi_hailo_ros.brain.ids import decode_io_id

SEGMENT_COUNT = 9
CENTRE_SEGMENT = 4
SEGMENT_NAMES = ('bottom-left', 'bottom-middle', 'bottom-right', 'middle-left', 'centre',
                 'middle-right', 'top-left', 'top-middle', 'top-right')


def _dims(area) -> Tuple[int, int, int]:
    dims = tuple(int(d) for d in area.dims)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f'area {area.id!r}: dimensions {area.dims} are not three sizes >= 1')
    return dims  # type: ignore[return-value]


@dataclass(frozen=True)
class VisionArea:
    """One segmented-vision area: its id, place in the area list, segment and size."""

    area_id: str
    area_index: int         # index of the area in the list it was picked from
    segment: int            # 0..8, 4 = centre
    width: int              # x size
    height: int             # y size
    depth: int              # 1 = grey, 3 = colour


def find_vision_areas(areas: Sequence, group: Optional[int] = None) -> List[VisionArea]:
    """Pick the segmented-vision areas (one per segment) from AreaSpec-like objects.

    Legacy `iicN00` is segment N; a 2.x `svi` id gives its segment as the index in its unit.
    With several 2.x groups (cameras), `group` chooses one (default: the lowest). Segments
    may be missing (the encoder then skips them); two areas for one segment are an error.
    """
    found: Dict[int, VisionArea] = {}
    candidates = []
    for index, area in enumerate(areas):
        info = decode_io_id(area.id)
        if info is None or info.direction != 'i' or info.unit != 'svi':
            continue
        if not 0 <= info.index_in_unit < SEGMENT_COUNT:
            raise ValueError(f'area {area.id!r}: segmented-vision index {info.index_in_unit} '
                             f'is outside 0..8')
        candidates.append((index, area, info))
    groups = sorted({info.group for _, _, info in candidates})
    wanted = group if group is not None else (groups[0] if groups else 0)
    for index, area, info in candidates:
        if info.group != wanted:
            continue
        width, height, depth = _dims(area)
        if depth not in (1, 3):
            raise ValueError(f'area {area.id!r}: segmented vision needs depth 1 (grey) or 3 '
                             f'(colour), not {depth}')
        if info.index_in_unit in found:
            raise ValueError(f'areas {found[info.index_in_unit].area_id!r} and {area.id!r} '
                             f'are both vision segment {info.index_in_unit}')
        found[info.index_in_unit] = VisionArea(area.id, index, info.index_in_unit,
                                               width, height, depth)
    return [found[s] for s in sorted(found)]


@dataclass(frozen=True)
class MotorArea:
    """An output area with its decoding kind: 'legacy', 'rotary', 'rotary_fractional', 'servo'."""

    area_id: str
    area_index: int
    kind: str
    dims: Tuple[int, int, int]
    group: int


def find_motor_areas(areas: Sequence) -> List[MotorArea]:
    """Pick the motor areas: legacy `omot00`/`o__mot`, 2.x rotary `mot`, servo position `pse`.

    A 2.x servo area is taken only at index 0 of its unit (the position area; FEAGI's other
    `pse` sub-areas hold speed settings). A legacy `o_spos` is a positional servo too, but
    its legacy decoding is not specified: it is not taken.
    """
    out = []
    for index, area in enumerate(areas):
        info = decode_io_id(area.id)
        if info is None or info.direction != 'o':
            continue
        if info.unit == 'mot':
            if info.legacy:
                kind = 'legacy'
            else:
                kind = 'rotary_fractional' if info.fractional else 'rotary'
        elif info.unit == 'pse' and not info.legacy and info.index_in_unit == 0:
            kind = 'servo'
        else:
            continue
        out.append(MotorArea(area.id, index, kind, _dims(area), info.group))
    return out


def find_gaze_area(areas: Iterable, index_in_unit: int = 0) -> Optional[Tuple[int, object]]:
    """Return (index, area) of the gaze eccentricity area (`ogaz00`, or 2.x `gaz` index 0).

    With index_in_unit=1: the 2.x gaze modulation area (legacy genomes have none).
    """
    for index, area in enumerate(areas):
        info = decode_io_id(area.id)
        if info is not None and info.direction == 'o' and info.unit == 'gaz' \
                and info.index_in_unit == index_in_unit:
            return index, area
    return None
