"""Morphologies as FEAGI 2.6 builds them (NEURON_MODEL §5), as per-axis relations.

Every supported morphology is a sequence of *parts*; a part is the product of three per-axis
relations (pairs of source and destination coordinates on x, y and z). A vector is a part
(each axis shifted), a pattern pair is a part, a projector is one part (block_to_block is
FEAGI's built-in vector 0,0,0: genome_types.BUILTIN_MORPHOLOGY_PARAMETERS).
So synapse counts are exact before anything is allocated, and pairs are generated with array
arithmetic, never per neuron.
Order of the synapses of one source voxel in one rule: parts in order (vector order, pattern
pair order), then destinations in x, y, z order.
"""

from dataclasses import dataclass
import math
from typing import Iterator, List, Optional, Sequence, Tuple

from feagi_hailo_ros.brain.genome import AreaSpec, MappingRule, Morphology
from feagi_hailo_ros.brain.layout import voxel_index
import numpy as np

PATTERN_WILDCARDS = ('*', '?', '!')
MAX_AXIS_PAIRS = 1 << 27     # a per-axis relation above this is refused before it is built


class MorphologyError(ValueError):
    """A morphology whose parameters cannot be read; the builder adds file and area."""


@dataclass(frozen=True)
class AxisRelation:
    """Pairs (s, d) of source and destination coordinates on one axis, sorted by s then d."""

    s: np.ndarray
    d: np.ndarray
    size_s: int

    def counts(self) -> np.ndarray:
        """Destinations per source coordinate: int64[size_s]."""
        return np.bincount(self.s, minlength=self.size_s).astype(np.int64)

    def ranks(self) -> np.ndarray:
        """Rank of each pair among the pairs of its source coordinate."""
        if not self.s.size:
            return np.zeros(0, dtype=np.int64)
        first = np.searchsorted(self.s, self.s, side='left')
        return np.arange(self.s.size, dtype=np.int64) - first

    def __len__(self) -> int:
        return int(self.s.size)


