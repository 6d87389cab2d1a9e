"""Recorded frames that prove a device at open: inputs of random fired sets, CPU outputs.

`feagi-hailo export` writes selfcheck.npz next to the model: a few frames of input grids that
PartitionIO builds from seeded random fired sets of the brain, and every output grid computed
from the synapse list (the CPU engine's integration, in float64). A device runs them once it
is loaded and each output is classified: exact (equal; outputs the manifest marks exact),
within its bound (|error| <= the output's `error_bound`; the others) or wrong.
"""

from dataclasses import dataclass
import hashlib
import math
import os
from typing import Callable, Dict, List, Optional

import numpy as np

SELFCHECK_FILE = 'selfcheck.npz'
FRAME_DENSITIES = (0.02, 0.1, 0.3, 0.7)    # share of the brain's neurons fired per frame
FLOAT_SLACK = 1e-5                         # of an inexact output's bound: float32 sums
_INPUT, _EXPECTED, _MODEL = 'input.', 'expected.', 'model_sha256'


@dataclass
class SelfCheckFrames:
    """Input grids and the CPU's output grids, (frames, *shape) float32 per tensor name."""

    inputs: Dict[str, np.ndarray]
    expected: Dict[str, np.ndarray]

    @property
    def frames(self) -> int:
        """How many frames are recorded."""
        return len(next(iter(self.inputs.values()))) if self.inputs else 0

    def frame(self, k: int) -> Dict[str, np.ndarray]:
        """The input grids of frame k."""
        return {name: grids[k] for name, grids in self.inputs.items()}


def model_digest(model: bytes) -> str:
    """SHA-256 of the exported ONNX model: ties the frames to the export they came from."""
    return hashlib.sha256(model).hexdigest()


def record_frames(connectome, manifest: dict, pairs: Optional[dict] = None,
                  seed: int = 0) -> SelfCheckFrames:
    """Frames of seeded random fired sets (FRAME_DENSITIES) and the outputs they must give.

    (Export side: the host I/O and the reference are imported here, so that a device
    reading frames loads neither.)
    """
    from feagi_hailo_ros.devices.host_io import PartitionIO
    from feagi_hailo_ros.devices.operators import pair_synapses
    from feagi_hailo_ros.devices.verify import reference_outputs, source_grids
    pairs = pairs if pairs is not None else pair_synapses(connectome)
    io = PartitionIO(connectome, manifest)
    rng = np.random.default_rng(seed)
    inputs: Dict[str, list] = {spec['name']: [] for spec in manifest['inputs']}
    expected: Dict[str, list] = {spec['name']: [] for spec in manifest['outputs']}
    for density in FRAME_DENSITIES:
        fired = np.flatnonzero(rng.random(connectome.n_neurons) < density).astype(np.int64)
        potential = rng.uniform(0.0, 300.0, fired.size).astype(np.float32)
        grids = {name: np.array(grid, dtype=np.float32)
                 for name, grid in io.inputs(fired, potential).items()}
        for name, grid in grids.items():
            inputs[name].append(grid)
        reference = reference_outputs(connectome, manifest, pairs,
                                      *source_grids(manifest, grids))
        for name, grid in reference.items():
            expected[name].append(grid.astype(np.float32))
    return SelfCheckFrames({k: np.stack(v) for k, v in inputs.items()},
                           {k: np.stack(v) for k, v in expected.items()})


def write_frames(path: str, frames: SelfCheckFrames, model: bytes) -> None:
    """Write the frames as one .npz (with the digest of the model they belong to)."""
    arrays = {_INPUT + k: v for k, v in frames.inputs.items()}
    arrays.update({_EXPECTED + k: v for k, v in frames.expected.items()})
    np.savez_compressed(path, **arrays, **{_MODEL: np.array(model_digest(model))})


def load_frames(directory: Optional[str], manifest: dict,
                model: bytes) -> Optional[SelfCheckFrames]:
    """Read DIR/selfcheck.npz; None when there is none. ValueError when it does not fit."""
    path = os.path.join(directory, SELFCHECK_FILE) if directory else None
    if path is None or not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: unreadable ({exc}): export again') from None
    if str(arrays.get(_MODEL, '')) != model_digest(model):
        raise ValueError(f'{path} was recorded for another model.onnx: export again')
    frames = SelfCheckFrames(
        {s['name']: arrays.get(_INPUT + s['name']) for s in manifest['inputs']},
        {s['name']: arrays.get(_EXPECTED + s['name']) for s in manifest['outputs']})
    for name, grids in list(frames.inputs.items()) + list(frames.expected.items()):
        spec_dims = next(tuple(s['dims']) for s in manifest['inputs'] + manifest['outputs']
                         if s['name'] == name)
        if grids is None or grids.shape[1:] != spec_dims or len(grids) != frames.frames:
            raise ValueError(f'{path}: no frames of {name} shaped {spec_dims}: export again')
    return frames


def classify(spec: dict, error: float) -> str:
    """'exact', 'within bound' or 'wrong' for an output's largest |device - CPU| error."""
    if spec.get('exact', False):
        return 'exact' if error == 0 else 'wrong'
    bound = float(spec.get('error_bound', float(spec['scale']) / 2))
    slack = FLOAT_SLACK * max(float(spec.get('bound', 0.0)), 1.0)
    return 'within bound' if error <= bound + slack else 'wrong'


def run_selfcheck(manifest: dict, frames: SelfCheckFrames,
                  infer: Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]) -> List[dict]:
    """Run every frame through `infer`; per output: name, result, largest error, bound."""
    errors = {spec['name']: 0.0 for spec in manifest['outputs']}
    for k in range(frames.frames):
        outputs = infer(frames.frame(k))
        for name in errors:
            got = np.asarray(outputs[name], dtype=np.float64).reshape(-1)
            want = frames.expected[name][k].astype(np.float64).reshape(-1)
            diff = float(np.max(np.abs(got - want))) if want.size else 0.0
            errors[name] = max(errors[name], float('inf') if math.isnan(diff) else diff)
    return [{'name': spec['name'], 'result': classify(spec, errors[spec['name']]),
             'error': errors[spec['name']],
             'bound': 0.0 if spec.get('exact') else float(spec.get('error_bound', 0.0))}
            for spec in manifest['outputs']]


def summary(results: List[dict], frames: int) -> str:
    """One line: how each output compared with the CPU on the recorded frames."""
    parts = []
    for r in results:
        if r['result'] == 'exact':
            parts.append(f'{r["name"]} exact')
        else:
            parts.append(f'{r["name"]} {r["result"]} (error {r["error"]:.3g}, bound '
                         f'{r["bound"]:.3g})')
    return f'self-check at open, {frames} recorded frames vs the CPU: ' + ', '.join(parts)
