"""FEAGI 2.6 segmented vision: one RGB frame -> injections into the 9 vision areas.

Exactly NEURON_MODEL §7a: a gaze-placed centre crop and 8 peripheral regions, each resized by
nearest neighbour (float32 index rule) to its area's x*y, per-channel change detection
against the previous frame, grey (float32 luminance) or colour areas, values 0 and 1 dropped,
x = column, y = H-1-row. Index maps are planned once per frame size and gaze, so one frame
costs a few fancy-index operations.

Change detection compares each sampled pixel with the same pixel of the previous full frame.
This is FEAGI's order (its quick-diff stage runs on the frame, before segmentation); with a
fixed gaze it is the same as comparing the resized values, and after a gaze move it keeps
matching FEAGI. The previous frame starts black and is reset to black when the frame size
changes.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .areas import CENTRE_SEGMENT, find_vision_areas, VisionArea
from .injections import Injections

_F32 = np.float32


@dataclass(frozen=True)
class Gaze:
    """Eccentricity (ex, ey) in 0..1 (ey points up) and modulation m (crop size) in (0, 1]."""

    ex: float = 0.5
    ey: float = 0.5
    modulation: float = 0.5

    def validated(self) -> 'Gaze':
        """Return self, or raise ValueError naming the value out of range."""
        for name, value in (('eccentricity x', self.ex), ('eccentricity y', self.ey)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f'gaze {name} {value} is outside 0..1')
        if not 0.0 < float(self.modulation) <= 1.0:
            raise ValueError(f'gaze modulation {self.modulation} is outside (0, 1]')
        return self


@dataclass(frozen=True)
class CropEdges:
    """Pixel edges of the centre crop: columns [left, right), rows [top, bottom)."""

    left: int
    right: int
    top: int
    bottom: int


def crop_edges(width: int, height: int, centre_xy: Tuple[int, int], gaze: Gaze) -> CropEdges:
    """Place the centre crop in a width x height frame, in float32 as FEAGI does (§7a)."""
    cw, ch = _F32(centre_xy[0]), _F32(centre_xy[1])
    m = _F32(gaze.modulation)
    if ch > cw:
        ratio = cw / ch
        size_x, size_y = m, m * ratio
    else:
        ratio = ch / cw
        size_x, size_y = m * ratio, m
    one = _F32(1.0)

    def span(v: np.float32, size: np.float32) -> Tuple[np.float32, np.float32]:
        half = size / _F32(2.0)
        centre = half + v * ((one - half) - half)
        return centre - half, centre + half

    lo_x, hi_x = span(_F32(gaze.ex), size_x)
    lo_y, hi_y = span(one - _F32(gaze.ey), size_y)
    w, h = _F32(width), _F32(height)
    left = max(1, int(np.floor(lo_x * w)))
    right = min(width - 1, int(np.floor(hi_x * w)))
    top = max(1, int(np.floor(lo_y * h)))
    bottom = min(height - 1, int(np.floor(hi_y * h)))
    if right <= left or bottom <= top:
        raise ValueError(f'gaze ({gaze.ex}, {gaze.ey}, modulation {gaze.modulation}) on a '
                         f'{width}x{height} frame gives a centre crop of zero pixels (columns '
                         f'{left}..{right}, rows {top}..{bottom}); use a larger frame or '
                         f'modulation')
    return CropEdges(left, right, top, bottom)


def nearest_indices(source_size: int, dest_size: int) -> np.ndarray:
    """Source index of each destination index: floor(f32(i) * (f32(src) / f32(dst)))."""
    ratio = _F32(source_size) / _F32(dest_size)
    return np.floor(np.arange(dest_size, dtype=_F32) * ratio).astype(np.int64)


def round_half_away(values: np.ndarray) -> np.ndarray:
    """Round non-negative float32 values half away from zero, exactly (no x + 0.5 error)."""
    whole = np.floor(values)
    return whole + (values - whole >= _F32(0.5))


@dataclass
class _Group:
    """Segments that share a depth, planned together."""

    depth: int
    pixel_index: np.ndarray      # flat frame pixel index of every sampled neuron position
    x: np.ndarray                # neuron x of each sampled position
    y: np.ndarray                # neuron y
    segment_starts: np.ndarray   # start of each segment within the group's positions
    area_index: np.ndarray       # area index of each segment


class SegmentedVisionEncoder:
    """Encode RGB frames into FEAGI segmented-vision injections (NEURON_MODEL §7a).

    `areas`: AreaSpec-like objects (need `id`, `dims`); the vision areas are picked by id and
    `Injections.area_index` indexes this list. Call `encode(frame)` at burst time.
    """

    def __init__(self, areas: Sequence, gaze: Gaze = Gaze(),
                 change_range: Tuple[int, int] = (1, 255), group: Optional[int] = None):
        """Pick the vision areas; raise ValueError when there are none or no centre."""
        self.area_ids = tuple(area.id for area in areas)
        self.vision_areas: List[VisionArea] = find_vision_areas(areas, group)
        if not self.vision_areas:
            raise ValueError('no segmented-vision areas (iic000..iic800 or 2.x svi ids) '
                             'among the areas')
        centre = [va for va in self.vision_areas if va.segment == CENTRE_SEGMENT]
        if not centre:
            raise ValueError('segmented vision needs the centre area (iic400 or svi index 4) '
                             'to place the gaze crop')
        self.centre = centre[0]
        peripheral_depths = {va.depth for va in self.vision_areas if va is not self.centre}
        if len(peripheral_depths) > 1:
            raise ValueError('the peripheral vision areas must share one depth (FEAGI uses '
                             f'one layout for all 8), found depths {sorted(peripheral_depths)}')
        self.change_range = self._check_range(change_range)
        self._gaze = gaze.validated()
        self._frame_size: Optional[Tuple[int, int]] = None
        self._groups: List[_Group] = []
        self._previous: Optional[np.ndarray] = None
        self._edges: Optional[CropEdges] = None

    @staticmethod
    def _check_range(change_range: Tuple[int, int]) -> Tuple[int, int]:
        lo, hi = int(change_range[0]), int(change_range[1])
        if not 0 <= lo <= hi <= 255:
            raise ValueError(f'change range {change_range}: need 0 <= low <= high <= 255')
        return lo, hi

    @property
    def gaze(self) -> Gaze:
        """The current gaze."""
        return self._gaze

    def set_gaze(self, gaze: Gaze) -> None:
        """Move the gaze; the next frame is planned with it (previous frame is kept).

        A gaze that gives a zero-pixel crop on the current frame size is refused (ValueError)
        and the old gaze stays.
        """
        gaze = gaze.validated()
        if self._frame_size is not None:
            crop_edges(*self._frame_size, (self.centre.width, self.centre.height), gaze)
        if gaze != self._gaze:
            self._gaze = gaze
            self._groups = []

    def set_change_range(self, change_range: Tuple[int, int]) -> None:
        """Set the per-channel change range lo..hi (inclusive)."""
        self.change_range = self._check_range(change_range)

    def reset(self) -> None:
        """Forget the previous frame (the next frame is compared with black)."""
        if self._previous is not None:
            self._previous[...] = 0

    @property
    def crop(self) -> Optional[CropEdges]:
        """Pixel edges of the centre crop of the last planned frame size."""
        return self._edges

    def _plan(self, width: int, height: int) -> None:
        edges = crop_edges(width, height, (self.centre.width, self.centre.height), self._gaze)
        col_bands = ((0, edges.left), (edges.left, edges.right), (edges.right, width))
        # segment rows 0..2 are the bottom band, 6..8 the top band (y points up)
        row_bands = ((edges.bottom, height), (edges.top, edges.bottom), (0, edges.top))
        groups = []
        members = ([self.centre], [va for va in self.vision_areas if va is not self.centre])
        for segs in members:
            if not segs:
                continue
            segs = sorted(segs, key=lambda va: va.area_index)  # output sorted by area index
            pieces, xs, ys, starts, count = [], [], [], [], 0
            for va in segs:
                c0, c1 = col_bands[va.segment % 3]
                r0, r1 = row_bands[va.segment // 3]
                cols = c0 + nearest_indices(c1 - c0, va.width)
                rows = r0 + nearest_indices(r1 - r0, va.height)
                # neuron order: x outer, y inner, y = height-1-row (so the output is sorted)
                grid_x, grid_y = np.meshgrid(np.arange(va.width), np.arange(va.height),
                                             indexing='ij')
                src_row = rows[va.height - 1 - grid_y]
                pieces.append((src_row * width + cols[grid_x]).ravel())
                xs.append(grid_x.ravel())
                ys.append(grid_y.ravel())
                starts.append(count)
                count += va.width * va.height
            groups.append(_Group(
                depth=segs[0].depth, pixel_index=np.concatenate(pieces),
                x=np.concatenate(xs).astype(np.int32), y=np.concatenate(ys).astype(np.int32),
                segment_starts=np.array(starts, np.int64),
                area_index=np.array([va.area_index for va in segs], np.int32)))
        self._groups = groups
        self._edges = edges
        if self._previous is None or self._previous.shape[:2] != (height, width):
            self._previous = np.zeros((height, width, 3), np.uint8)
        self._frame_size = (width, height)

    def encode(self, frame: np.ndarray) -> Injections:
        """Encode one uint8 HxWx3 RGB frame; it becomes the previous frame for the next."""
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
                or frame.shape[2] != 3:
            raise ValueError('segmented vision needs a uint8 HxWx3 RGB frame, got '
                             f'{getattr(frame, "dtype", type(frame))} '
                             f'{getattr(frame, "shape", "")}')
        height, width = frame.shape[:2]
        if self._frame_size != (width, height) or not self._groups:
            self._plan(width, height)
        flat_new = frame.reshape(-1, 3) if frame.flags.c_contiguous \
            else np.ascontiguousarray(frame).reshape(-1, 3)
        flat_old = self._previous.reshape(-1, 3)
        lo, hi = self.change_range
        pieces = []
        for group in self._groups:
            new = flat_new[group.pixel_index]
            diff = np.abs(new.astype(np.int16) - flat_old[group.pixel_index])
            kept = np.where((diff >= lo) & (diff <= hi), new, np.uint8(0))
            if group.depth == 1:
                channels = kept.astype(_F32)
                luminance = (channels[:, 0] * _F32(0.299) + channels[:, 1] * _F32(0.587)) \
                    + channels[:, 2] * _F32(0.114)
                values = np.minimum(round_half_away(luminance), _F32(255.0))
                chosen = np.flatnonzero(values > 1)
                position = chosen
                z = np.zeros(chosen.size, np.int32)
            else:
                values = kept.reshape(-1)
                chosen = np.flatnonzero(values > 1)
                position = chosen // 3
                z = (chosen % 3).astype(np.int32)
            segment = np.searchsorted(group.segment_starts, position, side='right') - 1
            pieces.append((group.area_index[segment], group.x[position], group.y[position], z,
                           values[chosen].astype(_F32)))
        np.copyto(self._previous, frame)
        if len(pieces) == 1:
            return Injections(self.area_ids, *pieces[0])
        # each group is sorted by (area, x, y, z): interleave whole per-area slices
        slices = []
        for piece, group in zip(pieces, self._groups):
            bounds = np.searchsorted(piece[0], group.area_index)
            ends = np.append(bounds[1:], piece[0].size)
            slices.extend((int(a), piece, int(b), int(e))
                          for a, b, e in zip(group.area_index, bounds, ends))
        slices.sort(key=lambda item: item[0])
        cols = [np.concatenate([piece[k][b:e] for _, piece, b, e in slices]) for k in range(5)]
        return Injections(self.area_ids, *cols)
