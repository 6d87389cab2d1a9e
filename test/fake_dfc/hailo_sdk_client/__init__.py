"""Recording stand-in of the Hailo Dataflow Compiler's `hailo_sdk_client` (tests only).

`ClientRunner` appends every call and its arguments (arrays as shape and dtype) to the JSON
list in $FAKE_DFC_LOG and answers like the DFC: translate_onnx_model builds a parsed HN with
`<net>/input_layerN` (original_names: the start node), `<net>/convN` (original_names: the
end node) and `<net>/output_layerN` fed by convN; load_model_script refuses a layer name the
HN does not have; optimize refuses a calibration set not keyed by HN input layers or not NHWC;
compile returns HEF bytes (JSON here, so a stand-in HailoRT can read the streams back).

Faults: $FAKE_DFC_DROP_OUTPUT=<end node> leaves that output out of the HN;
$FAKE_DFC_BARE_OUTPUTS=1 gives output layers no original_names (only convN carries them).
"""

import copy
import json
import os
import re

__version__ = '3.33.0'


def _describe(value):
    """JSON-able form of an argument: arrays as shape and dtype, dicts and lists recursively."""
    if hasattr(value, 'shape') and hasattr(value, 'dtype'):
        return {'array_shape': list(value.shape), 'dtype': str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


class ClientRunner:
    """The DFC runner: parse, model script, optimize, compile (recorded, not performed)."""

    def __init__(self, hw_arch=None, har=None, **kwargs):
        self.hw_arch = hw_arch
        self._hn = None
        self._script = ''
        self._state = 'created'
        self._record('ClientRunner', hw_arch=hw_arch, har=har, **kwargs)

    def _record(self, call, *args, **kwargs):
        path = os.environ.get('FAKE_DFC_LOG')
        if not path:
            return
        calls = []
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                calls = json.load(handle)
        calls.append({'call': call, 'args': _describe(list(args)),
                      'kwargs': _describe(kwargs)})
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(calls, handle, indent=1)

    def translate_onnx_model(self, model, net_name='net', start_node_names=None,
                             end_node_names=None, net_input_shapes=None, **kwargs):
        """Parse: an HN of input layers, one conv per end node and its output layer."""
        self._record('translate_onnx_model', model, net_name, start_node_names=start_node_names,
                     end_node_names=end_node_names, net_input_shapes=net_input_shapes,
                     **kwargs)
        if not os.path.exists(model):
            raise FileNotFoundError(f'no ONNX model at {model}')
        drop = os.environ.get('FAKE_DFC_DROP_OUTPUT', '')
        bare = os.environ.get('FAKE_DFC_BARE_OUTPUTS') == '1'
        layers = {}
        inputs = []
        for i, start in enumerate(start_node_names or [], 1):
            n, c, h, w = (net_input_shapes or {})[start]
            name = f'{net_name}/input_layer{i}'
            inputs.append(name)
            layers[name] = {'type': 'input_layer', 'input': [], 'output': [],
                            'input_shapes': [[-1, h, w, c]], 'output_shapes': [[-1, h, w, c]],
                            'original_names': [start]}
        kept = [end for end in end_node_names or [] if end != drop]
        for j, end in enumerate(kept, 1):
            conv, out = f'{net_name}/conv{j}', f'{net_name}/output_layer{j}'
            layers[conv] = {'type': 'conv', 'input': list(inputs), 'output': [out],
                            'original_names': [f'{end}_fused_pre', end]}
            layers[out] = {'type': 'output_layer', 'input': [conv], 'output': [],
                           'original_names': [] if bare else [end]}
            for name in inputs:
                layers[name]['output'].append(conv)
        self._hn = {'name': net_name, 'layers': layers}
        self._state = 'parsed'
        return copy.deepcopy(self._hn), {}

    def get_hn_dict(self):
        """The parsed HN as a dict (name, layers)."""
        self._record('get_hn_dict')
        return copy.deepcopy(self._hn)

    def save_har(self, path):
        """Write a stand-in HAR (the HN as JSON)."""
        self._record('save_har', path)
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump({'state': self._state, 'hn': self._hn}, handle)

    def load_model_script(self, model_script, append=False):
        """Accept a model script whose every scoped layer name is in the HN."""
        self._record('load_model_script', model_script, append=append)
        text = model_script
        if os.path.exists(model_script):
            with open(model_script, encoding='utf-8') as handle:
                text = handle.read()
        for line in text.splitlines():
            if line.strip().startswith('#'):
                continue
            for name in re.findall(r'[\w.-]+/[\w.-]+', line):
                if name not in self._hn['layers']:
                    raise ValueError(f'model script: no layer {name} in the HN')
        self._script = (self._script + text) if append else text

    def optimize(self, calib_data):
        """Check the calibration set: one NHWC array per HN input layer, keyed by its name."""
        self._record('optimize', calib_data)
        layers = self._hn['layers']
        wanted = {n for n, layer in layers.items() if layer['type'] == 'input_layer'}
        if not isinstance(calib_data, dict) or set(calib_data) != wanted:
            raise ValueError(f'calibration set keys {sorted(calib_data)} are not the input '
                             f'layers {sorted(wanted)}')
        for name, data in calib_data.items():
            if list(data.shape[1:]) != layers[name]['input_shapes'][0][1:]:
                raise ValueError(f'calibration set {name}: shape {data.shape}')
        self._state = 'quantized'

    def compile(self):  # noqa: A003 - the DFC method name
        """HEF bytes: the streams as JSON (a stand-in HailoRT reads them back)."""
        self._record('compile')
        layers = self._hn['layers']
        streams = [{'name': n, 'direction': 'input', 'shape': layers[n]['input_shapes'][0][1:],
                    'original_names': layers[n]['original_names']}
                   for n, layer in layers.items() if layer['type'] == 'input_layer']
        for n, layer in layers.items():
            if layer['type'] == 'output_layer':
                source = layer['input'][0]
                streams.append({'name': source, 'direction': 'output', 'shape': [],
                                'original_names': layers[source]['original_names']})
        self._state = 'compiled'
        return json.dumps({'fake_hef': self._hn['name'], 'script': self._script,
                           'streams': streams}).encode()
