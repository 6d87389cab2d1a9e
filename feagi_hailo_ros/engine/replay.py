"""Injection files in, fired-set records out: the JSON-lines formats of the conformance vectors.

Injections: `{"burst": b, "area": id, "x": x, "y": y, "z": z, "p": potential}` per line.
Record: `{"burst": b, "fired": [[area, x, y, z], ...]}` per burst, sorted, bursts from 0.
"""

import json
from pathlib import Path
from typing import Dict, List, Tuple, Union

from feagi_hailo_ros.brain.layout import AreaLayout
import numpy as np

BurstInjections = Dict[int, Tuple[np.ndarray, np.ndarray]]


def read_injections(path: Union[str, Path], layout: AreaLayout) -> BurstInjections:
    """Read an injection file into {burst: (neuron indices, float32 potentials)} in file order.

    Raises ValueError naming the file and line for malformed lines, unknown areas and
    voxels outside their area.
    """
    rows: Dict[int, List[Tuple[int, int, int, int, float]]] = {}
    with open(path, encoding='utf-8') as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                burst = int(item['burst'])
                area = layout.area_index(str(item['area']))
                row = (area, int(item['x']), int(item['y']), int(item['z']), float(item['p']))
            except KeyError as exc:
                raise ValueError(f'{path}:{line_no}: {exc.args[0] if exc.args else exc} '
                                 f'(each line needs burst, area, x, y, z, p)') from None
            except (TypeError, ValueError) as exc:
                raise ValueError(f'{path}:{line_no}: cannot read injection: {exc}') from None
            if burst < 0:
                raise ValueError(f'{path}:{line_no}: burst must be >= 0, got {burst}')
            rows.setdefault(burst, []).append(row)
    out: BurstInjections = {}
    for burst, items in rows.items():
        table = np.array([r[:4] for r in items], dtype=np.int64).reshape(-1, 4)
        potentials = np.array([r[4] for r in items], dtype=np.float32)
        indices = np.empty(len(items), dtype=np.int64)
        for area in np.unique(table[:, 0]):
            sel = table[:, 0] == area
            try:
                indices[sel] = layout.voxel_neuron(int(area), table[sel, 1], table[sel, 2],
                                                   table[sel, 3])
            except ValueError as exc:
                raise ValueError(f'{path}: burst {burst}: {exc}') from None
        out[burst] = (indices, potentials)
    return out


class FiredRecorder:
    """Write one JSON line per burst with the fired voxels, sorted, as the conformance files."""

    def __init__(self, path: Union[str, Path], layout: AreaLayout):
        self.layout = layout
        self._handle = open(path, 'w', encoding='utf-8')
        ids = list(layout.ids)
        self._index_sorted = ids == sorted(ids)

    def write(self, burst: int, fired: np.ndarray) -> None:
        """Append the line of one burst (fired neuron indices, any order)."""
        area, x, y, z = self.layout.coords(np.asarray(fired, dtype=np.int64))
        ids = self.layout.ids
        voxels = [[ids[a], xx, yy, zz] for a, xx, yy, zz in
                  zip(area.tolist(), x.tolist(), y.tolist(), z.tolist())]
        if not self._index_sorted or np.any(np.diff(fired) < 0):
            voxels.sort()
        self._handle.write(json.dumps({'burst': int(burst), 'fired': voxels}) + '\n')

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> 'FiredRecorder':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
