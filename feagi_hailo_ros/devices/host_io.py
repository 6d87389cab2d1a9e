"""Host side of a device burst: fired set -> input grids; output grids checked for the engine.

Grids are in the host's natural order (X, Y, Z) (= the HEF's NHWC; devices.layout converts
to the ONNX graph's NCHW); `voxel = (x*Y + y)*Z + z`.
The value of a fired source is what NEURON_MODEL §4 step 4 multiplies the weight by: psp divided
by the total out-degree (or not, under psp_uniform), with mp_driven_psp's rounded potential.
"""

from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import DeviceError
from feagi_hailo_ros.devices.export import source_factors
from feagi_hailo_ros.devices.host_kernels import fill_sources
import numpy as np

Grid = Tuple[int, int, np.ndarray, Optional[np.ndarray]]


def driven_psp(potential: np.ndarray) -> np.ndarray:
    """Round half away from zero and clamp to 0..255 (FEAGI's mp_driven_psp), as float32."""
    v = np.asarray(potential, dtype=np.float64)
    r = np.floor(np.abs(v) + 0.5) * np.sign(v)
    return np.clip(r, 0.0, 255.0).astype(np.float32)


def quantize(array: np.ndarray, bits: int, scale: float, signed: bool) -> np.ndarray:
    """Round to the grid of `scale` and saturate to `bits` (what a Hailo tensor holds)."""
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2 ** bits - 1
    scale = np.float32(scale)
    q = np.clip(np.rint(np.asarray(array, dtype=np.float32) / scale), lo, hi)
    return (q * scale).astype(np.float32, copy=False)


class InputGrids(dict):
    """Input grids by name, with `nonzero`: where each grid may be nonzero.

    `nonzero[name]` holds the ascending flat indices (host order) outside which that grid
    is zero. A device may use it to skip the zeros (the emulator does); a Hailo reads the
    dense grids and ignores it.
    """

    nonzero: Dict[str, np.ndarray]


