"""Check an exported graph against the connectome with onnxruntime (no quantisation)."""

from typing import Dict, Optional

from feagi_hailo_ros.devices.layout import from_onnx_layout, to_onnx_layout
import numpy as np


def reference_outputs(connectome, manifest: dict, pairs: Dict[tuple, object],
                      values: Dict[int, np.ndarray], spikes: Dict[int, np.ndarray]):
    """Currents and reach per target voxel computed from the synapse list (float64)."""
    out = {}
    targets = {o['area_index'] for o in manifest['outputs']}
    sources = {i['area_index'] for i in manifest['inputs']}
    for b in targets:
        nv = connectome.areas[b].voxels
        cur = np.zeros(nv)
        reach = np.zeros(nv)
        for (a, t), p in pairs.items():
            if t != b or a not in sources or getattr(p, 'problem', ''):
                continue
            op_on_device = any(o['src'] == connectome.areas[a].id
                               and o['dst'] == connectome.areas[b].id
                               for o in manifest['operators'])
            if not op_on_device:
                continue
            np.add.at(cur, p.dst_vox, p.weight * values[a][p.src_vox])
            np.add.at(reach, p.dst_vox, p.count * spikes[a][p.src_vox])
        out[b] = (cur, np.minimum(reach, 1.0))
    return out


def verify_partition(connectome, exported, pairs, seed: int = 0,
                     density: float = 0.2, session: Optional[object] = None) -> float:
    """Run the ONNX graph on random spikes; return the max |error| vs the synapse list."""
    import onnxruntime as ort
    rng = np.random.default_rng(seed)
    manifest = exported.manifest
    sess = session or ort.InferenceSession(exported.model, providers=['CPUExecutionProvider'])
    values, spikes, feed = {}, {}, {}
    for spec in manifest['inputs']:
        a = spec['area_index']
        if a not in values:
            shape = tuple(spec['dims'])
            fire = rng.random(shape) < density
            spikes[a] = fire.reshape(-1).astype(np.float64)
            values[a] = (fire * rng.integers(0, 6, shape)).reshape(-1).astype(np.float64)
        grid = values[a] if spec['kind'] == 'value' else spikes[a]
        feed[spec['name']] = to_onnx_layout(grid.reshape(spec['dims']).astype(np.float32))
    names = [o['name'] for o in manifest['outputs']]
    results = dict(zip(names, sess.run(names, feed)))
    ref = reference_outputs(connectome, manifest, pairs, values, spikes)
    error = 0.0
    for spec in manifest['outputs']:
        got = from_onnx_layout(results[spec['name']]).reshape(-1)
        cur, reach = ref[spec['area_index']]
        want = cur if spec['kind'] == 'current' else reach
        error = max(error, float(np.max(np.abs(got - want))) if got.size else 0.0)
    return error
