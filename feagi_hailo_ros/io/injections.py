"""Sensory injections as struct-of-arrays: (area index, x, y, z, potential), sorted."""

from dataclasses import dataclass
from typing import Iterator, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class Injections:
    """Neurons to inject, sorted by area index, x, y, z.

    `area_index` indexes `area_ids` (the ids of the area list the encoder was built from), so
    `area_ids[area_index[k]]` is the area of injection k.
    """

    area_ids: Tuple[str, ...]
    area_index: np.ndarray  # int32
    x: np.ndarray           # int32
    y: np.ndarray           # int32
    z: np.ndarray           # int32
    p: np.ndarray           # float32

    def __len__(self) -> int:
        """Return the number of injections."""
        return int(self.p.size)

    def by_area(self) -> Iterator[Tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (area_id, x, y, z, p) per area that has injections, in area order."""
        for index, x, y, z, p in self.by_area_index():
            yield self.area_ids[index], x, y, z, p

    def by_area_index(self) -> Iterator[Tuple[int, np.ndarray, np.ndarray, np.ndarray,
                                              np.ndarray]]:
        """Yield (area index, x, y, z, p) per area that has injections, in area order."""
        if not self.p.size:
            return
        starts = np.flatnonzero(np.diff(self.area_index, prepend=-1))
        ends = np.append(starts[1:], self.p.size)
        for start, end in zip(starts, ends):
            yield (int(self.area_index[start]), self.x[start:end], self.y[start:end],
                   self.z[start:end], self.p[start:end])

    @staticmethod
    def empty(area_ids: Sequence[str] = ()) -> 'Injections':
        """Return injections with no neurons."""
        i32 = np.zeros(0, np.int32)
        return Injections(tuple(area_ids), i32, i32, i32, i32, np.zeros(0, np.float32))

    @staticmethod
    def concatenate(parts: Sequence['Injections']) -> 'Injections':
        """Join injections of one area list and re-sort by (area, x, y, z)."""
        if not parts:
            return Injections.empty()
        ids = parts[0].area_ids
        if any(part.area_ids != ids for part in parts):
            raise ValueError('cannot join injections built from different area lists')
        cols = [np.concatenate([getattr(part, name) for part in parts])
                for name in ('area_index', 'x', 'y', 'z', 'p')]
        order = np.lexsort((cols[3], cols[2], cols[1], cols[0]))
        return Injections(ids, *(col[order] for col in cols))
