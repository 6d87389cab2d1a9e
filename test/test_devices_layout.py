"""Host grids (X, Y, Z) and ONNX tensors (1, Z, X, Y): grids and flat indices agree."""

from feagi_hailo_ros.devices.layout import (from_onnx_layout, host_dims, host_to_onnx_index,
                                            onnx_shape, onnx_to_host_index, to_onnx_layout)
import numpy as np
import pytest


@pytest.mark.parametrize('dims', [(1, 1, 1), (3, 4, 5), (7, 1, 2), (2, 6, 1)])
def test_grid_and_index_conversions_agree(dims):
    grid = np.arange(int(np.prod(dims)), dtype=np.float32).reshape(dims)
    onnx = to_onnx_layout(grid)
    assert onnx.shape == onnx_shape(dims) and onnx.dtype == np.float32
    assert host_dims(onnx.shape) == dims
    assert np.array_equal(from_onnx_layout(onnx), grid)
    voxels = np.arange(grid.size)
    flat = host_to_onnx_index(voxels, dims)
    assert np.array_equal(onnx.reshape(-1)[flat], grid.reshape(-1))
    assert np.array_equal(onnx_to_host_index(flat, dims), voxels)
    assert sorted(flat.tolist()) == voxels.tolist()
