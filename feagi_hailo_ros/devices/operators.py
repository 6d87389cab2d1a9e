"""Recognise each area pair's synapses as a structured linear operator a Hailo-8 can run.

The operator of a (source area, destination area) pair is read from the synapses themselves
(the connectome's CSR), not from the morphology's name, so the device computes exactly the
synapses the CPU engine propagates. All rules between the two areas add up (NEURON_MODEL §4: inputs
of duplicate synapses add). Forms, cheapest first (fewest device weights wins), all inside
the Hailo DFC's safe subset (HAILORT.md, "Compiling a graph into a HEF"):
- `conv`, stride 1: translation-invariant (`vectors`, `block_to_block`, shift-invariant
  patterns) from a grid no larger than the target's: a Conv2D over (x, y), z on channels, the
  vectors in the smallest odd window centred on offset 0 ("same" padding; the host pads a
  smaller source grid with zeros to the target's size).
- `conv`, stride f: a projector-like integer block downscale (target voxel = source voxel
  // f per axis, one weight): kernel 2f-1 with the block in its lower quadrant.
- `dense`: any pair with at most `dense_limit` source x destination voxels: Flatten, MatMul.
- `cpu`: the rest (irregular and large, a conv that would need a crop, an upscale too large
  for a dense block, plastic, not voxel-aligned), with the reason.
A second set of weights, the synapse counts, gives candidacy (reach) from the spikes.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.brain.layout import voxel_coords
from feagi_hailo_ros.brain.plasticity import PlasticParams
import numpy as np

DENSE_LIMIT = 4_000_000        # src x dst voxels for a dense block (int8/16: <= 4-8 MB)
MAX_CONV_TAPS = 31 * 31        # spatial kernel taps (kx * ky) accepted for a conv


@dataclass
class PairSynapses:
    """The synapses from one area to another, at voxel level, aggregated per voxel pair."""

    src: int
    dst: int
    src_vox: np.ndarray          # int64[E]: source voxel (x*Y + y)*Z + z
    dst_vox: np.ndarray          # int64[E]
    weight: np.ndarray           # int64[E]: summed signed weight of all synapses of the pair
    count: np.ndarray            # int64[E]: number of synapses (>= 1) of the pair
    synapses: int
    problem: str = ''            # why the pair cannot be expressed per voxel ('' = it can)


@dataclass
class Operator:
    """Where one area pair's integration runs, why, and the constants to build it."""

    src: int
    dst: int
    src_id: str
    dst_id: str
    form: str                    # conv | dense | cpu
    reason: str
    synapses: int
    device_weights: int = 0
    morphologies: List[str] = field(default_factory=list)
    # conv: kernel[zd, zs, kx, ky] (weights) and reach_kernel (synapse counts), odd and
    # centred: with stride 1, index (px - dx, py - dy) adds in[s] to out[s + d]
    kernel: Optional[np.ndarray] = None
    reach_kernel: Optional[np.ndarray] = None
    stride: Tuple[int, int] = (1, 1)
    # dense: [src host voxel, dst host voxel] (weights) and reach_matrix (counts)
    matrix: Optional[np.ndarray] = None
    reach_matrix: Optional[np.ndarray] = None
    max_abs_weight: int = 0
    max_count: int = 0
    # per destination voxel (host order): sum |w| x the source's largest value, sum |w|,
    # sum of synapse counts (the export's bounds); and the source's value statistics
    dst_bound: Optional[np.ndarray] = None
    dst_abs_weight: Optional[np.ndarray] = None
    dst_count: Optional[np.ndarray] = None
    source: Optional[dict] = None

    @property
    def on_device(self) -> bool:
        """True when the pair runs on the accelerator."""
        return self.form != 'cpu'

    def summary(self) -> dict:
        """Return the planner's line for this pair (JSON-friendly)."""
        return {'src': self.src_id, 'dst': self.dst_id, 'form': self.form,
                'reason': self.reason, 'synapses': self.synapses,
                'device_weights': self.device_weights, 'morphologies': self.morphologies}


