"""Injection files in, fired-set records out: the JSON-lines formats of the conformance vectors.

Injections: `{"burst": b, "area": id, "x": x, "y": y, "z": z, "p": potential}` per line.
Record: `{"burst": b, "fired": [[area, x, y, z], ...]}` per burst, sorted, bursts from 0.
"""

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from feagi_hailo_ros.brain.layout import AreaLayout
import numpy as np

BurstInjections = Dict[int, Tuple[np.ndarray, np.ndarray]]
_INDEX_LIMIT = 2 ** 62    # bursts and coordinates beyond this are refused (int64 arithmetic)
_POTENTIAL_LIMIT = float(np.finfo(np.float32).max)   # potentials are float32


def read_injections(path: Union[str, Path], layout: AreaLayout) -> BurstInjections:
    """Read an injection file into {burst: (neuron indices, float32 potentials)} in file order.

    Raises ValueError naming the file and line for malformed lines (not UTF-8, not a JSON
    object, a missing key, a value that is not a number, a potential that is not finite),
    unknown areas and voxels outside their area.
    """
    rows: Dict[int, List[Tuple[int, int, int, int, float]]] = {}
    with open(path, 'rb') as handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                line = raw.decode('utf-8')
            except UnicodeDecodeError as exc:
                raise ValueError(f'{path}:{line_no}: not UTF-8 text ({exc.reason} at byte '
                                 f'{exc.start})') from None
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise TypeError(f'a line is a JSON object, not {_shown(item)}')
                missing = [key for key in ('burst', 'area', 'x', 'y', 'z', 'p')
                           if key not in item]
                if missing:
                    raise ValueError(f'{", ".join(missing)} missing (each line needs burst, '
                                     'area, x, y, z, p)')
                burst = _integer(item['burst'], 'burst')
                area = layout.area_index(str(item['area']))
                row = (area, _integer(item['x'], 'x'), _integer(item['y'], 'y'),
                       _integer(item['z'], 'z'), float(item['p']))
                if not abs(row[4]) <= _POTENTIAL_LIMIT:     # also NaN
                    raise ValueError(f'p {_shown(item["p"])} is not a finite potential')
            except KeyError as exc:     # unknown area: the message names the brain's areas
                raise ValueError(f'{path}:{line_no}: {exc.args[0] if exc.args else exc}') \
                    from None
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f'{path}:{line_no}: cannot read injection: '
                                 f'{" ".join(str(exc).split())}') from None
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


def _integer(value: Any, key: str) -> int:
    """An integer field of an injection line (ints, integral numbers, numeric text)."""
    if isinstance(value, bool) or isinstance(value, (list, dict)) or value is None:
        raise TypeError(f'{key} {_shown(value)} is not an integer')
    number = int(value) if isinstance(value, (int, str)) else value
    if isinstance(number, float) and (not math.isfinite(number) or number != int(number)):
        raise ValueError(f'{key} {_shown(value)} is not an integer')
    number = int(number)
    if not -_INDEX_LIMIT <= number < _INDEX_LIMIT:
        raise ValueError(f'{key} {_shown(value)} is out of range')
    return number


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


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


class WeightRecorder:
    """Write one JSON line per burst with every synapse's weight, as the conformance files.

    `{"burst": b, "synapses": [[[src area, x, y, z], [dst area, x, y, z], weight], ...]}`,
    sorted: every synapse as FEAGI holds it (n copies for n neurons per source voxel), the
    weight as a magnitude (an inhibitory synapse's sign is not part of its weight).
    """

    def __init__(self, path: Union[str, Path], model):
        self._handle = open(path, 'w', encoding='utf-8')
        self._model = model
        syn = model.synapses
        degree = np.diff(np.asarray(syn.indptr, np.int64))
        source = np.repeat(np.arange(degree.size, dtype=np.int64), degree)
        self._static = [[s, t, w] for s, t, w in zip(
            self._voxels(source), self._voxels(syn.target),
            np.abs(np.asarray(syn.weight, np.float32)).tolist())]
        plastic = model.plastic
        self._plastic_ends = [] if plastic is None else list(zip(
            self._voxels(plastic.source), self._voxels(plastic.target)))

    def _voxels(self, neurons) -> List[list]:
        layout = self._model.layout
        area, x, y, z = layout.coords(np.asarray(neurons, dtype=np.int64))
        ids = layout.ids
        return [[ids[a], xx, yy, zz] for a, xx, yy, zz in
                zip(area.tolist(), x.tolist(), y.tolist(), z.tolist())]

    def write(self, burst: int, plastic_weights: Optional[np.ndarray]) -> None:
        """Append one burst's line; `plastic_weights` are the plastic pairs' magnitudes."""
        rows = list(self._static)
        if plastic_weights is not None:
            rows += [[s, t, w] for (s, t), w in zip(self._plastic_ends,
                                                    np.asarray(plastic_weights).tolist())]
        rows.sort()
        self._handle.write(json.dumps({'burst': int(burst), 'synapses': rows}) + '\n')

    def close(self) -> None:
        """Close the file."""
        self._handle.close()
