#!/usr/bin/env python3
"""Compile this exported FEAGI partition into model.hef with the Hailo Dataflow Compiler 3.x.

`feagi-hailo export` writes this script next to model.onnx, manifest.json and calib.npz. Run
it on the DFC host (x86_64 Ubuntu, DFC 3.x for Hailo-8, its virtual environment active):

    python3 compile_hef.py

It parses the ONNX graph, finds the DFC's layer names of the manifest's inputs and outputs in
the parsed HN, writes the model script (model.alls) with those names, optimizes with the
calibration set keyed by HN input layers, compiles, and writes model.hef and
compile_report.json. It never asks anything: a problem ends it with one line on stderr and
exit status 1 (a DFC traceback goes to compile_hef.log).

Standalone: the DFC host has neither feagi_hailo_ros nor its dependencies, so this imports only
the standard library, numpy, the DFC (`hailo_sdk_client`) and, when installed, HailoRT
(`hailo_platform`, to read the compiled HEF's quant_info).

Every DFC call mirrors one in Hailo's public examples (cited where it is made):
  [ACE-C] hailo-ai/Hailo-Application-Code-Examples compilation_testing.py (commit f965da4)
  [ACE-I] hailo-ai/Hailo-Application-Code-Examples runtime/python/imprinting/PC/optimize.py
          and compile.py
  [ACE-16] hailo-ai/Hailo-Application-Code-Examples
          compilation/16bit_optimization/model-optimization-using-16bit.ipynb
  [MZ] hailo-ai/hailo_model_zoo (hailo_model_zoo/core/main_utils.py, utils/parse_utils.py,
          core/hn_editor/layer_splitter.py and channel_remove.py, cfg/networks/*.yaml,
          cfg/alls/generic/*.alls)
  [RT] hailo-ai/hailort branch hailo8: pyhailort.py (HEF), src/pyhailort.cpp (quant_info)
"""

import argparse
import io
import json
import os
import re
import sys
import traceback
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

HW_ARCH = 'hailo8'
MANIFEST_FORMAT = 'feagi-hailo-partition/1'
REPORT_FORMAT = 'feagi-hailo-compile-report/1'
LOG_NAME = 'compile_hef.log'
QUANT_FIELDS = ('qp_scale', 'qp_zp', 'limvals_min', 'limvals_max')   # [RT] pyhailort.cpp


class CompileError(Exception):
    """A problem the user has to fix; main() prints it as one line and exits 1."""


def load_partition(folder: str) -> Tuple[dict, Dict[str, np.ndarray]]:
    """manifest.json and the calibration inputs (N, H, W, C), keyed by ONNX input name."""
    path = os.path.join(folder, 'manifest.json')
    try:
        with open(path, encoding='utf-8') as handle:
            manifest = json.load(handle)
    except OSError as exc:
        raise CompileError(f'{path}: {exc.strerror}: run feagi-hailo export first') from None
    except ValueError as exc:
        raise CompileError(f'{path}: not JSON ({exc}): export again') from None
    if not isinstance(manifest, dict) or manifest.get('format') != MANIFEST_FORMAT:
        raise CompileError(f'{path}: not a {MANIFEST_FORMAT} manifest: export again')
    calib_path = os.path.join(folder, manifest.get('calibration', {}).get('npz', 'calib.npz'))
    try:
        with np.load(calib_path) as archive:
            calib = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise CompileError(f'{calib_path}: {exc}: export again') from None
    for spec in manifest['inputs']:
        array = calib.get(spec['name'])
        if array is None:
            raise CompileError(f'{calib_path}: no calibration array for input {spec["name"]}')
        if array.ndim != 4 or list(array.shape[1:]) != list(spec['hef_shape']):
            raise CompileError(f'{calib_path}: {spec["name"]} has shape {array.shape}, not '
                               f'(N, {", ".join(map(str, spec["hef_shape"]))}) (NHWC)')
    return manifest, calib


def net_name(manifest: dict) -> str:
    """The DFC network name (the scope of every HN layer name): the partition's name."""
    return re.sub(r'\W', '_', str(manifest.get('partition', ''))) or 'net'


