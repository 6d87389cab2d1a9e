"""Host side of a device burst: fired set -> input grids; output grids checked for the engine.

Grids are in the host's natural order (X, Y, C) (= the HEF's NHWC; devices.layout converts
to the ONNX graph's NCHW); an area's voxel `(x*Y + y)*Z + z` sits in its tensor's channels
[offset, offset + Z) (devices.stacking).
The value of a fired source is what NEURON_MODEL §4 step 4 multiplies the weight by: psp divided
by the total out-degree (or not, under psp_uniform), with mp_driven_psp's rounded potential.
"""

from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import DeviceError
from feagi_hailo_ros.devices.hef_streams import expected_quant
from feagi_hailo_ros.devices.host_kernels import fill_sources, place_sources, split_channels
from feagi_hailo_ros.devices.operators import source_factors
import numpy as np

Grid = Tuple[int, int, np.ndarray, Optional[np.ndarray]]


def driven_psp(potential: np.ndarray) -> np.ndarray:
    """Round half away from zero and clamp to 0..255 (FEAGI's mp_driven_psp), as float32."""
    v = np.asarray(potential, dtype=np.float64)
    r = np.floor(np.abs(v) + 0.5) * np.sign(v)
    return np.clip(r, 0.0, 255.0).astype(np.float32)


def quant_grid(spec: dict, manifest: dict) -> Optional[Tuple[float, float, float]]:
    """(lo, hi, scale) a tensor's values are rounded to, in steps of scale; None: identity.

    As a HEF quantises (HailoRT: q = clip(rint(x / qp_scale + qp_zp), 0, 2^bits - 1), value
    (q - qp_zp) * qp_scale): the compile report's `hef_quant` when the manifest has it, else
    the manifest's scale with the zero point its model script forces (mid-range for
    currents). A tensor the manifest marks exact (integers on a unit grid within range) and
    without a compile report is left as it is. A fractional zero point is rounded.
    """
    recorded = spec['name'] in (manifest.get('hef_quant') or {})
    if not recorded and spec.get('exact', True) and not spec.get('saturates', False):
        return None
    scale, zero, _ = expected_quant(spec, manifest, spec['name'])
    zero = float(np.rint(zero))
    return -zero, float(2 ** int(spec['bits']) - 1) - zero, scale


def inexact_reason(spec: dict, manifest: dict) -> Optional[str]:
    """Why an output is not exact under its quantisation (`quant_grid`), or None if it is.

    Exact: integer currents (the manifest's `exact`) on a unit grid whose range holds the
    output's bound.
    """
    if not spec.get('exact', False):
        return f'inexact by export (error bound {spec.get("error_bound", 0):g})'
    grid = quant_grid(spec, manifest)
    if grid is None:
        return None
    lo, hi, scale = grid
    bound = float(spec.get('bound', spec.get('max', 0.0)))
    if scale != 1.0:
        return f'compiled with qp_scale {scale:g} (exact needs 1)'
    if hi < bound or (spec.get('kind') == 'current' and -lo < bound):
        return f'compiled range [{lo:g}, {hi:g}] does not hold its bound {bound:g}'
    return None


