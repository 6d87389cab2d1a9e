"""Export a device partition: ONNX graph, quantisation manifest, calibration set, DFC script.

The tensors are stacking.py's (areas stacked on channels; the manifest lists each tensor's
members). Quantisation, per tensor (recorded in the manifest, applied by the emulator,
expected of the HEF):
- inputs: the per-voxel value psp/out-degree (or psp under psp_uniform, or the rounded
  potential under mp_driven_psp) and the spikes. Integer values (<= 255) and spikes go in as
  uint8 with scale 1: exact. Fractional values share an input of scale max/255: approximate.
- weights: integers; 8-bit when every |weight| <= 127, else 16-bit (a16_w16): exact.
- outputs: bound B = max over its target voxels of sum |w| * max input. With integer inputs,
  B <= 127 gives 8-bit scale 1, B <= 32767 16-bit scale 1: exact. Otherwise 16-bit with the
  power-of-two scale that covers B: approximate, off by at most `error_bound` = half an
  output step + sum |w| * half an input step.
- reach: raw synapse counts (times the output's scale) in the target's own output; the
  engine takes reach > 0.5, so saturation does not matter. A target whose current is exact,
  whose weights all have one sign and whose sources always send a value >= 1 gets no counts:
  a reached voxel then has |current| >= 1 (candidates = current != 0).
"""

from dataclasses import dataclass
import json
import os
from typing import Dict, Optional

from feagi_hailo_ros.devices.dfc_script import (add_output_nodes, compile_commands,
                                                write_compile_script)
from feagi_hailo_ros.devices.graph import build_graph, onnx_shape_of
from feagi_hailo_ros.devices.operators import PairSynapses, source_factors  # noqa: F401
from feagi_hailo_ros.devices.planner import DevicePartition
from feagi_hailo_ros.devices.selfcheck import (FRAME_DENSITIES, record_frames, SELFCHECK_FILE,
                                               write_frames)
from feagi_hailo_ros.devices.stacking import stack, Stacking, Tensor
import numpy as np

REPORT_FILE = 'compile_report.json'   # written by compile_hef.py next to model.hef
MANIFEST_FORMAT = 'feagi-hailo-partition/1'
CALIBRATION_SAMPLES = 64


@dataclass
class ExportedPartition:
    """An exported partition: the ONNX model bytes and its manifest (plus file paths)."""

    name: str
    model: bytes
    manifest: dict
    directory: Optional[str] = None

    @property
    def onnx_path(self) -> Optional[str]:
        """Path of model.onnx when written."""
        return os.path.join(self.directory, 'model.onnx') if self.directory else None

    @property
    def hef_path(self) -> Optional[str]:
        """Where the user's compiled HEF is expected (model.hef next to the ONNX)."""
        return os.path.join(self.directory, 'model.hef') if self.directory else None

    @classmethod
    def load(cls, directory: str) -> 'ExportedPartition':
        """Read a partition written by `write_partition`."""
        path = os.path.join(directory, 'manifest.json')
        try:
            with open(path, encoding='utf-8') as handle:
                manifest = json.load(handle)
            with open(os.path.join(directory, 'model.onnx'), 'rb') as handle:
                model = handle.read()
        except OSError as exc:
            raise ValueError(f'exported partition {directory}: {exc}; run `feagi-hailo '
                             'export` first') from None
        if manifest.get('format') != MANIFEST_FORMAT:
            raise ValueError(f'{path}: format {manifest.get("format")!r} is not '
                             f'{MANIFEST_FORMAT!r}: export again')
        quant = report_quant(os.path.join(directory, REPORT_FILE))
        if quant:
            manifest = dict(manifest, hef_quant=quant)
        return cls(manifest['partition'], model, manifest, directory)


def report_quant(path: str) -> Dict[str, dict]:
    """{ONNX name: HEF quant_info} from a compile report (compile_hef.py); {} without one.

    The HEF's own quantisation, as the compile on the DFC host read it: a Hailo device then
    checks the HEF against it instead of the manifest's wishes.
    """
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as handle:
            rows = json.load(handle).get('streams', [])
        return {row['original_name']: row['quant_info'] for row in rows
                if isinstance(row.get('quant_info'), dict) and 'qp_scale' in row['quant_info']}
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f'compile report {path}: unreadable ({exc}); compile again or remove '
                         'it') from None


def _tensor_spec(connectome, tensor: Tensor, direction: str) -> dict:
    """The manifest entry of one stacked tensor, with its members."""
    members = []
    for m in tensor.members:
        entry = {'area': connectome.areas[m.area_index].id, 'area_index': m.area_index,
                 'kind': m.kind, 'offset': m.offset, 'dims': list(m.dims)}
        if direction == 'output':
            entry['sources'] = [connectome.areas[a].id for a in m.sources]
        members.append(entry)
    spec = {'name': tensor.name, 'dims': list(tensor.shape), 'hef_shape': list(tensor.shape),
            'onnx_shape': onnx_shape_of(tensor), 'bits': tensor.bits, 'scale': tensor.scale,
            'exact': tensor.exact, 'members': members}
    if direction == 'input':
        spec.update(kind='input', max=tensor.bound)
    else:
        top = (2 ** (tensor.bits - 1) - 1) * tensor.scale
        spec.update(kind='current', bound=tensor.bound, count_bound=tensor.count_bound,
                    error_bound=tensor.error_bound, saturates=tensor.count_bound > top)
    return spec