def translate_arguments(manifest: dict) -> dict:
    """Keyword arguments of translate_onnx_model: where to start and stop, input shapes.

    Start nodes are the ONNX graph inputs (as `images` in [MZ] cfg/networks/yolov5*.yaml), end
    nodes the ONNX nodes that produce the outputs (node names, as in [MZ]
    cfg/networks/yolov8*.yaml), input shapes NCHW with batch 1 ([ACE-C]).
    """
    return {
        'start_node_names': [spec['name'] for spec in manifest['inputs']],
        'end_node_names': [spec.get('onnx_node', spec['name']) for spec in manifest['outputs']],
        'net_input_shapes': {spec['name']: [int(v) for v in spec['onnx_shape']]
                             for spec in manifest['inputs']},
    }


def _original_names(layer: dict) -> set:
    return {str(name) for name in layer.get('original_names') or []}


def _only(found: List[str], what: str, name: str) -> str:
    if not found:
        raise CompileError(f'{what} {name} of manifest.json is not in the parsed HN (no '
                           f'{what} layer has it in its original_names): the DFC parsed a '
                           'different graph; export again or report the DFC version')
    if len(found) > 1:
        raise CompileError(f'{what} {name} of manifest.json matches several HN layers '
                           f'({", ".join(found)}): the DFC merged outputs; export again')
    return found[0]


def _upstream(layers: Dict[str, dict], source: str) -> List[str]:
    """The layers between the input layers and `source` (which the DFC calibrates itself)."""
    seen, todo = set(), list(layers[source].get('input') or [])
    while todo:
        name = todo.pop()
        if name in seen or name not in layers or layers[name].get('type') == 'input_layer':
            continue
        seen.add(name)
        todo.extend(layers[name].get('input') or [])
    return sorted(seen)


def map_layers(layers: Dict[str, dict], manifest: dict) -> dict:
    """Each manifest input and output -> its HN layers, found through `original_names`.

    Inputs: {'layer': the input layer}. Outputs: {'layer': the output layer, 'source': the
    layer feeding it, which computes the output and names its stream in the HEF}. Layer
    fields `type`, `input` and `original_names` as read in [MZ] layer_splitter.py.
    """
    def of_type(kind: str) -> List[str]:
        return sorted(name for name, layer in layers.items() if layer.get('type') == kind)

    inputs, outputs = {}, {}
    for spec in manifest['inputs']:
        found = [name for name in of_type('input_layer')
                 if spec['name'] in _original_names(layers[name])]
        inputs[spec['name']] = {'layer': _only(found, 'input', spec['name'])}
    for spec in manifest['outputs']:
        wanted = {spec['name'], spec.get('onnx_node', spec['name'])}
        found = []
        for name in of_type('output_layer'):
            feeding = [s for s in layers[name].get('input') or [] if s in layers]
            if wanted & _original_names(layers[name]) or \
                    any(wanted & _original_names(layers[s]) for s in feeding):
                found.append(name)
        layer = _only(found, 'output', spec['name'])
        feeding = layers[layer].get('input') or []
        if len(feeding) != 1 or feeding[0] not in layers:
            raise CompileError(f'output {spec["name"]}: HN layer {layer} is fed by '
                               f'{feeding}, not by one layer')
        outputs[spec['name']] = {'layer': layer, 'source': feeding[0],
                                 'upstream': _upstream(layers, feeding[0])}
    for kind, known in (('input_layer', inputs), ('output_layer', outputs)):
        mapped = {entry['layer'] for entry in known.values()}
        extra = [name for name in of_type(kind) if name not in mapped]
        if extra:
            raise CompileError(f'the parsed HN has {kind} {extra[0]} (original names '
                               f'{sorted(_original_names(layers[extra[0]]))}) that '
                               'manifest.json does not list: export again')
    return {'inputs': inputs, 'outputs': outputs}


def forced_range(spec: dict) -> List[float]:
    """The output range whose quantisation step is exactly the manifest's scale."""
    half = 2 ** (int(spec['bits']) - 1)
    return [-half * float(spec['scale']), (half - 1) * float(spec['scale'])]


