"""AreaLayout: neuron index <-> (area, x, y, z), receiving neurons, ids and aliases."""

from feagi_hailo_ros.brain import Connectome, make_area
from feagi_hailo_ros.brain.ids import io_v2_id, text_v2_id
from feagi_hailo_ros.brain.layout import AreaLayout, find_area, voxel_coords, voxel_index
import numpy as np
import pytest


def random_areas(seed: int, n_areas: int = 5):
    """Return areas of random sizes (1..6 per axis) and 1..3 neurons per voxel."""
    rng = np.random.default_rng(seed)
    return [make_area(f'c{a:05d}', tuple(int(d) for d in rng.integers(1, 7, 3)),
                      neurons_per_voxel=int(rng.integers(1, 4))) for a in range(n_areas)]


@pytest.mark.parametrize('seed', range(6))
def test_coords_of_voxel_neuron_round_trip(seed):
    areas = random_areas(seed)
    layout = AreaLayout.from_areas(areas)
    rng = np.random.default_rng(100 + seed)
    assert layout.n_neurons == sum(a.neurons for a in areas)
    for a, area in enumerate(areas):
        x, y, z = (rng.integers(0, d, 40) for d in area.dims)
        neurons = layout.voxel_neuron(a, x, y, z)
        n = area.neurons_per_voxel
        assert np.all((neurons - layout.area_start[a]) % n == n - 1)     # the voxel's last
        first = layout.first_neuron(a, voxel_index(x, y, z, area.dims))
        assert np.array_equal(first + (n - 1), neurons)
        assert layout.coords(first)[0].tolist() == [a] * 40
        got_area, gx, gy, gz = layout.coords(neurons)
        assert got_area.tolist() == [a] * 40
        assert (gx.tolist(), gy.tolist(), gz.tolist()) == (x.tolist(), y.tolist(), z.tolist())
        # every neuron of the area: x outermost, then y, then z, then the n of a voxel
        xs, ys, zs = np.meshgrid(*(np.arange(d) for d in area.dims), indexing='ij')
        expected = [np.repeat(v.ravel(), n).tolist() for v in (xs, ys, zs)]
        assert [v.tolist() for v in layout.area_coords(a)] == expected
        span = layout.area_neurons(a)
        assert [v.tolist() for v in layout.coords(np.arange(span.start, span.stop))[1:]] \
            == expected
        assert layout.receivers(a).tolist() == layout.voxel_neuron(
            a, xs.ravel(), ys.ravel(), zs.ravel()).tolist()


def test_voxel_helpers_are_inverse_and_x_outermost():
    dims = (3, 4, 5)
    voxels = np.arange(60)
    x, y, z = voxel_coords(voxels, dims)
    assert (x[:6].tolist(), y[:6].tolist(), z[:6].tolist()) == \
        ([0] * 6, [0, 0, 0, 0, 0, 1], [0, 1, 2, 3, 4, 0])
    assert voxel_index(x, y, z, dims).tolist() == voxels.tolist()
    per_voxel = np.array([dims, (60, 1, 1)] * 30)                       # dims per element
    got = voxel_coords(np.arange(60), per_voxel)
    assert got[0][1::2].tolist() == list(range(1, 60, 2))


def test_out_of_range_voxels_are_one_error():
    layout = AreaLayout.from_areas([make_area('cabc00', (3, 4, 5), neurons_per_voxel=2)])
    for x, y, z in ((3, 0, 0), (0, -1, 0), (0, 0, 5)):
        with pytest.raises(ValueError, match=rf"area 'cabc00': voxel \({x}, {y}, {z}\) is "
                                             r'outside its size 3x4x5'):
            layout.voxel_neuron(0, [0, x], [0, y], [0, z])
    with pytest.raises(ValueError, match=r'voxel \(0, 4, 1\)'):    # scalars broadcast
        layout.voxel_neuron(0, 0, [1, 4], 1)
    with pytest.raises(ValueError, match=r'neuron index 120 is outside 0\.\.119'):
        layout.coords([0, 120])
    with pytest.raises(ValueError, match='neuron index -1 is outside'):
        layout.coords(-1)


def test_area_ids_and_aliases_resolve_to_one_index():
    vision, power = io_v2_id('i', 'svi', 4), text_v2_id('___power')
    layout = AreaLayout.from_areas([make_area(power, (1, 1, 1)), make_area('cabc00', (2, 1, 1)),
                                    make_area(vision, (2, 2, 3))])
    assert layout.area_index('cabc00') == 1
    assert layout.area_index(vision) == layout.area_index('iic400') == 2
    assert layout.area_index('_power') == layout.area_index('___pwr') == 0
    assert layout.area_index('iic400') == 2                             # cached lookup
    assert find_area('iic400', layout.ids) == 2 and find_area('iic500', layout.ids) is None
    with pytest.raises(KeyError, match=r"no area 'iic500' in this brain \(areas: "):
        layout.area_index('iic500')


def test_the_connectome_delegates_to_its_layout():
    areas = random_areas(7, 3)
    n = sum(a.neurons for a in areas)
    c = Connectome.from_arrays(areas, np.zeros(n + 1, np.int64), [], [])
    assert c.area_start is c.layout.area_start and c.layout.ids == [a.id for a in areas]
    idx = np.arange(n)
    assert [v.tolist() for v in c.coords(idx)] == [v.tolist() for v in c.layout.coords(idx)[1:]]
    assert c.layout.coords(idx)[0].tolist() == c.neuron_area.tolist()
    assert c.area_neurons(1) == c.layout.area_neurons(1)


def test_from_arrays_defaults_and_checks():
    layout = AreaLayout.from_arrays([0, 4, 10], neurons_per_voxel=[2, 1])
    assert layout.ids == ['a0000', 'a0001']
    assert layout.dims.tolist() == [[2, 1, 1], [6, 1, 1]]
    assert layout.coords([3, 9])[0].tolist() == [0, 1]
    assert layout.nbytes == 2 * 3 * 8 + 2 * 8 + 3 * 8
    with pytest.raises(ValueError, match='area sizes differ'):
        AreaLayout.from_arrays([0, 4], dims=[[3, 1, 1]])
    with pytest.raises(ValueError, match='non-decreasing'):
        AreaLayout.from_arrays([0, 4, 2])
    with pytest.raises(ValueError, match='do not describe one brain'):
        AreaLayout(['a'], [[1, 1, 1]], [1, 1], [0, 1])