def pair_synapses(connectome) -> Dict[Tuple[int, int], PairSynapses]:
    """Split the connectome's synapses by (source area, destination area), at voxel level."""
    pairs: Dict[Tuple[int, int], PairSynapses] = {}
    indptr = np.asarray(connectome.syn_indptr, dtype=np.int64)
    starts = np.asarray(connectome.area_start, dtype=np.int64)
    dst_area_of = np.asarray(connectome.neuron_area)
    for a, area in enumerate(connectome.areas):
        lo, hi = int(starts[a]), int(starts[a + 1])
        s0, s1 = int(indptr[lo]), int(indptr[hi])
        if s1 == s0:
            continue
        n_src = area.neurons_per_voxel
        degree = np.diff(indptr[lo:hi + 1])
        src_local = np.repeat(np.arange(hi - lo, dtype=np.int64), degree)
        target = np.asarray(connectome.syn_target[s0:s1], dtype=np.int64)
        weight = np.asarray(connectome.syn_weight[s0:s1], dtype=np.float64)
        tgt_area = dst_area_of[target].astype(np.int64)
        uneven = ''
        if area.psp < 0 and not area.mp_driven_psp:
            uneven = 'negative psp: a device input grid is unsigned'
        if n_src > 1:
            per_voxel = degree.reshape(-1, n_src)
            if np.any(per_voxel != per_voxel[:, -1:]):
                uneven = 'the neurons of a source voxel have different synapses'
            keep = (src_local % n_src) == n_src - 1
            src_local, target, weight, tgt_area = (
                src_local[keep], target[keep], weight[keep], tgt_area[keep])
        order = np.argsort(tgt_area, kind='stable')
        bounds = np.searchsorted(tgt_area[order], np.arange(len(connectome.areas) + 1))
        for b in np.flatnonzero(np.diff(bounds)):
            sel = order[bounds[b]:bounds[b + 1]]
            n_dst = connectome.areas[b].neurons_per_voxel
            dst_local = target[sel] - starts[b]
            problem = uneven
            if np.any(np.trunc(weight[sel]) != weight[sel]):
                problem = 'fractional weights: an integer device graph would not be exact'
            if n_dst > 1 and np.any(dst_local % n_dst != n_dst - 1):
                problem = 'synapses reach neurons other than the last of a voxel'
            src_vox = src_local[sel] // n_src
            dst_vox = dst_local // n_dst
            n_dst_vox = int(connectome.areas[b].voxels)
            key = src_vox * n_dst_vox + dst_vox
            uniq, inverse = np.unique(key, return_inverse=True)
            wsum = np.bincount(inverse, weights=weight[sel], minlength=uniq.size)
            count = np.bincount(inverse, minlength=uniq.size)
            total = int(sel.size) * n_src if n_src > 1 else int(sel.size)
            pairs[(a, int(b))] = PairSynapses(
                a, int(b), uniq // n_dst_vox, uniq % n_dst_vox,
                np.rint(wsum).astype(np.int64), count.astype(np.int64), total, problem)
    return pairs


def _overlap(n_src: int, n_dst: int, d: np.ndarray) -> np.ndarray:
    """Number of s in [0, n_src) with s + d in [0, n_dst), per offset d."""
    return np.maximum(0, np.minimum(n_src, n_dst - d) - np.maximum(0, -d))