def model_script(manifest: dict, mapping: dict, layers: Dict[str, dict],
                 samples: int) -> str:
    """The model script (.alls), every layer named as in the parsed HN.

    Commands as in Hailo's scripts: flavor [MZ] clip_resnet_50_text_encoder.alls, calibration
    size [MZ] *.alls, equalization off and a16_w16 on an output layer and the layer feeding it
    [ACE-16], a list of layers [MZ] centernet_resnet_v1_18_postprocess.alls, scoped names
    ('<net>/<layer>') [MZ] main_utils.py. force_range_out: Hailo staff on community.hailo.ai
    ("16 bit quantization"); no public Hailo repository shows it (check).
    """
    lines = ['# compile_hef.py: written from the parsed HN, so every name is a DFC layer name',
             'model_optimization_flavor(optimization_level=0, compression_level=0)',
             'pre_quantization_optimization(equalization, policy=disabled)',
             f'model_optimization_config(calibration, calibset_size={int(samples)})']
    wide = set()
    for spec in manifest['outputs']:
        entry = mapping['outputs'][spec['name']]
        if int(spec['bits']) == 16:
            lines.append(f'# {spec["name"]}: |current| up to {spec["bound"]:g} needs 16 bits')
            lines.append(f'quantization_param([{entry["source"]}, {entry["layer"]}], '
                         'precision_mode=a16_w16)')
            wide.update((entry['source'], entry['layer']))
        if spec['exact']:
            low, high = forced_range(spec)
            lines.append(f'# {spec["name"]}: exact, so its step must be {spec["scale"]:g}')
            lines.append(f'quantization_param({entry["source"]}, '
                         f'force_range_out=[{low!r}, {high!r}])')
    if int(manifest.get('weight_bits', 8)) == 16:
        rest = [name for name in sorted(layers) if name not in wide
                and layers[name].get('type') != 'input_layer']
        if rest:
            lines.append('# weights beyond 127 need 16-bit weights')
            lines.append(f'quantization_param([{", ".join(rest)}], precision_mode=a16_w16)')
    return '\n'.join(lines) + '\n'


def _shape_nhwc(layer: dict) -> Optional[List[int]]:
    shapes = layer.get('output_shapes') or layer.get('input_shapes') or []
    shape = list(shapes[0]) if shapes else []
    return [int(v) for v in shape[1:]] if len(shape) == 4 else None


def calibration_by_layer(calib: Dict[str, np.ndarray], manifest: dict, mapping: dict,
                         layers: Dict[str, dict]) -> Dict[str, np.ndarray]:
    """The calibration set keyed by HN input-layer names (NHWC float32), as [ACE-C] does."""
    out = {}
    for spec in manifest['inputs']:
        layer = mapping['inputs'][spec['name']]['layer']
        data = np.ascontiguousarray(calib[spec['name']], dtype=np.float32)
        shape = _shape_nhwc(layers[layer])
        if shape is not None and shape != list(data.shape[1:]):
            raise CompileError(f'input {spec["name"]}: HN layer {layer} has shape {shape} '
                               f'(NHWC), the calibration set {list(data.shape[1:])}')
        out[layer] = data
    return out


def read_hef_streams(hef_path: str) -> Tuple[Optional[Dict[str, dict]], str]:
    """Every vstream of the HEF with its original names and quant_info, or why not read."""
    try:
        import hailo_platform
    except ImportError as exc:
        return None, (f'missing: hailo_platform (HailoRT) is not installed on this host '
                      f'({exc}); the streams below are the expected ones')
    # [RT] pyhailort.py: HEF(path), get_*_vstream_infos(), get_original_names_from_vstream_name
    try:
        hef = hailo_platform.HEF(hef_path)
        directions = (('input', hef.get_input_vstream_infos()),
                      ('output', hef.get_output_vstream_infos()))
    except Exception as exc:  # noqa: BLE001 - the HEF is written; say why it was not read
        first = (str(exc).strip().splitlines() or [''])[0]
        return None, (f'not read: hailo_platform could not open {os.path.basename(hef_path)} '
                      f'({type(exc).__name__}: {first}); the streams below are the expected '
                      'ones')
    streams = {}
    for direction, infos in directions:
        for info in infos:
            try:
                originals = [str(n) for n in hef.get_original_names_from_vstream_name(info.name)]
            except Exception:  # noqa: BLE001 - a name HailoRT cannot translate: none
                originals = []
            quant = {key: float(getattr(info.quant_info, key)) for key in QUANT_FIELDS
                     if hasattr(info.quant_info, key)}
            streams[info.name] = {'direction': direction, 'shape': list(info.shape),
                                  'original_names': originals, 'quant_info': quant}
    version = getattr(hailo_platform, '__version__', '?')
    return streams, f'read from {os.path.basename(hef_path)} with hailo_platform {version}'