class PartitionIO:
    """Builds one partition's device inputs and hands its output grids to the engine."""

    def __init__(self, connectome, manifest: dict, buffers: int = 1):
        self.manifest = manifest
        self.n_neurons = connectome.n_neurons
        factors = source_factors(connectome)
        degree = connectome.out_degree().astype(np.float32)
        self.sources: List[dict] = []
        seen = set()
        for spec in manifest['inputs']:
            a = spec['area_index']
            if a in seen:
                continue
            seen.add(a)
            area = connectome.areas[a]
            span = connectome.area_neurons(a)
            self.sources.append({
                'area_index': a, 'lo': span.start, 'hi': span.stop,
                'dims': tuple(area.dims), 'n': area.neurons_per_voxel,
                'voxels': area.voxels, 'factor': factors[span].copy(),
                'divisor': np.ascontiguousarray(
                    np.ones(span.stop - span.start, np.float32) if area.psp_uniform
                    else np.maximum(degree[span], 1), dtype=np.float32),
                'mp_driven': bool(area.mp_driven_psp),
                'value': f'in_{a}',
                'spike': f'spk_{a}' if any(i['name'] == f'spk_{a}'
                                           for i in manifest['inputs']) else None})
        self._pack(buffers)
        self.targets: List[dict] = []
        limits = {o['name']: output_limits(o) for o in manifest['outputs']}
        for spec in manifest['outputs']:
            if spec['kind'] != 'current':
                continue
            lo, hi = spec['neuron_range']
            derived = spec.get('reach_from_current', False)
            reach = None if derived else f'reach_{spec["area_index"]}'
            area = connectome.areas[spec['area_index']]
            self.targets.append({'area_index': spec['area_index'], 'lo': lo, 'hi': hi,
                                 'n': spec['neurons_per_voxel'], 'current': spec['name'],
                                 'reach': reach, 'voxels': int(area.voxels),
                                 'dims': tuple(int(d) for d in area.dims),
                                 'limits': {name: limits.get(name, (-np.inf, np.inf))
                                            for name in (spec['name'], reach) if name}})

    def inputs(self, fired: np.ndarray, fired_potential: np.ndarray,
               buffer: int = 0) -> InputGrids:
        """Grids (X, Y, Z) float32 of values and spikes for the previous burst's fired set.

        One numba pass over all source areas into grid set `buffer` (of the constructor's
        `buffers`); the grids are this object's, valid until that set is filled again (only
        the voxels set last time are cleared). `nonzero` lists each grid's voxels set.
        """
        self.fill_range(buffer, 0, self.n_neurons, fired, fired_potential)
        return self.grids(buffer)

    def fill_range(self, buffer: int, lo: int, hi: int, fired: np.ndarray,
                   fired_potential: np.ndarray) -> int:
        """Fill set `buffer`'s grids of the sources lying in neurons [lo, hi); return how many.

        `fired` (ascending) and `fired_potential` hold at least the fired neurons of those
        sources, e.g. what one `BurstEngine.update(lo, hi)` fired: a hybrid fills the next
        burst's inputs area by area as the areas are updated. Calls for disjoint ranges may
        run in different threads at once.
        """
        p = self._packed
        first = int(np.searchsorted(p['lo'], lo, 'left'))
        last = int(np.searchsorted(p['hi'], hi, 'right'))
        if last <= first:
            return 0
        g = self._sets[buffer]
        fill_sources(np.ascontiguousarray(fired, dtype=np.int64),
                     np.ascontiguousarray(fired_potential, dtype=np.float32), first, last,
                     p['lo'], p['hi'], p['n'], p['mp_driven'], p['neuron_off'],
                     p['voxel_off'], p['with_spikes'], p['factor'], p['divisor'],
                     g['values'], g['spikes'], g['touched'], g['n_touched'])
        return last - first

    def grids(self, buffer: int = 0) -> InputGrids:
        """Grid set `buffer` as filled so far, with `nonzero` (views into this object)."""
        g, p = self._sets[buffer], self._packed
        grids = InputGrids(g['grids'])
        grids.nonzero = {}
        for k, s in enumerate(self.sources):
            v0 = int(p['voxel_off'][k])
            voxels = g['touched'][v0:v0 + int(g['n_touched'][k])]
            grids.nonzero[s['value']] = voxels
            if s['spike'] is not None:
                grids.nonzero[s['spike']] = voxels
        return grids

    def _pack(self, buffers: int) -> None:
        """Concatenate the sources' constants for `fill_sources`; allocate the grid sets."""
        src = self.sources
        neuron_off = np.zeros(len(src) + 1, np.int64)
        voxel_off = np.zeros(len(src) + 1, np.int64)
        neuron_off[1:] = np.cumsum([s['hi'] - s['lo'] for s in src])
        voxel_off[1:] = np.cumsum([s['voxels'] for s in src])
        empty32 = np.zeros(0, np.float32)
        self._packed = {
            'lo': np.array([s['lo'] for s in src], np.int64),
            'hi': np.array([s['hi'] for s in src], np.int64),
            'n': np.array([s['n'] for s in src], np.int64),
            'mp_driven': np.array([s['mp_driven'] for s in src], np.bool_),
            'with_spikes': np.array([s['spike'] is not None for s in src], np.bool_),
            'neuron_off': neuron_off, 'voxel_off': voxel_off,
            'factor': np.concatenate([s['factor'] for s in src] + [empty32]),
            'divisor': np.concatenate([s['divisor'] for s in src] + [empty32])}
        self._sets: List[dict] = []
        total = int(voxel_off[-1])
        for _ in range(buffers):
            g = {'values': np.zeros(total, np.float32), 'spikes': np.zeros(total, np.float32),
                 'touched': np.zeros(total, np.int64),
                 'n_touched': np.zeros(len(src), np.int64), 'grids': {}}
            for k, s in enumerate(src):
                v0, v1 = int(voxel_off[k]), int(voxel_off[k + 1])
                g['grids'][s['value']] = g['values'][v0:v1].reshape(s['dims'])
                if s['spike'] is not None:
                    g['grids'][s['spike']] = g['spikes'][v0:v1].reshape(s['dims'])
            self._sets.append(g)

    def target_grid(self, outputs: Dict[str, np.ndarray], target: dict) -> Grid:
        """Return (base, stride, current, reach) of one target for `add_current_grid`.

        Voxel v's neuron is `base + v * stride` (the last neuron of the voxel, as the CPU
        engine's synapses address it); `current` and `reach` (None when the export derives
        reach from the current) are flat float32 views in the host order. A device result
        is checked, not trusted: a missing grid, one whose shape is not the area's (X, Y, Z)
        (or flat voxel count) or whose dtype is not floating point is refused here
        (DeviceError naming the output and the reason); its values are checked by
        `value_problem` just before they are used (the pass that reads them anyway).
        """
        current = self._checked(outputs, target['current'], target)
        reach = None
        if target['reach'] is not None:
            reach = self._checked(outputs, target['reach'], target)
        return target['lo'] + target['n'] - 1, target['n'], current, reach

    @staticmethod
    def _checked(outputs: Dict[str, np.ndarray], name: str, target: dict) -> np.ndarray:
        """The output grid `name` of `target` as a flat float32 view, after the checks."""
        if name not in outputs:
            raise _bad_output(name, f'missing (got {sorted(outputs)})')
        grid = np.asarray(outputs[name])
        if grid.dtype.kind != 'f':
            raise _bad_output(name, f'dtype {grid.dtype}, expected float32 (dequantised)')
        if grid.shape not in (target['dims'], (target['voxels'],)):
            raise _bad_output(name, f'shape {grid.shape}, expected the area dims '
                                    f'{target["dims"]} ({target["voxels"]} voxels)')
        return np.ascontiguousarray(grid, dtype=np.float32).reshape(-1)

    def value_problem(self, k: int, grid: Grid) -> Optional[DeviceError]:
        """Why target k's grid (from `target_grid`) must not be used, or None.

        A value that is NaN, infinite or outside the output's quantised range is a bad
        result (DeviceError naming the output, the value and the range).
        """
        target = self.targets[k]
        for name, values in ((target['current'], grid[2]), (target['reach'], grid[3])):
            if values is None:
                continue
            if not values.size:
                continue
            low, high = target['limits'][name]
            least, most = float(values.min()), float(values.max())   # NaN propagates
            if not (low <= least and most <= high):
                bad = least if not low <= least else most
                return _bad_output(name, f'value {bad:g} is NaN, infinite or outside the '
                                         f'quantised range [{low:g}, {high:g}]')
        return None

    def checked_grids(self, outputs: Dict[str, np.ndarray]) -> List[Grid]:
        """Every target's grid with its values checked (raises the first bad result)."""
        grids = [self.target_grid(outputs, target) for target in self.targets]
        for k, grid in enumerate(grids):
            problem = self.value_problem(k, grid)
            if problem is not None:
                raise problem
        return grids


def output_limits(spec: dict) -> Tuple[float, float]:
    """The values a device output may hold: its quantised range (bits, scale, sign).

    Widened to the export's bound where that is larger (an unquantised emulation) and by
    float32 rounding.
    """
    bits, scale = int(spec['bits']), float(spec['scale'])
    bound = float(spec.get('bound', 0.0))
    if spec['kind'] == 'current':
        low, high = -(2 ** (bits - 1)) * scale, (2 ** (bits - 1) - 1) * scale
        low, high = min(low, -bound), max(high, bound)
    else:
        low, high = 0.0, max((2 ** bits - 1) * scale, bound)
    slack = 1e-6 * max(abs(low), abs(high))
    return low - slack, high + slack


def _bad_output(name: str, why: str) -> DeviceError:
    return DeviceError(f'device output {name!r}: {why}', reason=f'bad result: {name} {why}')