def _as_conv(p: PairSynapses, sdims, ddims) -> Optional[dict]:
    """A stride-1 conv from a grid no larger than the target's, kernel odd and centred."""
    if int(sdims[0]) > int(ddims[0]) or int(sdims[1]) > int(ddims[1]):
        return None                  # the output would need a crop (no Slice on the device)
    sx, sy, sz = voxel_coords(p.src_vox, sdims)
    dx, dy, dz = voxel_coords(p.dst_vox, ddims)
    off = np.stack([dx - sx, dy - sy, dz - sz], axis=1)
    uniq, inverse = np.unique(off, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if uniq.shape[0] > 4 * MAX_CONV_TAPS:
        return None
    n = np.bincount(inverse, minlength=uniq.shape[0])
    for values in (p.weight, p.count):
        lo = np.full(uniq.shape[0], np.iinfo(np.int64).max)
        hi = np.full(uniq.shape[0], np.iinfo(np.int64).min)
        np.minimum.at(lo, inverse, values)
        np.maximum.at(hi, inverse, values)
        if np.any(lo != hi):
            return None
    expected = np.ones(uniq.shape[0], dtype=np.int64)
    for axis in range(3):
        expected *= _overlap(int(sdims[axis]), int(ddims[axis]), uniq[:, axis])
    if np.any(expected != n):
        return None
    w_off = np.zeros(uniq.shape[0], dtype=np.int64)
    c_off = np.zeros(uniq.shape[0], dtype=np.int64)
    w_off[inverse] = p.weight
    c_off[inverse] = p.count
    px, py = int(np.abs(uniq[:, 0]).max()), int(np.abs(uniq[:, 1]).max())
    kx, ky = 2 * px + 1, 2 * py + 1
    if kx * ky > MAX_CONV_TAPS:
        return None
    zs_n, zd_n = int(sdims[2]), int(ddims[2])
    kernel = np.zeros((zd_n, zs_n, kx, ky), dtype=np.float32)
    reach = np.zeros_like(kernel)
    zs = np.arange(zs_n)
    for i, (ox, oy, oz) in enumerate(uniq.tolist()):
        zd = zs + oz
        ok = (zd >= 0) & (zd < zd_n)
        kernel[zd[ok], zs[ok], px - ox, py - oy] = w_off[i]
        reach[zd[ok], zs[ok], px - ox, py - oy] = c_off[i]
    return {'kernel': kernel, 'reach_kernel': reach, 'stride': (1, 1),
            'taps': uniq.shape[0]}


def _block_factor(src: np.ndarray, dst: np.ndarray, n_s: int, n_d: int) -> int:
    """The factor f when the relation along one axis is exactly dst = src // f, else 0."""
    f = -(-n_s // n_d)
    if -(-n_s // f) != n_d:
        return 0
    rel = np.zeros((n_s, n_d), dtype=bool)
    rel[src, dst] = True
    want = np.zeros_like(rel)
    want[np.arange(n_s), np.arange(n_s) // f] = True
    return f if np.array_equal(rel, want) else 0


def _as_strided(p: PairSynapses, sdims, ddims) -> Optional[dict]:
    """A projector-like integer block downscale with one weight: a strided conv.

    Target voxel (x // fx, y // fy) gets every source voxel of its block, z by any relation:
    kernel 2f-1 per axis ("same" padding f-1) with the f x f block in its lower quadrant.
    """
    if p.weight.min() != p.weight.max() or p.count.min() != p.count.max():
        return None
    sx, sy, sz = voxel_coords(p.src_vox, sdims)
    dx, dy, dz = voxel_coords(p.dst_vox, ddims)
    fx = _block_factor(sx, dx, int(sdims[0]), int(ddims[0]))
    fy = _block_factor(sy, dy, int(sdims[1]), int(ddims[1]))
    if not fx or not fy or (fx, fy) == (1, 1) or (2 * fx - 1) * (2 * fy - 1) > MAX_CONV_TAPS:
        return None
    mz = np.zeros((int(sdims[2]), int(ddims[2])), dtype=bool)
    mz[sz, dz] = True
    if int(np.count_nonzero(mz)) * int(sdims[0]) * int(sdims[1]) != p.src_vox.size:
        return None                  # not the full product of the axis relations
    kernel = np.zeros((int(ddims[2]), int(sdims[2]), 2 * fx - 1, 2 * fy - 1), np.float32)
    reach = np.zeros_like(kernel)
    zs, zd = np.nonzero(mz)
    kernel[zd, zs, fx - 1:, fy - 1:] = float(p.weight[0])
    reach[zd, zs, fx - 1:, fy - 1:] = float(p.count[0])
    return {'kernel': kernel, 'reach_kernel': reach, 'stride': (fx, fy)}


def plastic_pairs(connectome) -> Dict[Tuple[int, int], PlasticParams]:
    """(src, dst) area indices of the connectome's registered plastic pairs -> parameters.

    The builder registers them (NEURON_MODEL §4b steps 1-4: a rule flagged plastic that
    fails or is dropped registers nothing); the engine learns their synapses on the host.
    """
    out = {}
    for (src, dst), params in getattr(connectome, 'plastic_pairs', {}).items():
        try:
            out[(connectome.area_index(src), connectome.area_index(dst))] = params
        except KeyError:
            continue
    return out


def _morphologies(connectome, src_id: str, dst_id: str) -> List[str]:
    names = []
    for m in getattr(connectome, 'mappings', ()):
        if m.src == src_id and m.dst == dst_id and m.morphology not in names:
            names.append(m.morphology)
    return names


def analyse(connectome, dense_limit: int = DENSE_LIMIT,
            pairs: Optional[Dict[Tuple[int, int], PairSynapses]] = None) -> List[Operator]:
    """Choose a form for every area pair with synapses; the list is in (src, dst) order."""
    if pairs is None:
        pairs = pair_synapses(connectome)
    plastic = plastic_pairs(connectome)
    factors = source_factors(connectome)
    stats: Dict[int, dict] = {}
    ops = []
    for (a, b), p in sorted(pairs.items()):
        sa, da = connectome.areas[a], connectome.areas[b]
        op = Operator(a, b, sa.id, da.id, 'cpu', '', p.synapses,
                      morphologies=_morphologies(connectome, sa.id, da.id))
        params = plastic.get((a, b))
        if params is not None:
            op.reason = (f'plastic pair, {params.mode.upper()}: the host learns its weights '
                         'each burst, and a device graph holds fixed weights')
        elif p.problem:
            op.reason = p.problem
        else:
            _choose(op, p, sa.dims, da.dims, dense_limit)
        if op.on_device:
            if a not in stats:
                stats[a] = source_stats(connectome, a, factors)
            _bounds(op, p, stats[a], int(da.voxels))
        ops.append(op)
    return ops


def _choose(op: Operator, p: PairSynapses, sdims, ddims, dense_limit: int) -> None:
    op.max_abs_weight = int(np.abs(p.weight).max())
    op.max_count = int(p.count.max())
    n_src = int(np.prod(sdims))
    n_dst = int(np.prod(ddims))
    options = []
    for data in (_as_conv(p, sdims, ddims), _as_strided(p, sdims, ddims)):
        if data is not None:
            options.append((data['kernel'].size, 'conv', data))
    if n_src * n_dst <= dense_limit:
        options.append((n_src * n_dst, 'dense', None))
    if not options:
        larger = int(sdims[0]) > int(ddims[0]) or int(sdims[1]) > int(ddims[1])
        why = ('neither a conv from a grid no larger than the target (a larger one would '
               'need a crop) nor an integer block downscale (strided conv)' if larger else
               'irregular (not translation-invariant)')
        op.reason = (f'{why}, and {n_src} x {n_dst} voxels exceed the dense limit of '
                     f'{dense_limit}')
        return
    weights, form, data = min(options, key=lambda o: o[0])
    op.form, op.device_weights = form, int(weights)
    if form == 'conv':
        op.kernel, op.reach_kernel = data['kernel'], data['reach_kernel']
        op.stride = data['stride']
        shape = (f'Conv2D {op.kernel.shape[2]}x{op.kernel.shape[3]}, '
                 f'{op.kernel.shape[1]}->{op.kernel.shape[0]} channels')
        if op.stride == (1, 1):
            op.reason = f'translation-invariant: {shape} ({data["taps"]} vectors)'
        else:
            op.reason = (f'block downscale (projector-like): {shape}, stride '
                         f'{op.stride[0]}x{op.stride[1]}')
    else:
        op.matrix = np.zeros((n_src, n_dst), dtype=np.float32)
        op.reach_matrix = np.zeros_like(op.matrix)
        op.matrix[p.src_vox, p.dst_vox] = p.weight
        op.reach_matrix[p.src_vox, p.dst_vox] = p.count
        op.reason = (f'dense block {n_src} x {n_dst} (<= {dense_limit} weights): Flatten, '
                     'MatMul')


def source_factors(connectome) -> np.ndarray:
    """float32[N]: the static per-neuron input value psp/out-degree (psp when uniform)."""
    psp = connectome.area_psp()
    area = np.asarray(connectome.neuron_area).astype(np.int64)
    uniform = np.array([a.psp_uniform for a in connectome.areas], dtype=bool)[area]
    degree = connectome.out_degree().astype(np.float32)
    value = psp[area]
    with np.errstate(divide='ignore', invalid='ignore'):
        out = np.where(uniform, value, value / np.maximum(degree, 1)).astype(np.float32)
    out[degree == 0] = 0
    return out


def source_stats(connectome, a: int, factors: np.ndarray) -> dict:
    """The values source area `a` sends: max, min (of senders), integral, per-voxel max."""
    area = connectome.areas[a]
    span = connectome.area_neurons(a)
    if area.mp_driven_psp:
        degree = connectome.out_degree()[span]
        values = np.float32(255.0) / (np.float32(1) if area.psp_uniform
                                      else np.maximum(degree, 1).astype(np.float32))
        integral = bool(area.psp_uniform or np.all(degree <= 1))
    else:
        values = factors[span]
        integral = bool(np.all(values == np.round(values)))
    vmax = float(values.max()) if values.size else 0.0
    sending = values[connectome.out_degree()[span] > 0] if not area.mp_driven_psp else \
        np.zeros(1, np.float32)            # a driven psp can round to 0
    vmin = float(sending.min()) if sending.size else 0.0
    n = area.neurons_per_voxel
    per_voxel = values.reshape(-1, n)[:, -1] if values.size else values
    return {'max': vmax, 'min': vmin, 'integral': integral and vmax <= 255,
            'per_voxel_max': per_voxel}


def _bounds(op: Operator, p: PairSynapses, stats: dict, n_dst: int) -> None:
    """Per destination voxel sums the export's bounds need (see Operator)."""
    w = np.abs(p.weight).astype(np.float64)
    op.source = {k: v for k, v in stats.items() if k != 'per_voxel_max'}
    op.dst_bound = np.bincount(p.dst_vox, w * stats['per_voxel_max'][p.src_vox], n_dst)
    op.dst_abs_weight = np.bincount(p.dst_vox, w, n_dst)
    op.dst_count = np.bincount(p.dst_vox, p.count.astype(np.float64), n_dst)
