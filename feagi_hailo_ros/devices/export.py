"""Export a device partition: ONNX graph, quantisation manifest, calibration set, DFC script.

Quantisation (recorded in the manifest, applied by the emulator, expected of the HEF):
- inputs: the per-voxel value psp/out-degree (or psp under psp_uniform, or the rounded
  potential under mp_driven_psp). Integer values (<= 255) go in as uint8 with scale 1: exact.
  Others use uint8 with scale max/255: approximate.
- weights: integers; 8-bit when every |weight| <= 127, else 16-bit (a16_w16): exact.
- current outputs: bound B = max over target voxels of sum |w| * max input. With integer
  inputs, B <= 127 gives 8-bit scale 1, B <= 32767 16-bit scale 1: exact. Otherwise 16-bit
  with the power-of-two scale that covers B: approximate (reported per target), off by at
  most `error_bound` = half an output step + sum |w| * half an input step.
- reach outputs: clipped to 0..1, uint8: exact. A target whose current is exact, whose
  weights all have one sign (no zero-sum synapse pairs) and whose sources always send a value
  >= 1 gets no reach output: a reached voxel then has |current| >= 1, so the host takes
  candidates = (current != 0). This halves that target's device work and output I/O.
"""

from dataclasses import dataclass
import json
import os
from typing import Dict, Optional

from feagi_hailo_ros.devices.dfc_script import (add_output_nodes, compile_commands,
                                                write_compile_script)
from feagi_hailo_ros.devices.graph import build_graph, input_names, output_names
from feagi_hailo_ros.devices.layout import onnx_shape
from feagi_hailo_ros.devices.operators import pair_synapses, PairSynapses
from feagi_hailo_ros.devices.planner import DevicePartition
from feagi_hailo_ros.devices.selfcheck import (FRAME_DENSITIES, record_frames, SELFCHECK_FILE,
                                               write_frames)
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


def _source_stats(connectome, a: int, factors: np.ndarray) -> dict:
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


def _output_bits(bound: float, integral: bool) -> tuple:
    if integral and bound <= 127:
        return 8, 1.0, True
    if integral and bound <= 32767:
        return 16, 1.0, True
    scale = 2.0 ** int(np.ceil(np.log2(max(bound, 1e-30) / 32767.0)))
    return 16, float(scale), False


def _sign_definite(ops, source_stats) -> bool:
    """True when every synapse into the target adds a nonzero value of one sign."""
    signs = set()
    for op, st in zip(ops, source_stats):
        if not st['integral'] or st['min'] < 1:
            return False
        if op.form == 'conv':
            w, r = op.kernel, op.reach_kernel
        elif op.form == 'separable':
            w, r = np.array([op.scalar_weight]), np.array([op.scalar_count])
        else:
            w, r = op.matrix, op.reach_matrix
        if np.any((w != 0) != (r != 0)):
            return False
        signs.update(np.unique(np.sign(w[w != 0])).tolist())
    return len(signs) == 1


