"""compile_hef.py, the exported DFC compile step, run against a recording stand-in of the DFC.

The script runs in a subprocess with only test/fake_dfc on PYTHONPATH (it must not need this
package), without stdin, and the stand-in records every DFC call it makes.
"""

import ast
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

from feagi_hailo_ros.cli.main import main as cli_main
from feagi_hailo_ros.devices import compile_hef
import pytest
from test_devices_conftest_helpers import ESSENTIAL

FAKE_DFC = Path(__file__).resolve().parent / 'fake_dfc'
SAMPLES = 16
HAILORT_STAND_IN = '''
"""Stand-in HailoRT: reads the stand-in DFC's HEF (JSON); qp_scale from $FAKE_HEF_SCALES."""
import json
import os
from types import SimpleNamespace

__version__ = '4.23.0'


class HEF:
    def __init__(self, path):
        with open(path, 'rb') as handle:
            self._streams = json.loads(handle.read())['streams']
        self._scales = json.loads(os.environ.get('FAKE_HEF_SCALES', '{}'))

    def _infos(self, direction):
        return [SimpleNamespace(name=s['name'], shape=tuple(s['shape']),
                                quant_info=SimpleNamespace(
                                    qp_scale=self._scales.get(s['name'], 1.0), qp_zp=128.0,
                                    limvals_min=-128.0, limvals_max=127.0))
                for s in self._streams if s['direction'] == direction]

    def get_input_vstream_infos(self, network_name=None):
        return self._infos('input')

    def get_output_vstream_infos(self, network_name=None):
        return self._infos('output')

    def get_original_names_from_vstream_name(self, vstream_name, network_group_name=None):
        return next(s['original_names'] for s in self._streams if s['name'] == vstream_name)
'''


@pytest.fixture(scope='module')
def exports(tmp_path_factory) -> dict:
    """Partition folders exported from the essential genome and a small synthetic brain."""
    root = tmp_path_factory.mktemp('dfc')
    genome = root / 'synthetic.json'
    assert cli_main(['synth', '--neurons', '2000', '--fanout', '5', '--out', str(genome)]) == 0
    out = {}
    for name, path in (('essential', ESSENTIAL), ('synthetic', genome)):
        assert cli_main(['export', '--genome', str(path), '--partition', 'auto', '--out',
                         str(root / name), '--no-cache', '--calibration-samples',
                         str(SAMPLES)]) == 0
        out[name] = root / name / 'hailo0'
    return out


def _run(folder: Path, tmp_path: Path, with_dfc: bool = True, **env) -> tuple:
    """Copy the partition, run its compile_hef.py without stdin; (result, folder, calls)."""
    work = tmp_path / 'part'
    shutil.copytree(folder, work)
    log = tmp_path / 'dfc_calls.json'
    paths = [str(FAKE_DFC)] if with_dfc else []
    paths += [str(p) for p in env.pop('extra_paths', [])]
    environ = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    environ.update(PYTHONPATH=os.pathsep.join(paths), FAKE_DFC_LOG=str(log), **env)
    result = subprocess.run([sys.executable, str(work / 'compile_hef.py')], cwd=str(tmp_path),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            env=environ, timeout=300)
    calls = json.loads(log.read_text()) if log.exists() else []
    return result, work, calls


def _call(calls: list, name: str) -> dict:
    return next(c for c in calls if c['call'] == name)