def build_manifest(connectome, part: DevicePartition, stacking: Stacking) -> dict:
    """Per-tensor names, layouts (members), ranges and quantisation of a partition."""
    inputs = [_tensor_spec(connectome, t, 'input') for t in stacking.inputs]
    outputs = [_tensor_spec(connectome, t, 'output') for t in stacking.outputs]
    for spec, tensor in zip(inputs, stacking.inputs):
        for entry, m in zip(spec['members'], tensor.members):
            if m.kind == 'value':
                entry['max'] = max(op.source['max'] for op in part.operators
                                   if op.on_device and op.src == m.area_index)
    max_weight = 0.0
    for out in stacking.outputs:
        for op in part.operators:
            if any(m.area_index == op.dst and m.kind == 'count' for m in out.members):
                max_weight = max(max_weight, op.max_count * out.scale)
    max_weight = max([max_weight] + [op.max_abs_weight for op in part.operators])
    weight_bits = 8 if max_weight <= 127 else 16
    wide = weight_bits == 16 or any(o['bits'] == 16 for o in outputs)
    return {
        'format': MANIFEST_FORMAT,
        'partition': part.name,
        'source': getattr(connectome, 'source', ''),
        'genome_hash': getattr(connectome, 'genome_hash', ''),
        'neurons': connectome.n_neurons,
        'targets': [connectome.areas[t].id for t in part.targets],
        'target_ranges': part.ranges(connectome),
        'inputs': inputs,
        'outputs': outputs,
        'weight_bits': weight_bits,
        'precision_mode': 'a16_w16' if wide else 'a8_w8',
        'exact': all(i['exact'] for i in inputs) and all(o['exact'] for o in outputs),
        'device_weights': part.device_weights,
        'operators': [op.summary() for op in part.operators],
        'host_residual': [op.summary() for op in part.residual],
        'layout': 'ONNX grids NCHW (1, C, X, Y), flat (1, N); HEF NHWC (X, Y, C) = the host '
                  'order; members give the channels (grids) or columns (flat) of each area',
    }


def export_partition(connectome, part: DevicePartition,
                     pairs: Optional[Dict[tuple, PairSynapses]] = None) -> ExportedPartition:
    """Build the ONNX model and manifest of one device partition (in memory)."""
    if not part.operators:
        raise ValueError(f'partition {part.name}: no mapping into its areas can run on a '
                         'device; nothing to export')
    stacking = stack(connectome.areas, part.operators)
    problem = stacking.over_limit()
    if problem:
        raise ValueError(f'partition {part.name}: {problem}; plan it with plan_partitions, '
                         'which keeps the extra areas on the CPU')
    manifest = build_manifest(connectome, part, stacking)
    model = build_graph(stacking, part.name).SerializeToString()
    return ExportedPartition(part.name, model, add_output_nodes(manifest, model))


def calibration_set(manifest: dict, samples: int = CALIBRATION_SAMPLES,
                    seed: int = 1) -> Dict[str, np.ndarray]:
    """Representative NHWC inputs: random spike patterns at several densities.

    An area fires the same pattern in every tensor that holds it; the last sample has every
    source at its maximum, so the calibrated range covers the bound.
    """
    rng = np.random.default_rng(seed)
    out = {}
    density = np.linspace(0.0, 0.5, samples).astype(np.float32)
    spikes: Dict[int, np.ndarray] = {}
    for spec in manifest['inputs']:
        data = np.zeros((samples, *spec['hef_shape']), np.float32)
        for m in spec['members']:
            x, y, z = m['dims']
            fire = spikes.get(m['area_index'])
            if fire is None:
                fire = rng.random((samples, x, y, z), dtype=np.float32) < \
                    density[:, None, None, None]
                fire[-1] = True
                spikes[m['area_index']] = fire
            value = np.float32(m.get('max', 1.0)) if m['kind'] == 'value' else np.float32(1)
            data[:, :x, :y, m['offset']:m['offset'] + z] = np.where(fire, value, 0)
        out[spec['name']] = data
    return out


def write_partition(exported: ExportedPartition, directory: str,
                    calibration_samples: int = CALIBRATION_SAMPLES, connectome=None,
                    pairs: Optional[Dict[tuple, PairSynapses]] = None) -> ExportedPartition:
    """Write model.onnx, manifest.json, calib.npz + calib/<input>.npy and compile_hef.py.

    With the connectome also selfcheck.npz: recorded frames a Hailo device must reproduce
    at open (devices.selfcheck); a Hailo device refuses an export without them.
    """
    os.makedirs(os.path.join(directory, 'calib'), exist_ok=True)
    with open(os.path.join(directory, 'model.onnx'), 'wb') as handle:
        handle.write(exported.model)
    calib = calibration_set(exported.manifest, calibration_samples)
    for name, array in calib.items():
        np.save(os.path.join(directory, 'calib', f'{name}.npy'), array)
    np.savez(os.path.join(directory, 'calib.npz'), **calib)
    manifest = dict(exported.manifest)
    manifest['calibration'] = {'npz': 'calib.npz', 'per_input': 'calib/<input>.npy',
                               'samples': calibration_samples, 'layout': 'NHWC'}
    manifest['compile'] = compile_commands(directory)
    if connectome is not None:
        frames = record_frames(connectome, exported.manifest, pairs)
        write_frames(os.path.join(directory, SELFCHECK_FILE), frames, exported.model)
        manifest['selfcheck'] = {'npz': SELFCHECK_FILE, 'frames': len(FRAME_DENSITIES),
                                 'inputs': 'input.<name>', 'expected': 'expected.<name>'}
    with open(os.path.join(directory, 'manifest.json'), 'w', encoding='utf-8') as handle:
        json.dump(manifest, handle, indent=1)
    write_compile_script(directory)
    return ExportedPartition(exported.name, exported.model, manifest, directory)