def _stream_entry(spec: dict, direction: str, entry: dict, wide: bool,
                  streams: Optional[Dict[str, dict]]) -> dict:
    source = entry.get('source', entry['layer'])
    output = direction == 'output'
    row = {'direction': direction, 'original_name': spec['name'],
           'onnx_node': spec.get('onnx_node', spec['name']) if output else None,
           'hn_layer': entry['layer'], 'upstream_layers': entry.get('upstream', []),
           'stream': source, 'shape_nhwc': list(spec['hef_shape']), 'bits': spec['bits'],
           'scale': spec['scale'], 'exact': spec['exact'],
           'precision_mode': 'a16_w16' if output and (wide or int(spec['bits']) == 16)
           else 'a8_w8',
           'force_range_out': forced_range(spec) if output and spec['exact'] else None,
           'quant_info': None, 'hef_original_names': None}
    if streams is None:
        return row
    wanted = {spec['name'], row['onnx_node'] or spec['name']}
    names = [n for n in (source, entry['layer']) if n in streams] or \
        [n for n, s in streams.items() if wanted & set(s['original_names'])]
    row['stream'] = names[0] if names else None
    if names:
        found = streams[names[0]]
        row.update(quant_info=found['quant_info'], hef_original_names=found['original_names'])
    return row


def build_report(manifest: dict, mapping: dict, hef_path: str,
                 dfc_version: str) -> Tuple[dict, List[str]]:
    """compile_report.json: every stream with its HN name, original name and quant_info."""
    streams, quant_source = read_hef_streams(hef_path)
    wide = int(manifest.get('weight_bits', 8)) == 16
    rows = [_stream_entry(spec, 'input', mapping['inputs'][spec['name']], wide, streams)
            for spec in manifest['inputs']]
    rows += [_stream_entry(spec, 'output', mapping['outputs'][spec['name']], wide, streams)
             for spec in manifest['outputs']]
    problems = [f'note: output {row["original_name"]}: {len(row["upstream_layers"])} HN '
                f'layers before {row["stream"]} keep the ranges the DFC calibrates, so check '
                'its values against a quantized reference'
                for row in rows if row['exact'] and row['upstream_layers']]
    for row in rows:
        if streams is None:
            break
        name = f'{row["direction"]} {row["original_name"]}'
        if row['stream'] is None:
            problems.append(f'error: {name}: model.hef has no stream for HN layer '
                            f'{row["hn_layer"]}')
            continue
        step = row['quant_info'].get('qp_scale')
        if row['exact'] and step is not None and \
                not np.isclose(step, row['scale'], rtol=1e-6, atol=0.0):
            problems.append(f'warning: {name}: qp_scale {step:g} in the HEF is not the '
                            f'manifest scale {row["scale"]:g}: its values are not exact')
    report = {'format': REPORT_FORMAT, 'partition': manifest['partition'],
              'net_name': net_name(manifest), 'hef': os.path.basename(hef_path),
              'dfc_version': dfc_version, 'model_script': 'model.alls',
              'quant_info': quant_source, 'problems': problems,
              'stream_of': {row['original_name']: row['stream'] for row in rows},
              'streams': rows}
    return report, problems


def _step(name: str, call: Callable, folder: str):
    """Run one DFC call; a failure becomes one CompileError line, its traceback goes to a log."""
    try:
        return call()
    except CompileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any DFC failure ends the compile, said once
        log = os.path.join(folder, LOG_NAME)
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write(f'--- {name}\n{traceback.format_exc()}')
        first = (str(exc).strip().splitlines() or [''])[0]
        raise CompileError(f'{name} failed: {type(exc).__name__}: {first} (traceback in '
                           f'{log})') from None


