"""Numba passes of the host side of a device burst (nogil: they overlap the CPU partition).

`fill_source` writes one source area's value and spike grids from the fired set in one pass,
clearing only the voxels the previous call set (the grids persist between bursts).
`refill` rebuilds a recorded output grid (the benchmark's replay device).
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def fill_source(fired, fired_v, begin, end, lo, per_voxel, mp_driven, factor, divisor,
                values, spikes, with_spikes, touched, n_touched):
    """Refill `values` (and `spikes`) for fired[begin:end]; return the voxels now touched.

    Values are what host_io's numpy form gives: the static factor, or mp_driven_psp's
    rounded potential (half away from zero, 0..255) over the divisor, in float32; with
    several neurons per voxel they are summed in float64 in fired order, then rounded to
    float32 (as np.bincount does). `touched[:n_touched]` are the voxels to clear first.
    """
    for i in range(n_touched):
        values[touched[i]] = 0.0
        if with_spikes:
            spikes[touched[i]] = 0.0
    count = 0
    current = -1
    acc = 0.0
    one = per_voxel == 1                  # the common case: no integer division per spike
    for i in range(begin, end):
        local = fired[i] - lo
        vox = local if one else local // per_voxel
        if mp_driven:
            v = np.float64(fired_v[i])
            r = np.floor(abs(v) + 0.5)
            if v < 0:
                r = -r
            r = min(max(r, 0.0), 255.0)
            value = np.float32(r) / divisor[local]
        else:
            value = factor[local]
        if vox != current:
            if current >= 0:
                values[current] = np.float32(acc)
            current = vox
            acc = 0.0
            touched[count] = vox
            count += 1
            if with_spikes:
                spikes[vox] = 1.0
        acc += np.float64(value)
    if current >= 0:
        values[current] = np.float32(acc)
    return count


@numba.njit(nogil=True, cache=True)
def fill_sources(fired, fired_v, first, last, src_lo, src_hi, per_voxel, mp_driven,
                 neuron_off, voxel_off, with_spikes, factor, divisor, values, spikes, touched,
                 n_touched):
    """Run `fill_source` for sources first..last-1 in one call (packed, offset arrays).

    Source s owns neurons [src_lo[s], src_hi[s]), its factors/divisors at neuron_off[s]
    and its voxels (values, spikes, touched) at voxel_off[s]; n_touched[s] is updated.
    Calls for disjoint source ranges may run at once (they write disjoint entries).
    """
    for s in range(first, last):
        begin = np.searchsorted(fired, src_lo[s])
        end = np.searchsorted(fired, src_hi[s])
        n0, n1 = neuron_off[s], neuron_off[s + 1]
        v0, v1 = voxel_off[s], voxel_off[s + 1]
        n_touched[s] = fill_source(
            fired, fired_v, begin, end, src_lo[s], per_voxel[s], mp_driven[s],
            factor[n0:n1], divisor[n0:n1], values[v0:v1], spikes[v0:v1], with_spikes[s],
            touched[v0:v1], n_touched[s])


@numba.njit(nogil=True, cache=True)
def refill(grid, last, idx, values):
    """Zero grid[last], then set grid[idx] = values (a recorded frame's sparse outputs)."""
    for i in range(last.size):
        grid[last[i]] = 0.0
    for i in range(idx.size):
        grid[idx[i]] = values[i]


@numba.njit(nogil=True, cache=True)
def place_sources(first, last, n_touched, voxel_off, touched, values, pl_ptr, pl_params,
                  placed, buffer, clear):
    """Copy sources first..last-1's touched voxels into the stacked input tensors.

    Placement p of source s writes voxel v = (x*Y + y)*Z + z of the area at
    base + (x*Yc + y)*C + offset + z of `buffer` (pl_params[p] = base, Yc, C, offset, Y, Z,
    is_spike): the value, or 1 for a spike channel; `placed` (from pl_params[p, 7]) records
    the tensor-local indices, in the voxels' order. With `clear`, zero them instead.
    """
    for s in range(first, last):
        v0 = voxel_off[s]
        n = n_touched[s]
        for p in range(pl_ptr[s], pl_ptr[s + 1]):
            base, yc, c, offset, y_n, z_n, spike, at = pl_params[p]
            for i in range(n):
                v = touched[v0 + i]
                xy = v // z_n
                local = ((xy // y_n) * yc + xy % y_n) * c + offset + v % z_n
                if clear:
                    buffer[base + local] = 0.0
                else:
                    buffer[base + local] = 1.0 if spike else values[v0 + v]
                    placed[at + i] = local


SPLIT_TILE = 4        # grid rows per tile of split_channels (x 320 voxels x 16 channels: L1)


@numba.njit(nogil=True, cache=True)
def split_channels(grid, offsets, depths, out, out_off):
    """De-interleave the members of an (X, Y, C) grid (any strides).

    Member m (channels offsets[m] .. offsets[m] + depths[m]) goes to out[out_off[m]:] in
    the host order (x*Y + y)*Z + z. One-channel members are copied tile by tile (SPLIT_TILE
    rows of the grid, every such member, while the tile is in cache: about 2x faster than
    member by member over the whole grid); wider members member by member.
    """
    n_x, n_y = grid.shape[0], grid.shape[1]
    for x0 in range(0, n_x, SPLIT_TILE):
        x1 = min(n_x, x0 + SPLIT_TILE)
        for m in range(offsets.size):
            if depths[m] != 1:
                continue
            first, b0 = offsets[m], out_off[m]
            for x in range(x0, x1):
                row = grid[x]
                base = b0 + x * n_y
                for y in range(n_y):
                    out[base + y] = row[y, first]
    for m in range(offsets.size):
        z_n, first, b0 = depths[m], offsets[m], out_off[m]
        if z_n == 1:
            continue
        for x in range(n_x):
            row = grid[x]
            for y in range(n_y):
                base = b0 + (x * n_y + y) * z_n
                for z in range(z_n):
                    out[base + z] = row[y, first + z]
