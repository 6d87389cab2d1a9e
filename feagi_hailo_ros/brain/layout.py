"""Where a brain's neurons lie: areas by id or alias, voxels (x, y, z), neurons of a voxel.

Areas hold consecutive neurons from `area_start[a]`; inside an area the neuron index is
((x*Y + y)*Z + z)*n + k, x outermost, n neurons per voxel, and only the voxel's last
neuron (k = n-1) receives synapses and injections. The one implementation of these rules:
the connectome, the engine, the devices and the tools all use it.
"""

from typing import Dict, List, Optional, Sequence, Tuple

from feagi_hailo_ros.brain.ids import aliases
import numpy as np

Coords = Tuple[np.ndarray, np.ndarray, np.ndarray]


def voxel_coords(voxel, dims) -> Coords:
    """Return (x, y, z) int64 of flat voxel indices; dims: one (X, Y, Z) or one per voxel."""
    voxel = np.asarray(voxel, dtype=np.int64)
    dims = np.asarray(dims, dtype=np.int64)
    ny, nz = dims[..., 1], dims[..., 2]
    return voxel // (ny * nz), (voxel // nz) % ny, voxel % nz


def voxel_index(x, y, z, dims) -> np.ndarray:
    """Return the flat voxel index (x*Y + y)*Z + z (int64, no range check)."""
    dims = np.asarray(dims, dtype=np.int64)
    x, y, z = (np.asarray(v, dtype=np.int64) for v in (x, y, z))
    return (x * dims[..., 1] + y) * dims[..., 2] + z


def find_area(area_id: str, ids: Sequence[str]) -> Optional[int]:
    """Return the index of an id in `ids`, else of the first area it is an alias of; or None.

    Aliases are a 2.x id's decoded text and the legacy / 2.x spellings of the same area
    (`brain.ids.aliases`): `iic400` finds the area `aXN2aUkAAAA=` and back.
    """
    for i, known in enumerate(ids):
        if known == area_id:
            return i
    for i, known in enumerate(ids):
        if area_id in aliases(known):
            return i
    return None