def _write(path: str, data) -> None:
    mode = 'wb' if isinstance(data, (bytes, bytearray)) else 'w'
    with open(path, mode, **({} if mode == 'wb' else {'encoding': 'utf-8'})) as handle:
        handle.write(data)


def compile_partition(folder: str, hw_arch: str = HW_ARCH) -> int:
    """Parse, optimize and compile the partition in `folder`; write model.hef and the report."""
    manifest, calib = load_partition(folder)
    try:
        import hailo_sdk_client
        from hailo_sdk_client import ClientRunner
    except ImportError as exc:
        raise CompileError(f'the Hailo Dataflow Compiler is not importable ({exc}): activate '
                           'the virtual environment of DFC 3.x (hailo_sdk_client)') from None
    net = net_name(manifest)
    path = os.path.join
    for stale in ('model.hef', 'compile_report.json', LOG_NAME):
        if os.path.exists(path(folder, stale)):
            os.remove(path(folder, stale))         # a failed run never leaves an old HEF

    # [ACE-C], [ACE-I]: ClientRunner(hw_arch=...), translate_onnx_model(path, name, ...)
    runner = _step('ClientRunner', lambda: ClientRunner(hw_arch=hw_arch), folder)
    _step('translate_onnx_model', lambda: runner.translate_onnx_model(
        path(folder, 'model.onnx'), net, **translate_arguments(manifest)), folder)
    _step('save_har', lambda: runner.save_har(path(folder, 'model.har')), folder)   # [ACE-I]
    hn = _step('get_hn_dict', runner.get_hn_dict, folder)                         # [ACE-C]
    layers = hn.get('layers') if isinstance(hn, dict) else None
    if not isinstance(layers, dict) or not layers:
        raise CompileError('get_hn_dict: the parsed HN has no layers')
    mapping = map_layers(layers, manifest)
    samples = min(len(a) for a in calib.values()) if calib else 0
    script = model_script(manifest, mapping, layers, samples)
    _write(path(folder, 'model.alls'), script)
    # [ACE-I] load_model_script(text), optimize(...); [ACE-C] optimize({HN input layer: NHWC})
    _step('load_model_script', lambda: runner.load_model_script(script), folder)
    dataset = calibration_by_layer(calib, manifest, mapping, layers)
    _step('optimize', lambda: runner.optimize(dataset), folder)
    _step('save_har', lambda: runner.save_har(path(folder, 'model_optimized.har')), folder)
    hef = _step('compile', runner.compile, folder)            # [ACE-I]: compile() -> HEF bytes
    if not isinstance(hef, (bytes, bytearray)) or not hef:
        raise CompileError(f'compile returned {type(hef).__name__}, not the HEF bytes')
    hef_path = path(folder, 'model.hef')
    _write(hef_path, bytes(hef))
    _step('save_har', lambda: runner.save_har(path(folder, 'model_compiled.har')), folder)
    report, problems = build_report(manifest, mapping, hef_path,
                                    str(getattr(hailo_sdk_client, '__version__', '?')))
    _write(path(folder, 'compile_report.json'), json.dumps(report, indent=1) + '\n')
    print(f'{hef_path}: {len(hef)} bytes, {len(report["streams"])} streams; quant_info '
          f'{report["quant_info"]}; report {path(folder, "compile_report.json")}')
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if any(line.startswith('error') for line in problems) else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: compile the partition folder this script sits in (or --dir)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', default=os.path.dirname(os.path.abspath(__file__)),
                        help='exported partition folder (default: the folder of this script)')
    parser.add_argument('--hw-arch', default=HW_ARCH, help='DFC target (default hailo8)')
    args = parser.parse_args(argv)
    sys.stdin = io.StringIO('')      # a prompt of any library gets EOF, never waits
    try:
        return compile_partition(os.path.abspath(args.dir), args.hw_arch)
    except CompileError as exc:
        print(f'compile_hef.py: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