def _check_compile(result, work: Path, calls: list) -> dict:
    """Everything the compile must do, checked from the recorded DFC calls; the report."""
    assert result.returncode == 0, result.stderr
    assert (work / 'model.hef').stat().st_size > 0
    manifest = json.loads((work / 'manifest.json').read_text())
    order = [c['call'] for c in calls]
    wanted = ['ClientRunner', 'translate_onnx_model', 'get_hn_dict', 'load_model_script',
              'optimize', 'compile']
    assert [c for c in order if c in wanted] == wanted
    assert _call(calls, 'ClientRunner')['kwargs']['hw_arch'] == 'hailo8'
    translate = _call(calls, 'translate_onnx_model')
    assert translate['args'][0] == str(work / 'model.onnx')
    assert translate['kwargs']['start_node_names'] == [s['name'] for s in manifest['inputs']]
    assert translate['kwargs']['end_node_names'] == [s['onnx_node'] for s in
                                                     manifest['outputs']]
    assert translate['kwargs']['net_input_shapes'] == {s['name']: s['onnx_shape']
                                                       for s in manifest['inputs']}
    layers = json.loads((work / 'model.har').read_text())['hn']['layers']

    def feeding(spec):          # the HN layer computing an output, found from the HN alone
        return next(n for n, layer in layers.items() if layer['type'] != 'output_layer'
                    and spec['onnx_node'] in layer['original_names'])

    def output_layer(spec):
        return next(n for n, layer in layers.items() if layer['type'] == 'output_layer'
                    and layer['input'] == [feeding(spec)])

    script = _call(calls, 'load_model_script')['args'][0]
    assert (work / 'model.alls').read_text() == script
    commands = [line for line in script.splitlines() if not line.startswith('#')]
    onnx_names = {s['name'] for s in manifest['inputs'] + manifest['outputs']} | \
        {s['onnx_node'] for s in manifest['outputs']}
    for line in commands:
        assert set(re.findall(r'[\w.-]+/[\w.-]+', line)) <= set(layers), line
        assert not onnx_names & set(re.findall(r'[\w.]+', line)), line
    assert 'pre_quantization_optimization(equalization, policy=disabled)' in commands
    assert 'model_optimization_flavor(optimization_level=0, compression_level=0)' in commands
    wide = {n for line in commands if 'precision_mode=a16_w16' in line
            for n in re.findall(r'[\w.-]+/[\w.-]+', line)}
    assert wide == {n for s in manifest['outputs'] if s['bits'] == 16
                    for n in (feeding(s), output_layer(s))}
    forced = {m[0]: [float(m[1]), float(m[2])] for m in re.findall(
        r'quantization_param\(([\w/]+), force_range_out=\[([-\d.e]+), ([-\d.e]+)\]\)', script)}
    assert forced == {feeding(s): [-2.0 ** (s['bits'] - 1) * s['scale'],
                                   (2.0 ** (s['bits'] - 1) - 1) * s['scale']]
                      for s in manifest['outputs'] if s['exact']}
    calib = _call(calls, 'optimize')['args'][0]
    inputs = {n: layer for n, layer in layers.items() if layer['type'] == 'input_layer'}
    assert set(calib) == set(inputs)
    shapes = {s['name']: s['hef_shape'] for s in manifest['inputs']}
    for name, array in calib.items():
        assert array == {'array_shape': [SAMPLES, *shapes[inputs[name]['original_names'][0]]],
                         'dtype': 'float32'}
    report = json.loads((work / 'compile_report.json').read_text())
    rows = {row['original_name']: row for row in report['streams']}
    assert set(rows) == {s['name'] for s in manifest['inputs'] + manifest['outputs']}
    assert all(row['hn_layer'] in layers and row['stream'] in layers for row in rows.values())
    for spec in manifest['outputs']:
        assert rows[spec['name']]['hn_layer'] == output_layer(spec)
        assert rows[spec['name']]['stream'] == feeding(spec)
    return report


def test_essential_genome_compiles_unattended(exports, tmp_path):
    manifest = json.loads((exports['essential'] / 'manifest.json').read_text())
    assert any(s['bits'] == 16 for s in manifest['outputs'])      # 16-bit lines are checked
    report = _check_compile(*_run(exports['essential'], tmp_path))
    assert report['quant_info'].startswith('missing: hailo_platform')
    assert all(row['quant_info'] is None for row in report['streams'])


@pytest.mark.parametrize('bare', [False, True])
def test_synthetic_brain_compiles_unattended(exports, tmp_path, bare):
    env = {'FAKE_DFC_BARE_OUTPUTS': '1'} if bare else {}
    _check_compile(*_run(exports['synthetic'], tmp_path, **env))


def test_an_output_missing_from_the_hn_fails_naming_it(exports, tmp_path):
    manifest = json.loads((exports['synthetic'] / 'manifest.json').read_text())
    lost = manifest['outputs'][-1]
    result, work, calls = _run(exports['synthetic'], tmp_path,
                               FAKE_DFC_DROP_OUTPUT=lost['onnx_node'])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('compile_hef.py: ')
    assert f'output {lost["name"]} ' in lines[0] and 'not in the parsed HN' in lines[0]
    assert not (work / 'model.hef').exists()
    assert 'optimize' not in [c['call'] for c in calls]