def quantize_grid(array: np.ndarray, grid: Tuple[float, float, float]) -> np.ndarray:
    """Round to a `quant_grid` (lo, hi, scale): what the tensor holds after the chip."""
    lo, hi, scale = grid
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
    """Builds one partition's stacked device inputs and hands its targets' grids to the engine.

    The manifest's tensors stack areas on channels (devices.stacking): each source area is
    filled once per burst (host order) and copied into every tensor that holds it; each
    target's current (and reach) is read back from the channels or columns its members name.
    """

    def __init__(self, connectome, manifest: dict, buffers: int = 1):
        self.manifest = manifest
        self.n_neurons = connectome.n_neurons
        factors = source_factors(connectome)
        degree = connectome.out_degree().astype(np.float32)
        self._tensors = {spec['name']: spec for spec in manifest['inputs'] + manifest['outputs']}
        placements: Dict[int, list] = {}
        for spec in manifest['inputs']:
            for m in spec['members']:
                placements.setdefault(m['area_index'], []).append((spec, m))
        self.sources: List[dict] = []
        for a in sorted(placements, key=lambda a: connectome.area_neurons(a).start):
            area = connectome.areas[a]
            span = connectome.area_neurons(a)
            self.sources.append({
                'area_index': a, 'lo': span.start, 'hi': span.stop,
                'dims': tuple(int(d) for d in area.dims), 'n': area.neurons_per_voxel,
                'voxels': area.voxels, 'factor': factors[span].copy(),
                'divisor': np.ascontiguousarray(
                    np.ones(span.stop - span.start, np.float32) if area.psp_uniform
                    else np.maximum(degree[span], 1), dtype=np.float32),
                'mp_driven': bool(area.mp_driven_psp), 'placements': placements[a]})
        self._pack(buffers)
        self._members = {}          # grid output -> (offsets, depths, buffer, buffer offsets)
        for spec in manifest['outputs']:
            if len(spec['dims']) == 3:
                sizes = [int(np.prod(m['dims'])) for m in spec['members']]
                self._members[spec['name']] = (
                    np.array([m['offset'] for m in spec['members']], np.int64),
                    np.array([m['dims'][2] for m in spec['members']], np.int64),
                    np.zeros(sum(sizes), np.float32),
                    np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64))
        self._split: Optional[Dict[str, bool]] = None
        self.targets: List[dict] = []
        parts: Dict[int, dict] = {}
        for spec in manifest['outputs']:
            for m in spec['members']:
                entry = parts.setdefault(m['area_index'], {'current': [], 'count': []})
                entry[m['kind']].append((spec['name'], int(m['offset'])))
        for b in sorted(parts):
            area = connectome.areas[b]
            span = connectome.area_neurons(b)
            dims = tuple(int(d) for d in area.dims)
            current, count = parts[b]['current'], parts[b]['count']
            self.targets.append({
                'area_index': b, 'lo': span.start, 'hi': span.stop,
                'n': area.neurons_per_voxel, 'voxels': int(area.voxels), 'dims': dims,
                'current': current, 'reach': count or None,
                'names': sorted({name for name, _ in current + count}),
                'limits': {kind: _sum_limits([self._tensors[n] for n, _ in ps])
                           for kind, ps in (('current', current), ('reach', count)) if ps},
                'buffers': {'current': np.zeros(area.voxels, np.float32),
                            'reach': np.zeros(area.voxels, np.float32)}})

    def inputs(self, fired: np.ndarray, fired_potential: np.ndarray,
               buffer: int = 0) -> InputGrids:
        """Stacked input grids (X, Y, C) float32 for the previous burst's fired set.

        One numba pass over all source areas into grid set `buffer` (of the constructor's
        `buffers`); the grids are this object's, valid until that set is filled again (only
        the entries set last time are cleared). `nonzero` lists each grid's entries set.
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
        place = (first, last, g['n_touched'], p['voxel_off'], g['touched'], g['values'],
                 p['pl_ptr'], p['pl_params'], g['placed'], g['buffer'])
        place_sources(*place, True)
        fill_sources(np.ascontiguousarray(fired, dtype=np.int64),
                     np.ascontiguousarray(fired_potential, dtype=np.float32), first, last,
                     p['lo'], p['hi'], p['n'], p['mp_driven'], p['neuron_off'],
                     p['voxel_off'], p['no_spikes'], p['factor'], p['divisor'],
                     g['values'], g['values'], g['touched'], g['n_touched'])
        place_sources(*place, False)
        return last - first

    def grids(self, buffer: int = 0) -> InputGrids:
        """Grid set `buffer` as filled so far, with `nonzero` (views into this object)."""
        g = self._sets[buffer]
        grids = InputGrids(g['grids'])
        grids.nonzero = {}
        for name, spans in self._placed_spans.items():
            lists = [g['placed'][at:at + int(g['n_touched'][s])] for s, at in spans]
            grids.nonzero[name] = lists[0] if len(lists) == 1 else np.concatenate(lists)
        return grids

    def _pack(self, buffers: int) -> None:
        """Concatenate the sources' constants and placements; allocate the grid sets."""
        src = self.sources
        neuron_off = np.zeros(len(src) + 1, np.int64)
        voxel_off = np.zeros(len(src) + 1, np.int64)
        neuron_off[1:] = np.cumsum([s['hi'] - s['lo'] for s in src])
        voxel_off[1:] = np.cumsum([s['voxels'] for s in src])
        bases, total = {}, 0
        for spec in self.manifest['inputs']:
            bases[spec['name']] = total
            total += int(np.prod(spec['dims']))
        params, pl_ptr, at = [], [0], 0
        self._placed_spans: Dict[str, list] = {spec['name']: []
                                               for spec in self.manifest['inputs']}
        for k, s in enumerate(src):
            for spec, m in s['placements']:
                x_c, y_c, c = (int(d) for d in spec['dims'])
                params.append((bases[spec['name']], y_c, c, int(m['offset']), s['dims'][1],
                               s['dims'][2], int(m['kind'] == 'spike'), at))
                self._placed_spans[spec['name']].append((k, at))
                at += int(s['voxels'])
            pl_ptr.append(len(params))
        empty32 = np.zeros(0, np.float32)
        self._packed = {
            'lo': np.array([s['lo'] for s in src], np.int64),
            'hi': np.array([s['hi'] for s in src], np.int64),
            'n': np.array([s['n'] for s in src], np.int64),
            'mp_driven': np.array([s['mp_driven'] for s in src], np.bool_),
            'no_spikes': np.zeros(len(src), np.bool_),
            'neuron_off': neuron_off, 'voxel_off': voxel_off,
            'pl_ptr': np.array(pl_ptr, np.int64),
            'pl_params': np.array(params, np.int64).reshape(-1, 8),
            'factor': np.concatenate([s['factor'] for s in src] + [empty32]),
            'divisor': np.concatenate([s['divisor'] for s in src] + [empty32])}
        self._sets: List[dict] = []
        for _ in range(buffers):
            g = {'values': np.zeros(int(voxel_off[-1]), np.float32),
                 'touched': np.zeros(int(voxel_off[-1]), np.int64),
                 'n_touched': np.zeros(len(src), np.int64),
                 'placed': np.zeros(at, np.int64), 'buffer': np.zeros(total, np.float32),
                 'grids': {}}
            for spec in self.manifest['inputs']:
                b0 = bases[spec['name']]
                size = int(np.prod(spec['dims']))
                g['grids'][spec['name']] = g['buffer'][b0:b0 + size].reshape(spec['dims'])
            self._sets.append(g)

    def target_grids(self, outputs: Dict[str, np.ndarray]) -> List[Grid]:
        """`target_grid` of every target; an interleaved (X, Y, C) output is split once."""
        self._split = {}
        try:
            return [self.target_grid(outputs, target) for target in self.targets]
        finally:
            self._split = None

    def target_grid(self, outputs: Dict[str, np.ndarray], target: dict) -> Grid:
        """Return (base, stride, current, reach) of one target for `add_current_grid`.

        Voxel v's neuron is `base + v * stride` (the last neuron of the voxel, as the CPU
        engine's synapses address it); `current` and `reach` (synapse counts; None when the
        export derives reach from the current) are flat float32 in the host order: views of
        the device's output where its layout allows (a flat output, a planar grid as the
        emulator's), else this object's buffers (channels de-interleaved in one numba pass;
        several parts summed). A device result is checked, not trusted: a missing output,
        one whose shape is not the manifest's (or its flat size) or whose dtype is not
        floating point is refused here (DeviceError naming the output and the reason); its
        values are checked by `value_problem` just before they are used.
        """
        grids = {name: self._checked(outputs, name) for name in target['names']}
        current = self._gather(grids, target, 'current')
        reach = None if target['reach'] is None else self._gather(grids, target, 'reach')
        return target['lo'] + target['n'] - 1, target['n'], current, reach

    def _part(self, grids: Dict[str, np.ndarray], name: str, offset: int,
              target: dict) -> np.ndarray:
        """One member of an output as a flat host-order array (a view where possible)."""
        grid = grids[name]
        if grid.ndim == 1:
            return grid[offset:offset + target['voxels']]
        x, y, z = target['dims']
        part = grid[:, :, offset:offset + z]
        item = grid.itemsize
        if part.flags.c_contiguous or (z == 1 and part.strides[:2] == (y * item, item)):
            return part.reshape(-1)                 # planar channel or a lone member
        offsets, depths, buffer, starts = self._members[name]
        k = int(np.searchsorted(offsets, offset))
        if self._split is None:                     # one target alone: its member only
            split_channels(grid, offsets[k:k + 1], depths[k:k + 1], buffer, starts[k:k + 1])
        elif name not in self._split:               # every member of the grid at once
            split_channels(grid, offsets, depths, buffer, starts)
            self._split[name] = True
        return buffer[starts[k]:starts[k] + target['voxels']]

    def _gather(self, grids: Dict[str, np.ndarray], target: dict, kind: str) -> np.ndarray:
        """The target's current or counts: its one part, or the sum of its parts."""
        parts = [self._part(grids, name, offset, target) for name, offset in target[kind]]
        if len(parts) == 1:
            return parts[0]
        out = target['buffers'][kind]
        np.copyto(out, parts[0])
        for part in parts[1:]:
            np.add(out, part, out=out)
        return out

    def _checked(self, outputs: Dict[str, np.ndarray], name: str) -> np.ndarray:
        """The output grid `name` in its manifest shape, after the checks."""
        if name not in outputs:
            raise _bad_output(name, f'missing (got {sorted(outputs)})')
        grid = np.asarray(outputs[name])
        if grid.dtype.kind != 'f':
            raise _bad_output(name, f'dtype {grid.dtype}, expected float32 (dequantised)')
        dims = tuple(self._tensors[name]['dims'])
        size = int(np.prod(dims))
        if grid.shape not in (dims, (size,)):
            raise _bad_output(name, f'shape {grid.shape}, expected {dims} ({size} values)')
        return grid.astype(np.float32, copy=False).reshape(dims)

    def value_problem(self, k: int, grid: Grid) -> Optional[DeviceError]:
        """Why target k's grid (from `target_grid`) must not be used, or None.

        A value that is NaN, infinite or outside its outputs' quantised range is a bad
        result (DeviceError naming the outputs, the value and the range).
        """
        target = self.targets[k]
        for kind, values in (('current', grid[2]), ('reach', grid[3])):
            if values is None or not values.size:
                continue
            low, high = target['limits'][kind]
            least, most = float(values.min()), float(values.max())   # NaN propagates
            if not (low <= least and most <= high):
                bad = least if not low <= least else most
                names = '+'.join(name for name, _ in target[kind if kind == 'current'
                                                            else 'reach'])
                return _bad_output(names, f'{kind} of area {target["area_index"]}: value '
                                          f'{bad:g} is NaN, infinite or outside the '
                                          f'quantised range [{low:g}, {high:g}]')
        return None

    def checked_grids(self, outputs: Dict[str, np.ndarray]) -> List[Grid]:
        """Every target's grid with its values checked (raises the first bad result)."""
        grids = self.target_grids(outputs)
        for k, grid in enumerate(grids):
            problem = self.value_problem(k, grid)
            if problem is not None:
                raise problem
        return grids


def _sum_limits(specs: List[dict]) -> Tuple[float, float]:
    """The range of a sum of parts, one from each output."""
    ranges = [output_limits(spec) for spec in specs]
    return sum(r[0] for r in ranges), sum(r[1] for r in ranges)


def output_limits(spec: dict) -> Tuple[float, float]:
    """The values a device output may hold: its quantised range (bits, scale, sign).

    Widened to the export's bound where that is larger (an unquantised emulation) and by
    float32 rounding.
    """
    bits, scale = int(spec['bits']), float(spec['scale'])
    bound = max(float(spec.get('bound', 0.0)), float(spec.get('count_bound', 0.0)))
    if spec['kind'] == 'current':
        low, high = -(2 ** (bits - 1)) * scale, (2 ** (bits - 1) - 1) * scale
        low, high = min(low, -bound), max(high, bound)
    else:
        low, high = 0.0, max((2 ** bits - 1) * scale, bound)
    slack = 1e-6 * max(abs(low), abs(high))
    return low - slack, high + slack


def _bad_output(name: str, why: str) -> DeviceError:
    return DeviceError(f'device output {name!r}: {why}', reason=f'bad result: {name} {why}')