def build_manifest(connectome, part: DevicePartition,
                   pairs: Dict[tuple, PairSynapses]) -> dict:
    """Per-input and per-output names, layouts, ranges and quantisation of a partition."""
    factors = source_factors(connectome)
    sources = sorted({op.src for op in part.operators})
    stats = {a: _source_stats(connectome, a, factors) for a in sources}
    inputs, outputs = [], []
    for a in sources:
        area = connectome.areas[a]
        value_name, spike_name = input_names(a)
        st = stats[a]
        dims = list(area.dims)
        scale = 1.0 if st['integral'] else (st['max'] / 255.0 if st['max'] > 0 else 1.0)
        common = {'area': area.id, 'area_index': a, 'dims': dims,
                  'onnx_shape': list(onnx_shape(dims)), 'hef_shape': dims}
        inputs.append({**common, 'name': value_name, 'kind': 'value', 'bits': 8,
                       'scale': scale, 'max': st['max'], 'exact': st['integral']})
        inputs.append({**common, 'name': spike_name, 'kind': 'spike', 'bits': 8,
                       'scale': 1.0, 'max': 1.0, 'exact': True})
    max_weight = 0
    targets = sorted({op.dst for op in part.operators})
    for b in targets:
        area = connectome.areas[b]
        bound = np.zeros(area.voxels, dtype=np.float64)
        input_error = np.zeros(area.voxels, dtype=np.float64)
        integral = True
        for op in part.operators:
            if op.dst != b:
                continue
            p = pairs[(op.src, op.dst)]
            st = stats[op.src]
            np.add.at(bound, p.dst_vox, np.abs(p.weight) * st['per_voxel_max'][p.src_vox])
            if not st['integral']:          # uint8 with scale max/255: off by half a step
                np.add.at(input_error, p.dst_vox, np.abs(p.weight) * (st['max'] / 510.0))
            integral = integral and st['integral']
            max_weight = max(max_weight, op.max_abs_weight, op.max_count)
        b_max = float(bound.max()) if bound.size else 0.0
        bits, scale, exact = _output_bits(b_max, integral)
        error = 0.0 if exact else scale / 2 + (float(input_error.max()) if bound.size else 0.0)
        cur_name, reach_name = output_names(b)
        lo = int(connectome.area_start[b])
        common = {'area': area.id, 'area_index': b, 'dims': list(area.dims),
                  'neuron_range': [lo, int(connectome.area_start[b + 1])],
                  'neurons_per_voxel': area.neurons_per_voxel,
                  'onnx_shape': list(onnx_shape(area.dims)),
                  'hef_shape': list(area.dims)}
        outputs.append({**common, 'name': cur_name, 'kind': 'current', 'bits': bits,
                        'scale': scale, 'bound': b_max, 'exact': exact, 'error_bound': error})
        derived = exact and _sign_definite(
            [op for op in part.operators if op.dst == b],
            [stats[op.src] for op in part.operators if op.dst == b])
        common['reach_from_current'] = derived
        outputs[-1]['reach_from_current'] = derived
        if not derived:
            outputs.append({**common, 'name': reach_name, 'kind': 'reach', 'bits': 8,
                            'scale': 1.0, 'bound': 1.0, 'exact': True, 'error_bound': 0.0})
    reach_targets = {o['area_index'] for o in outputs if o['kind'] == 'reach'}
    need_spikes = {op.src for op in part.operators if op.dst in reach_targets}
    inputs = [i for i in inputs if i['kind'] == 'value' or i['area_index'] in need_spikes]
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
        'layout': 'ONNX inputs/outputs NCHW (1, Z, X, Y); HEF NHWC (X, Y, Z) = the host order',
    }


def export_partition(connectome, part: DevicePartition,
                     pairs: Optional[Dict[tuple, PairSynapses]] = None) -> ExportedPartition:
    """Build the ONNX model and manifest of one device partition (in memory)."""
    if not part.operators:
        raise ValueError(f'partition {part.name}: no mapping into its areas can run on a '
                         'device; nothing to export')
    if pairs is None:
        pairs = pair_synapses(connectome)
    manifest = build_manifest(connectome, part, pairs)
    reach = {o['area_index'] for o in manifest['outputs'] if o['kind'] == 'reach'}
    model = build_graph(connectome.areas, part.operators, part.name, reach).SerializeToString()
    return ExportedPartition(part.name, model, add_output_nodes(manifest, model))


def calibration_set(manifest: dict, samples: int = CALIBRATION_SAMPLES,
                    seed: int = 1) -> Dict[str, np.ndarray]:
    """Representative NHWC inputs: random spike patterns at several densities.

    The last sample has every source at its maximum, so the calibrated range covers the bound.
    """
    rng = np.random.default_rng(seed)
    out = {}
    density = np.linspace(0.0, 0.5, samples).astype(np.float32)
    spikes = {}
    for spec in manifest['inputs']:
        shape = (samples, *spec['hef_shape'])
        key = spec['area_index']
        if key not in spikes:
            fire = rng.random(shape, dtype=np.float32) < density[:, None, None, None]
            fire[-1] = True
            spikes[key] = fire
        fire = spikes[key]
        value = np.float32(spec['max']) if spec['kind'] == 'value' else np.float32(1)
        out[spec['name']] = np.where(fire, value, np.float32(0)).astype(np.float32)
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