def test_a_dfc_failure_is_one_line_and_a_logged_traceback(exports, tmp_path):
    work_src = tmp_path / 'src'
    shutil.copytree(exports['synthetic'], work_src)
    (work_src / 'model.onnx').unlink()
    result, work, _ = _run(work_src, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert 'translate_onnx_model failed: FileNotFoundError' in result.stderr
    assert 'Traceback' in (work / 'compile_hef.log').read_text()


def test_without_the_dfc_it_says_what_to_activate(exports, tmp_path):
    result, work, _ = _run(exports['synthetic'], tmp_path, with_dfc=False)
    assert result.returncode == 1
    assert 'Hailo Dataflow Compiler is not importable' in result.stderr
    assert not (work / 'model.hef').exists()


def test_the_report_reads_quant_info_when_hailort_is_installed(exports, tmp_path):
    hailort = tmp_path / 'hailort'
    (hailort / 'hailo_platform').mkdir(parents=True)
    (hailort / 'hailo_platform' / '__init__.py').write_text(HAILORT_STAND_IN.lstrip())
    manifest = json.loads((exports['essential'] / 'manifest.json').read_text())
    off = manifest['outputs'][0]['name']
    env = {'extra_paths': [hailort], 'FAKE_HEF_SCALES': json.dumps({'hailo0/conv1': 2.0})}
    result, work, calls = _run(exports['essential'], tmp_path, **env)
    report = _check_compile(result, work, calls)
    assert report['quant_info'] == 'read from model.hef with hailo_platform 4.23.0'
    rows = {row['original_name']: row for row in report['streams']}
    assert all(row['quant_info']['qp_zp'] == 128.0 for row in rows.values())
    assert rows[off]['quant_info']['qp_scale'] == 2.0 and rows[off]['stream'] == 'hailo0/conv1'
    assert f'warning: output {off}: qp_scale 2' in result.stderr
    assert report['stream_of'][off] == 'hailo0/conv1'


def test_a_hef_hailort_cannot_open_is_reported_not_fatal(exports, tmp_path):
    hailort = tmp_path / 'hailort' / 'hailo_platform'
    hailort.mkdir(parents=True)
    (hailort / '__init__.py').write_text(
        'class HEF:\n    def __init__(self, path):\n        raise RuntimeError(\n'
        '            "libhailort failed with error: 26 (HAILO_INVALID_HEF)")\n')
    result, work, calls = _run(exports['synthetic'], tmp_path, extra_paths=[hailort.parent])
    report = _check_compile(result, work, calls)
    assert report['quant_info'].startswith('not read: hailo_platform could not open model.hef '
                                           '(RuntimeError: libhailort failed with error: 26')


def test_the_script_is_standalone():
    source = Path(compile_hef.__file__).read_text()
    allowed = set(sys.stdlib_module_names) | {'numpy', 'hailo_sdk_client', 'hailo_platform'}
    imported = {alias.name.split('.')[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split('.')[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= allowed and 'hailo_sdk_client' in imported


def _hn() -> dict:
    """A parsed HN of one input and two outputs; out 2 has a layer between input and conv."""
    layers = {'n/input_layer1': {'type': 'input_layer', 'original_names': ['in_0'],
                                 'input_shapes': [[-1, 4, 4, 1]]},
              'n/conv1': {'type': 'conv', 'input': ['n/input_layer1'],
                          'original_names': ['conv_1']},
              'n/output_layer1': {'type': 'output_layer', 'input': ['n/conv1'],
                                  'original_names': []},
              'n/dw1': {'type': 'dw', 'input': ['n/input_layer1'], 'original_names': ['x_3']},
              'n/conv2': {'type': 'conv', 'input': ['n/dw1'], 'original_names': ['sum_4']},
              'n/output_layer2': {'type': 'output_layer', 'input': ['n/conv2'],
                                  'original_names': ['sum_4']}}
    return layers


def _manifest(weight_bits: int = 8) -> dict:
    common = {'hef_shape': [4, 4, 1], 'onnx_shape': [1, 1, 4, 4]}
    return {'partition': 'n', 'weight_bits': weight_bits,
            'inputs': [{**common, 'name': 'in_0', 'bits': 8, 'scale': 1.0, 'exact': True}],
            'outputs': [{**common, 'name': 'cur_1', 'onnx_node': 'conv_1', 'bits': 16,
                         'scale': 4.0, 'bound': 1e5, 'exact': False},
                        {**common, 'name': 'cur_2', 'onnx_node': 'sum_4', 'bits': 8,
                         'scale': 1.0, 'bound': 100.0, 'exact': True}]}


def test_model_script_16_bits_where_the_bound_needs_it_and_ranges_only_when_exact():
    layers, manifest = _hn(), _manifest()
    mapping = compile_hef.map_layers(layers, manifest)
    assert mapping['outputs']['cur_2'] == {'layer': 'n/output_layer2', 'source': 'n/conv2',
                                           'upstream': ['n/dw1']}
    script = compile_hef.model_script(manifest, mapping, layers, SAMPLES)
    assert 'quantization_param([n/conv1, n/output_layer1], precision_mode=a16_w16)' in script
    assert 'quantization_param(n/conv2, force_range_out=[-128.0, 127.0])' in script
    assert script.count('force_range_out') == 1 and script.count('a16_w16') == 1
    assert f'model_optimization_config(calibration, calibset_size={SAMPLES})' in script
    wide = compile_hef.model_script(_manifest(16), mapping, layers, SAMPLES)
    assert 'quantization_param([n/conv2, n/dw1, n/output_layer2], precision_mode=a16_w16)' \
        in wide


def test_an_hn_output_the_manifest_does_not_list_is_refused():
    layers, manifest = _hn(), _manifest()
    manifest['outputs'].pop(0)
    with pytest.raises(compile_hef.CompileError, match='output_layer n/output_layer1'):
        compile_hef.map_layers(layers, manifest)


def test_the_exported_script_is_the_package_template(exports):
    text = (exports['essential'] / 'compile_hef.py').read_text()
    assert text == Path(compile_hef.__file__).read_text()
    assert text.startswith('#!/usr/bin/env python3\n')
    assert os.access(exports['essential'] / 'compile_hef.py', os.X_OK)
