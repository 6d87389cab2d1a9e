"""Host grids and ONNX tensors: the one conversion between their layouts.

The host (and a HEF, NHWC) holds an area's grid as (X, Y, Z), voxel = (x*Y + y)*Z + z
(brain.layout); the exported ONNX graph holds it as NCHW (1, Z, X, Y), z on channels. A
stacked tensor (X, Y, C) is the same with C channels; a dense block's flat output is (N,) on
the host, (1, N) in the graph.
"""

from typing import Sequence, Tuple

from feagi_hailo_ros.brain.layout import voxel_coords, voxel_index
import numpy as np


def onnx_shape(dims: Sequence[int]) -> Tuple[int, int, int, int]:
    """Return the ONNX shape (1, Z, X, Y) of an area of dims (X, Y, Z)."""
    x, y, z = (int(d) for d in dims)
    return 1, z, x, y


def host_dims(shape: Sequence[int]) -> Tuple[int, int, int]:
    """Return the host dims (X, Y, Z) of an ONNX shape (1, Z, X, Y)."""
    _, z, x, y = (int(d) for d in shape)
    return x, y, z


def to_onnx_layout(grid: np.ndarray) -> np.ndarray:
    """(X, Y, Z) -> (1, Z, X, Y) float32 contiguous (the ONNX graph's NCHW); (N,) -> (1, N)."""
    grid = np.asarray(grid)
    if grid.ndim == 1:
        return np.ascontiguousarray(grid[None], dtype=np.float32)
    return np.ascontiguousarray(np.transpose(grid, (2, 0, 1))[None], dtype=np.float32)


def from_onnx_layout(array: np.ndarray) -> np.ndarray:
    """(1, Z, X, Y) -> (X, Y, Z); (1, N) -> (N,)."""
    array = np.asarray(array)
    if array.ndim == 2:
        return np.ascontiguousarray(array[0])
    return np.ascontiguousarray(np.transpose(array[0], (1, 2, 0)))


def host_to_onnx_index(voxel: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Flat host voxel indices (X, Y, Z order) -> flat indices in the (1, Z, X, Y) tensor."""
    x, y, z = voxel_coords(voxel, dims)
    return voxel_index(z, x, y, onnx_shape(dims)[1:])


def onnx_to_host_index(flat: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Flat indices in the (1, Z, X, Y) tensor -> flat host voxel indices (X, Y, Z order)."""
    z, x, y = voxel_coords(flat, onnx_shape(dims)[1:])
    return voxel_index(x, y, z, dims)