def _relation(s: np.ndarray, d: np.ndarray, size_s: int) -> AxisRelation:
    s = np.asarray(s, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    order = np.lexsort((d, s))
    return AxisRelation(s[order], d[order], int(size_s))


@dataclass(frozen=True)
class Part:
    """The product of three per-axis relations: a block of synapses of one rule."""

    axes: Tuple[AxisRelation, AxisRelation, AxisRelation]

    @property
    def count(self) -> int:
        """Number of voxel pairs in this part."""
        return len(self.axes[0]) * len(self.axes[1]) * len(self.axes[2])


def shift_relation(size_s: int, size_d: int, offset: int) -> AxisRelation:
    """Shift relation: d = s + offset where d lies inside 0..size_d-1."""
    lo, hi = max(0, -offset), min(size_s, size_d - offset)
    if hi <= lo:     # shifted off the destination (also offsets beyond int64)
        return AxisRelation(np.zeros(0, np.int64), np.zeros(0, np.int64), size_s)
    s = np.arange(lo, hi, dtype=np.int64)
    return AxisRelation(s, s + offset, size_s)


def projector_relation(size_s: int, size_d: int) -> AxisRelation:
    """The projector of FEAGI on one axis, float32 and truncated (NEURON_MODEL §5)."""
    if size_s == size_d:
        s = np.arange(size_s, dtype=np.int64)
        return AxisRelation(s, s.copy(), size_s)
    if size_s > size_d:
        ratio = np.float32(size_s) / np.float32(size_d)
        s = np.arange(size_s, dtype=np.int64)
        d = np.trunc(s.astype(np.float32) / ratio).astype(np.int64)
        keep = d < size_d
        return AxisRelation(s[keep], d[keep], size_s)
    ratio = np.float32(size_d) / np.float32(size_s)
    d = np.arange(size_d, dtype=np.int64)
    s = np.trunc(d.astype(np.float32) / ratio).astype(np.int64)
    keep = s < size_s
    return _relation(s[keep], d[keep], size_s)


def pattern_relation(src_token, dst_token, size_s: int, size_d: int) -> AxisRelation:
    """One axis of a pattern pair: int, `*`, and in the destination `?` (same) / `!` (not)."""
    sources = np.arange(size_s, dtype=np.int64)
    if not isinstance(src_token, str):
        sources = sources[src_token:src_token + 1] if 0 <= src_token < size_s else sources[:0]
    pairs = sources.size * size_d
    if isinstance(dst_token, str) and dst_token in '*!' and pairs > MAX_AXIS_PAIRS:
        raise MorphologyError(f'pattern {src_token!r} -> {dst_token!r} on an axis of {size_s} -> '
                              f'{size_d} makes {pairs} coordinate pairs, more than '
                              f'{MAX_AXIS_PAIRS}: use a smaller area or a projector')
    if isinstance(dst_token, str):
        if dst_token == '?':
            keep = sources < size_d
            return AxisRelation(sources[keep], sources[keep].copy(), size_s)
        s = np.repeat(sources, size_d)
        d = np.tile(np.arange(size_d, dtype=np.int64), sources.size)
        if dst_token == '!':
            keep = s != d
            s, d = s[keep], d[keep]
        return AxisRelation(s, d, size_s)
    if 0 <= dst_token < size_d:
        return AxisRelation(sources, np.full(sources.size, dst_token, dtype=np.int64), size_s)
    return AxisRelation(sources[:0], sources[:0], size_s)


def _token(value, where: str):
    if isinstance(value, str):
        text = value.strip()
        if text in PATTERN_WILDCARDS:
            return text
        try:
            return int(text)
        except ValueError:
            raise MorphologyError(f'{where}: pattern element {value!r} is not an integer, '
                                  "'*', '?' or '!'") from None
    if not _is_integer(value):
        raise MorphologyError(f'{where}: pattern element {value!r} is not an integer, '
                              "'*', '?' or '!'")
    return int(value)


def _is_integer(value) -> bool:
    """True for an int or an integral finite float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def pattern_pairs(morphology: Morphology) -> Tuple[List[Tuple[list, list]], bool]:
    """The [source, destination] pattern pairs; True when the legacy unwrapped pair was read."""
    pairs = morphology.parameters.get('patterns')
    where = f'morphology {morphology.name!r}'
    if not isinstance(pairs, list):
        raise MorphologyError(f"{where}: 'patterns' is not a list of [source, destination] pairs")
    legacy = (len(pairs) == 2 and all(isinstance(p, list) for p in pairs)
              and all(not isinstance(v, list) for p in pairs for v in p))
    if legacy:
        pairs = [pairs]
    out = []
    for pair in pairs:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(p, list) and len(p) == 3 for p in pair)):
            raise MorphologyError(f'{where}: pattern pair {pair!r} is not '
                                  '[[x, y, z], [x, y, z]]')
        out.append(([_token(v, where) for v in pair[0]], [_token(v, where) for v in pair[1]]))
    return out, legacy


def vectors_of(morphology: Morphology) -> List[Tuple[int, int, int]]:
    """The integer vectors of a `vectors` morphology."""
    vectors = morphology.parameters.get('vectors')
    where = f'morphology {morphology.name!r}'
    if not isinstance(vectors, list):
        raise MorphologyError(f"{where}: 'vectors' is not a list of [x, y, z]")
    out = []
    for vector in vectors:
        if not isinstance(vector, list) or len(vector) != 3 or \
                not all(_is_integer(v) for v in vector):
            raise MorphologyError(f'{where}: vector {vector!r} is not [x, y, z] of integers')
        out.append(tuple(int(v) for v in vector))
    return out


@dataclass
class RuleParts:
    """The parts of one rule, or why it makes none (unsupported function)."""

    parts: List[Part]
    unsupported: Optional[str] = None   # morphology name when FEAGI 2.6 builds nothing for it
    legacy_pair: bool = False

    @property
    def voxel_pairs(self) -> int:
        """Synapses per source neuron copy (voxel level)."""
        return sum(p.count for p in self.parts)


class PairBudgetError(MorphologyError):
    """The per-axis coordinate pairs of a rule would exceed the memory left for them."""

    def __init__(self, pairs: int):
        super().__init__(f'more than {pairs} coordinate pairs')
        self.pairs = pairs


def pattern_pair_bound(src_token, dst_token, size_s: int, size_d: int) -> int:
    """Most coordinate pairs `pattern_relation` makes for these tokens (before building)."""
    sources = size_s if isinstance(src_token, str) else int(0 <= src_token < size_s)
    return sources * (size_d if isinstance(dst_token, str) and dst_token in '*!' else 1)


def rule_parts(src: AreaSpec, dst: AreaSpec, morphology: Morphology,
               rule: Optional[MappingRule] = None,
               max_pairs: Optional[int] = None) -> RuleParts:
    """Decompose one mapping rule into parts (the scalar is ignored, as in FEAGI 2.6).

    `max_pairs` bounds the per-axis coordinate pairs the parts may hold together (the
    builder's memory budget): PairBudgetError is raised before a relation beyond it is built.
    """
    sdims, ddims = src.dims, dst.dims
    held = 0

    def reserve(pairs: int) -> None:
        nonlocal held
        held += pairs
        if max_pairs is not None and held > max_pairs:
            raise PairBudgetError(held)

    if morphology.type == 'vectors':
        parts = []
        for v in vectors_of(morphology):
            reserve(sum(sdims))
            parts.append(Part(tuple(shift_relation(sdims[a], ddims[a], v[a])
                                    for a in range(3))))
        return RuleParts(parts)
    if morphology.type == 'patterns':
        pairs, legacy = pattern_pairs(morphology)
        parts = []
        for sp, dp in pairs:
            for a in range(3):
                reserve(pattern_pair_bound(sp[a], dp[a], sdims[a], ddims[a]))
            parts.append(Part(tuple(pattern_relation(sp[a], dp[a], sdims[a], ddims[a])
                                    for a in range(3))))
        return RuleParts(parts, legacy_pair=legacy)
    if morphology.type == 'functions' and morphology.name == 'projector':
        return RuleParts([Part(tuple(projector_relation(sdims[a], ddims[a])
                                     for a in range(3)))])
    return RuleParts([], unsupported=morphology.name)


def part_counts_grid(part: Part) -> Tuple[Tuple[np.ndarray, np.ndarray, np.ndarray],
                                          np.ndarray]:
    """Source index sets per axis and the outer product of their destination counts."""
    idx, cnt = [], []
    for axis in part.axes:
        c = axis.counts()
        u = np.flatnonzero(c)
        idx.append(u)
        cnt.append(c[u])
    grid = cnt[0][:, None, None] * cnt[1][None, :, None] * cnt[2][None, None, :]
    return (idx[0], idx[1], idx[2]), grid


def part_pairs(part: Part, src_dims: Sequence[int], dst_dims: Sequence[int],
               max_pairs: int = 1 << 22) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (src voxel, dst voxel, rank within the source voxel's pairs of this part) chunks."""
    rx, ry, rz = part.axes
    if not part.count:
        return
    cy, cz = ry.counts(), rz.counts()
    rank_x, rank_y, rank_z = rx.ranks(), ry.ranks(), rz.ranks()
    # voxel index = its x term + its (y, z) term; the (y, z) terms computed once
    src_yz = voxel_index(0, ry.s[:, None], rz.s[None, :], src_dims).ravel()
    dst_yz = voxel_index(0, ry.d[:, None], rz.d[None, :], dst_dims).ravel()
    per_yz = (cy[ry.s][:, None] * cz[rz.s][None, :]).ravel()     # targets per source (y,z)
    rank_yz = (rank_y[:, None] * cz[rz.s][None, :] + rank_z[None, :]).ravel()
    step = max(1, max_pairs // max(1, src_yz.size))
    for start in range(0, len(rx), step):
        sl = slice(start, start + step)
        src = (voxel_index(rx.s[sl, None], 0, 0, src_dims) + src_yz[None, :]).ravel()
        dst = (voxel_index(rx.d[sl, None], 0, 0, dst_dims) + dst_yz[None, :]).ravel()
        rank = (rank_x[sl, None] * per_yz[None, :] + rank_yz[None, :]).ravel()
        yield src, dst, rank
