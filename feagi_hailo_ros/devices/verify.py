"""What an exported graph must compute, from the synapse list; a check with onnxruntime."""

from typing import Dict, Optional, Tuple

from feagi_hailo_ros.devices.layout import from_onnx_layout, to_onnx_layout
import numpy as np


def source_grids(manifest: dict, grids: Dict[str, np.ndarray]
                 ) -> Tuple[Dict[int, np.ndarray], Dict[int, np.ndarray]]:
    """Per source area, its values and spikes (flat, host order, float64) from input grids."""
    values, spikes = {}, {}
    for spec in manifest['inputs']:
        grid = np.asarray(grids[spec['name']]).reshape(spec['dims'])
        for m in spec['members']:
            x, y, z = m['dims']
            block = grid[:x, :y, m['offset']:m['offset'] + z].reshape(-1).astype(np.float64)
            (values if m['kind'] == 'value' else spikes)[m['area_index']] = block
    return values, spikes


def reference_outputs(connectome, manifest: dict, pairs: Dict[tuple, object],
                      values: Dict[int, np.ndarray], spikes: Dict[int, np.ndarray]
                      ) -> Dict[str, np.ndarray]:
    """Every output tensor (host shape) computed from the synapse list (float64).

    A current member sums weight x value over the synapses of its sources, a count member
    count x spike times its output's scale (as the graph's count weights do), saturated at
    the top of the output's range (as the chip's output is; reach only needs > 0).
    """
    out = {}
    for spec in manifest['outputs']:
        grid = np.zeros(spec['dims'])
        for m in spec['members']:
            b = m['area_index']
            size = int(np.prod(m['dims']))
            total = np.zeros(size)
            for src in m['sources']:
                a = connectome.area_index(src)
                p = pairs[(a, b)]
                if m['kind'] == 'current':
                    total += np.bincount(p.dst_vox, p.weight * values[a][p.src_vox], size)
                else:
                    total += np.bincount(p.dst_vox, p.count * spikes[a][p.src_vox], size)
            if m['kind'] == 'count':              # saturated by the output's range
                scale = float(spec['scale'])
                total = np.minimum(total * scale, (2 ** (int(spec['bits']) - 1) - 1) * scale)
            if grid.ndim == 1:
                grid[m['offset']:m['offset'] + size] = total
            else:
                x, y, z = m['dims']
                grid[:x, :y, m['offset']:m['offset'] + z] = total.reshape(x, y, z)
        out[spec['name']] = grid
    return out


def random_inputs(manifest: dict, rng, density: float = 0.2) -> Dict[str, np.ndarray]:
    """Input grids of random spikes (values 0..5 where an area fires), one pattern per area."""
    fired: Dict[int, np.ndarray] = {}
    grids = {}
    for spec in manifest['inputs']:
        grid = np.zeros(spec['dims'], np.float32)
        for m in spec['members']:
            x, y, z = m['dims']
            if m['area_index'] not in fired:
                fire = rng.random((x, y, z)) < density
                fired[m['area_index']] = np.where(fire, rng.integers(1, 6, (x, y, z)), 0)
            value = fired[m['area_index']]
            grid[:x, :y, m['offset']:m['offset'] + z] = value if m['kind'] == 'value' \
                else (value > 0)
        grids[spec['name']] = grid
    return grids


def verify_partition(connectome, exported, pairs, seed: int = 0,
                     density: float = 0.2, session: Optional[object] = None) -> float:
    """Run the ONNX graph on random spikes; return the max |error| vs the synapse list."""
    import onnxruntime as ort
    manifest = exported.manifest
    sess = session or ort.InferenceSession(exported.model, providers=['CPUExecutionProvider'])
    grids = random_inputs(manifest, np.random.default_rng(seed), density)
    names = [o['name'] for o in manifest['outputs']]
    feed = {n: to_onnx_layout(g) for n, g in grids.items()}
    results = dict(zip(names, sess.run(names, feed)))
    ref = reference_outputs(connectome, manifest, pairs, *source_grids(manifest, grids))
    error = 0.0
    for name in names:
        got = from_onnx_layout(results[name]).reshape(-1)
        want = ref[name].reshape(-1)
        error = max(error, float(np.max(np.abs(got - want))) if got.size else 0.0)
    return error