class AreaLayout:
    """Area ids, sizes (X, Y, Z), neurons per voxel and first neurons of one brain."""

    def __init__(self, ids: Sequence[str], dims, neurons_per_voxel, area_start):
        self.ids: List[str] = list(ids)
        self.dims = np.asarray(dims, dtype=np.int64).reshape(-1, 3)             # int64[A, 3]
        self.neurons_per_voxel = np.asarray(neurons_per_voxel, dtype=np.int64)  # int64[A]
        self.area_start = np.asarray(area_start, dtype=np.int64)                # int64[A+1]
        if not (len(self.ids) == self.dims.shape[0] == self.neurons_per_voxel.size
                == self.area_start.size - 1):
            raise ValueError(f'area layout: {len(self.ids)} ids, {self.dims.shape[0]} dims, '
                             f'{self.neurons_per_voxel.size} neurons per voxel and '
                             f'{self.area_start.size} area starts do not describe one brain')
        self._index: Dict[str, int] = {area_id: i for i, area_id in enumerate(self.ids)}

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_areas(cls, areas: Sequence) -> 'AreaLayout':
        """Build the layout of AreaSpec-like areas (`id`, `dims`, `neurons_per_voxel`)."""
        npv = np.array([a.neurons_per_voxel for a in areas], dtype=np.int64)
        dims = np.array([tuple(a.dims) for a in areas], dtype=np.int64).reshape(-1, 3)
        start = np.zeros(len(areas) + 1, dtype=np.int64)
        np.cumsum(dims.prod(axis=1) * npv, out=start[1:])
        return cls([a.id for a in areas], dims, npv, start)

    @classmethod
    def from_arrays(cls, area_start: Sequence[int], ids: Sequence[str] = (), dims=None,
                    neurons_per_voxel=None) -> 'AreaLayout':
        """Build a layout from plain arrays; areas default to 1-D grids (N_a x 1 x 1).

        `ids` default to `a0000`, `a0001`, ...; `neurons_per_voxel` to 1.
        """
        start = np.asarray(area_start, dtype=np.int64)
        if start.ndim != 1 or start.size < 2 or start[0] != 0 or np.any(np.diff(start) < 0):
            raise ValueError('area_start must be non-decreasing int offsets from 0, length A+1')
        n_areas = start.size - 1
        sizes = np.diff(start)
        ids = list(ids) or [f'a{i:04d}' for i in range(n_areas)]
        n_per = (np.ones(n_areas, dtype=np.int64) if neurons_per_voxel is None
                 else np.asarray(neurons_per_voxel, dtype=np.int64))
        if dims is None:
            dims = np.stack([sizes // n_per, np.ones(n_areas, np.int64),
                             np.ones(n_areas, np.int64)], axis=1)
        dims = np.asarray(dims, dtype=np.int64).reshape(n_areas, 3)
        if np.any(dims.prod(axis=1) * n_per != sizes):
            raise ValueError('area sizes differ from dims x neurons_per_voxel')
        return cls(ids, dims, n_per, start)

    # ---- sizes --------------------------------------------------------------------------
    @property
    def n_areas(self) -> int:
        """Return the number of areas A."""
        return len(self.ids)

    @property
    def n_neurons(self) -> int:
        """Return the number of neurons N."""
        return int(self.area_start[-1])

    @property
    def nbytes(self) -> int:
        """Return the bytes of the layout's arrays (dims, neurons per voxel, area starts)."""
        return int(self.dims.nbytes + self.neurons_per_voxel.nbytes + self.area_start.nbytes)

    # ---- areas --------------------------------------------------------------------------
    def area_index(self, area_id: str) -> int:
        """Return the index of an area by id, a 2.x id's decoded text, or its legacy/2.x twin.

        Raises KeyError naming the brain's areas when there is none.
        """
        index = self._index.get(area_id)
        if index is None:
            index = find_area(area_id, self.ids)
            if index is None:
                raise KeyError(f'no area {area_id!r} in this brain '
                               f'(areas: {", ".join(self.ids)})')
            self._index[area_id] = index
        return index

    def area_neurons(self, area: int) -> slice:
        """Return the neuron index range of an area."""
        return slice(int(self.area_start[area]), int(self.area_start[area + 1]))

    # ---- neurons <-> voxels -------------------------------------------------------------
    def voxel_neuron(self, area: int, x, y, z) -> np.ndarray:
        """Return the receiving neuron (last of the voxel) of each (x, y, z) in an area.

        Raises ValueError naming the area, the first voxel outside it and its size.
        """
        x, y, z = (np.asarray(v, dtype=np.int64) for v in (x, y, z))
        nx, ny, nz = (int(d) for d in self.dims[area])
        bad = (x < 0) | (x >= nx) | (y < 0) | (y >= ny) | (z < 0) | (z >= nz)
        if np.any(bad):
            where = int(np.flatnonzero(bad)[0])
            bx, by, bz = (np.broadcast_to(v, bad.shape).reshape(-1)[where] for v in (x, y, z))
            raise ValueError(f'area {self.ids[area]!r}: voxel ({bx}, {by}, {bz}) is outside '
                             f'its size {nx}x{ny}x{nz}')
        return self.receiving_neuron(area, voxel_index(x, y, z, self.dims[area]))

    def first_neuron(self, area: int, voxel) -> np.ndarray:
        """Return the first neuron (k = 0) of flat voxel indices of an area (int64)."""
        n_per = int(self.neurons_per_voxel[area])
        return self.area_start[area] + np.asarray(voxel, dtype=np.int64) * n_per

    def receiving_neuron(self, area: int, voxel) -> np.ndarray:
        """Return the receiving neuron (last of the voxel) of flat voxel indices of an area."""
        return self.first_neuron(area, voxel) + (int(self.neurons_per_voxel[area]) - 1)

    def receivers(self, area: int) -> np.ndarray:
        """Return the receiving neurons of every voxel of an area, ascending (int64)."""
        n_per = max(1, int(self.neurons_per_voxel[area]))
        return np.arange(int(self.area_start[area]) + n_per - 1, int(self.area_start[area + 1]),
                         n_per, dtype=np.int64)

    def coords(self, indices) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (area index, x, y, z) int64 arrays of neuron indices (the voxel of each).

        Raises ValueError for an index outside 0..N-1.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.area_start[-1]):
            bad = idx[(idx < 0) | (idx >= self.area_start[-1])].reshape(-1)[0]
            raise ValueError(f'neuron index {bad} is outside 0..{self.n_neurons - 1}')
        area = np.searchsorted(self.area_start, idx, side='right') - 1
        voxel = (idx - self.area_start[area]) // self.neurons_per_voxel[area]
        x, y, z = voxel_coords(voxel, self.dims[area])
        return area, x, y, z

    def area_coords(self, area: int) -> Coords:
        """Return (x, y, z) int64 arrays of every neuron of an area, in index order."""
        n_per = max(1, int(self.neurons_per_voxel[area]))
        count = int(self.area_start[area + 1] - self.area_start[area])
        return voxel_coords(np.arange(count, dtype=np.int64) // n_per, self.dims[area])

    def __repr__(self) -> str:
        return f'AreaLayout({self.n_areas} areas, {self.n_neurons} neurons)'
