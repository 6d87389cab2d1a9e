"""Fake `hailo_platform.pyhailort.pyhailort` (tests only): names and behaviour of HailoRT 4.23.

Only what feagi_hailo_ros uses plus the common neighbours; the fake HEF is an ONNX file and
inference runs it on onnxruntime (NHWC buffers in and out, like the real vstreams), with the
host-side quantisation of FLOAT32 buffers HailoRT applies (quantization.hpp) from the
quant_info each stream reports. fake_hailo_control.STATE shuffles the stream order, changes
a stream's quant_info or corrupts an output.
"""

import enum
import json
import os
import time
from types import SimpleNamespace

from fake_hailo_control import STATE
from hailo_platform.pyhailort._pyhailort import HailoRTStatusException
import numpy as np


# ---- exceptions (libhailort status -> class, as pyhailort.py maps them) -------------------
class HailoRTException(Exception):
    """Base of the wrapped libhailort errors."""


class HailoRTTimeout(HailoRTException):
    """HAILO_TIMEOUT (4)."""


class HailoRTStreamAborted(HailoRTException):
    """HAILO_STREAM_ABORT (63)."""


class HailoRTStreamAbortedByUser(HailoRTException):
    """Exported, never raised by 4.23."""


class HailoRTInvalidOperationException(HailoRTException):
    """HAILO_INVALID_OPERATION."""


class HailoRTInvalidArgumentException(HailoRTException):
    """HAILO_INVALID_ARGUMENT."""


class HailoRTNotFoundException(HailoRTException):
    """HAILO_NOT_FOUND."""


class HailoRTInvalidHEFException(HailoRTException):
    """HAILO_INVALID_HEF."""


class HailoRTHEFNotCompatibleWithDevice(HailoRTException):
    """HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE (93)."""


class HailoRTDriverOperationFailedException(HailoRTException):
    """HAILO_DRIVER_OPERATION_FAILED."""


HailoRTPCIeDriverException = HailoRTDriverOperationFailedException


class HailoRTFirmwareControlFailedException(HailoRTException):
    """HAILO_FW_CONTROL_FAILURE."""


class HailoRTUnsupportedOpcodeException(HailoRTException):
    """HAILO_UNSUPPORTED_OPCODE."""


class HailoRTNetworkGroupNotActivatedException(HailoRTException):
    """HAILO_NETWORK_GROUP_NOT_ACTIVATED."""


class HailoCommunicationClosedException(HailoRTException):
    """HAILO_COMMUNICATION_CLOSED."""


def _status(number: int, name: str) -> HailoRTException:
    return HailoRTException(f'libhailort failed with error: {number} ({name})')


# ---- enums --------------------------------------------------------------------------------
class FormatType(enum.Enum):
    """Host-side tensor format."""

    AUTO = 0
    UINT8 = 1
    UINT16 = 2
    FLOAT32 = 3


class HailoSchedulingAlgorithm(enum.Enum):
    """Model scheduler."""

    NONE = 0
    ROUND_ROBIN = 1


class HailoStreamInterface(enum.Enum):
    """Stream interface."""

    PCIe = 0
    ETH = 1


class DvmTypes(enum.Enum):
    """Power sensor selection."""

    AUTO = 0


class PowerMeasurementTypes(enum.Enum):
    """Power measurement kind."""

    AUTO = 0
    POWER = 1


_DTYPE = {FormatType.UINT8: np.uint8, FormatType.UINT16: np.uint16,
          FormatType.FLOAT32: np.float32, FormatType.AUTO: np.uint8}


def _check_driver() -> None:
    if not STATE.driver_installed:
        raise HailoRTStatusException('64')
    if STATE.driver_version != STATE.library_version:
        STATE.log.append(f'CHECK failed - Driver version ({STATE.driver_version}) is different '
                         f'from library version ({STATE.library_version})')
        raise _status(76, 'HAILO_INVALID_DRIVER_VERSION')


def _board(device_id):
    for board in STATE.boards:
        if board.device_id == device_id:
            return board
    return None


# ---- Device (telemetry; does not claim the chip) -------------------------------------------
class _Control:
    def __init__(self, board):
        self._board = board

    def identify(self):
        b = self._board
        return SimpleNamespace(board_name=b.board_name + '\x00' * 4,
                               firmware_version=b.firmware,
                               device_architecture=b.architecture,
                               serial_number='FAKE0001', part_number='HM218B1C2FAE',
                               product_name='HAILO-8 AI ACCELERATOR M.2 MODULE')

    def get_chip_temperature(self):
        t = self._board.temperature_c
        return SimpleNamespace(ts0_temperature=t - 0.5, ts1_temperature=t + 0.5,
                               sample_count=2)

    def power_measurement(self, dvm=DvmTypes.AUTO,
                          measurement_type=PowerMeasurementTypes.AUTO):
        if self._board.power_w is None:
            raise HailoRTFirmwareControlFailedException(
                'Firmware control has failed. (power measurement not supported)')
        return float(self._board.power_w)


class Device:
    """A physical Hailo device by PCIe id."""

    def __init__(self, device_id=None):
        _check_driver()
        if device_id is None:
            if not STATE.boards:
                raise HailoRTException('HailoRT device not found in the system')
            device_id = STATE.boards[0].device_id
        board = _board(device_id)
        if board is None:
            raise HailoRTStatusException('61')
        self.device_id = device_id
        self.control = _Control(board)
        self._released = False

    @staticmethod
    def scan():
        """Return the PCIe ids of the Hailo devices present."""
        _check_driver_scan()
        return [b.device_id for b in STATE.boards]

    def release(self):
        """Release the handle."""
        self._released = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _check_driver_scan() -> None:
    if not STATE.driver_installed:
        raise HailoRTStatusException('64')


# ---- HEF -----------------------------------------------------------------------------------
def _quant(spec, onnx_name, recorded):
    """qp_scale, qp_zp, bits of a tensor: what the compile of the manifest gives.

    Test overrides (STATE.quant) and a compile report's `hef_quant` win; else the manifest's
    scale with zero point 0 (inputs, reach) or mid-range (signed currents).
    """
    if spec is None:
        return None
    entry = STATE.quant.get(onnx_name) or recorded.get(onnx_name)
    bits = int(spec['bits'])
    if entry:
        return float(entry['qp_scale']), float(entry['qp_zp']), bits
    zero = 2 ** (bits - 1) if spec['kind'] == 'current' else 0
    return float(spec['scale']), float(zero), bits


class HEF:
    """A compiled network (fake: an ONNX file, quantisation from manifest.json beside it).

    Streams are named as the DFC names its layers (`<net>/input_layer<k>` in input order,
    `<net>/conv<k>` after the node that produces an output); their original names are the
    ONNX input name, or the producing node's name after its predecessor's (fused layers).
    """

    def __init__(self, hef_source):
        import onnx
        if isinstance(hef_source, (bytes, bytearray)):
            data, directory = bytes(hef_source), None
        else:
            if not os.path.exists(hef_source):
                raise HailoRTNotFoundException(f'HEF file {hef_source} not found')
            with open(hef_source, 'rb') as handle:
                data = handle.read()
            directory = os.path.dirname(os.path.abspath(hef_source))
        try:
            self._model = onnx.load_from_string(data)
            graph = self._model.graph
            if not graph.input:
                raise ValueError('no inputs')
        except Exception:
            raise HailoRTInvalidHEFException('libhailort failed with error: 26 '
                                             '(HAILO_INVALID_HEF)') from None
        self._bytes = data
        self.name = graph.name or 'net'
        manifest = {'inputs': [], 'outputs': []}
        if directory and os.path.exists(os.path.join(directory, 'manifest.json')):
            with open(os.path.join(directory, 'manifest.json'), encoding='utf-8') as handle:
                manifest = json.load(handle)
        specs = {spec['name']: spec for spec in manifest['inputs'] + manifest['outputs']}
        recorded = manifest.get('hef_quant') or {}
        producer = {out: (k, node) for k, node in enumerate(graph.node) for out in node.output}

        def info(value, stream, originals):
            dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
            shape = (dims[1],) if len(dims) == 2 else (dims[2], dims[3], dims[1])  # NC, NHWC
            quant = _quant(specs.get(value.name), value.name, recorded)
            scale, zero, bits = quant or (1.0, 0.0, 8)
            return SimpleNamespace(
                name=f'{self.name}/{stream}', shape=shape,
                format=SimpleNamespace(type=FormatType.UINT16 if bits > 8 else FormatType.UINT8),
                quant_info=SimpleNamespace(qp_scale=scale, qp_zp=zero, limvals_min=0.0,
                                           limvals_max=0.0),
                network_name=f'{self.name}/{self.name}',
                _onnx=value.name, _originals=list(originals), _bits=quant and bits)

        def output_originals(node):
            before = producer.get(node.input[0]) if node.input else None
            return ([before[1].name] if before else []) + [node.name]
        self._inputs = [info(v, f'input_layer{k + 1}', [v.name])
                        for k, v in enumerate(graph.input)]
        self._outputs = [info(v, ('fc' if producer[v.name][1].op_type == 'MatMul' else 'conv')
                              + str(producer[v.name][0] + 1),
                              output_originals(producer[v.name][1])) for v in graph.output]
        if STATE.shuffle_seed is not None:
            rng = np.random.default_rng(STATE.shuffle_seed)
            self._inputs = [self._inputs[k] for k in rng.permutation(len(self._inputs))]
            self._outputs = [self._outputs[k] for k in rng.permutation(len(self._outputs))]
        if STATE.swap_outputs:
            where = [k for k, o in enumerate(self._outputs) if o._onnx in STATE.swap_outputs]
            i, j = where
            self._outputs[i], self._outputs[j] = self._outputs[j], self._outputs[i]

    def get_input_vstream_infos(self, name=None):
        """Input vstream infos (NHWC shapes)."""
        return list(self._inputs)

    def get_output_vstream_infos(self, name=None):
        """Output vstream infos (NHWC shapes)."""
        return list(self._outputs)

    def get_network_group_names(self):
        """Network group names."""
        return [self.name]

    def get_original_names_from_vstream_name(self, vstream_name, network_group_name=None):
        """The ONNX names a vstream was compiled from."""
        for info in self._inputs + self._outputs:
            if info.name == vstream_name:
                return list(info._originals)
        raise HailoRTNotFoundException('Item not found. See hailort.log for more information')

    def get_vstream_name_from_original_name(self, original_name, network_group_name=None):
        """The vstream an ONNX name was compiled into."""
        for info in self._inputs + self._outputs:
            if original_name in info._originals:
                return info.name
        raise HailoRTNotFoundException('Item not found. See hailort.log for more information')


def _to_chip(array, info):
    """Quantise a FLOAT32 host buffer as HailoRT does: bankers_round(clip(x)/s + zp)."""
    if info._bits is None:
        return array
    q, top = info.quant_info, 2 ** info._bits - 1
    scale, zero = np.float32(q.qp_scale), q.qp_zp
    clipped = np.clip(array, (0 - zero) * scale, (top - zero) * scale).astype(np.float32)
    codes = np.rint((clipped / scale).astype(np.float64) + zero)
    codes = codes.astype(np.uint16 if info._bits > 8 else np.uint8)
    return ((codes.astype(np.float64) - zero) * scale).astype(np.float32)


def _from_chip(array, info):
    """What the chip's output codes dequantise to: (q - zp) * s, q saturated."""
    if info._bits is None:
        return array
    q, top = info.quant_info, 2 ** info._bits - 1
    scale, zero = np.float32(q.qp_scale), q.qp_zp
    codes = np.clip(np.rint((array / scale).astype(np.float64) + zero), 0, top)
    out = ((codes - zero) * scale).astype(np.float32)
    if STATE.corrupt_output in (info._onnx, '*') and out.size:
        out.reshape(-1)[0] += scale
    return out


class _Engine:
    """Runs the fake HEF: NHWC float buffers in, NHWC float buffers out (quantised)."""

    def __init__(self, hef: HEF, board):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(hef._bytes, options,
                                             providers=['CPUExecutionProvider'])
        self._hef = hef
        self._board = board

    def run(self, feed_nhwc: dict, timeout_ms=None) -> dict:
        STATE.runs += 1
        if STATE.runs in STATE.timeout_on_run:
            raise HailoRTTimeout('libhailort failed with error: 4 (HAILO_TIMEOUT)')
        if STATE.runs in STATE.fail_on_run:
            raise HailoRTDriverOperationFailedException(
                'libhailort failed with error: 36 (HAILO_DRIVER_OPERATION_FAILED)')
        if self._board.used_by_other_process:
            raise HailoCommunicationClosedException('communication closed')
        feed = {}
        for info in self._hef._inputs:
            array = np.asarray(feed_nhwc[info.name], dtype=np.float32).reshape(info.shape)
            feed[info._onnx] = np.ascontiguousarray(
                np.transpose(_to_chip(array, info), (2, 0, 1))[None])
        outputs = self._hef._outputs
        out = {}
        for info, value in zip(outputs, self._session.run([o._onnx for o in outputs], feed)):
            host = value[0] if value.ndim == 2 else np.transpose(value[0], (1, 2, 0))
            nhwc = _from_chip(host, info)
            out[info.name] = np.ascontiguousarray(nhwc, dtype=np.float32)
        return out


# ---- VDevice, InferModel -------------------------------------------------------------------
class _Params(SimpleNamespace):
    pass


class VDevice:
    """A virtual device over one or more chips; claims them."""

    @staticmethod
    def create_params():
        """Default parameters (scheduler NONE, group 'UNIQUE')."""
        return _Params(scheduling_algorithm=HailoSchedulingAlgorithm.NONE, group_id='UNIQUE',
                       device_ids=None, device_count=1, multi_process_service=False)

    def __init__(self, params=None, *, device_ids=None):
        _check_driver()
        params = params or VDevice.create_params()
        ids = device_ids or params.device_ids
        if params.multi_process_service and \
                params.scheduling_algorithm == HailoSchedulingAlgorithm.NONE:
            raise HailoRTInvalidArgumentException(
                'libhailort failed with error: 2 (HAILO_INVALID_ARGUMENT)')
        if ids:
            boards = [_board(i) for i in ids]
            if any(b is None for b in boards):
                raise HailoRTNotFoundException('libhailort failed with error: 61 '
                                               '(HAILO_NOT_FOUND)')
            for b in boards:
                if b.device_id in STATE.claimed or (b.used_by_other_process
                                                    and not params.multi_process_service):
                    raise _status(73, 'HAILO_DEVICE_IN_USE')
        else:
            free = [b for b in STATE.boards if b.device_id not in STATE.claimed
                    and not b.used_by_other_process]
            if not free:
                STATE.log.append('Failed to create vdevice. there are not enough free '
                                 'devices. requested: 1, found: 0')
                raise _status(74, 'HAILO_OUT_OF_PHYSICAL_DEVICES')
            boards = free[:1]
        for b in boards:
            if b.architecture.startswith(('HAILO10', 'HAILO15')):
                raise _status(7, 'HAILO_NOT_SUPPORTED')
        self._boards = boards
        self._params = params
        for b in boards:
            STATE.claimed.add(b.device_id)
        self._released = False

    def create_infer_model(self, hef_source, name=''):
        """Load a HEF as an InferModel."""
        return InferModel(HEF(hef_source), self)

    def configure(self, hef, configure_params=None):
        """Configure a HEF (vstreams API); returns network groups."""
        return [_NetworkGroup(hef, self)]

    def get_physical_devices_ids(self):
        """Ids of the chips of this vdevice."""
        return [b.device_id for b in self._boards]

    def release(self):
        """Free the chips."""
        if not self._released:
            for b in self._boards:
                STATE.claimed.discard(b.device_id)
            self._released = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class _Stream:
    def __init__(self, info):
        self.name = info.name
        self.shape = tuple(info.shape)
        self.format = SimpleNamespace(type=FormatType.AUTO)

    def set_format_type(self, format_type):
        self.format.type = format_type


class InferModel:
    """The asynchronous inference model of one HEF."""

    def __init__(self, hef: HEF, vdevice: VDevice):
        self._hef = hef
        self._vdevice = vdevice
        self._inputs = {i.name: _Stream(i) for i in hef.get_input_vstream_infos()}
        self._outputs = {o.name: _Stream(o) for o in hef.get_output_vstream_infos()}
        self.batch_size = 1

    @property
    def input_names(self):
        """Input stream names."""
        return list(self._inputs)

    @property
    def output_names(self):
        """Output stream names."""
        return list(self._outputs)

    def _one(self, streams, name, what):
        if name is None:
            if len(streams) != 1:
                raise HailoRTInvalidOperationException(
                    f'{what}() without a name needs exactly one {what}')
            return next(iter(streams.values()))
        if name not in streams:
            raise HailoRTNotFoundException(f'no {what} named {name}')
        return streams[name]

    def input(self, name=None):  # noqa: A003
        """An input stream (by name when there are several)."""
        return self._one(self._inputs, name, 'input')

    def output(self, name=None):
        """An output stream (by name when there are several)."""
        return self._one(self._outputs, name, 'output')

    def set_batch_size(self, batch_size):
        """Frames per run."""
        self.batch_size = batch_size

    def configure(self):
        """Configure on the vdevice."""
        if self._vdevice._released:
            raise HailoRTInvalidOperationException('vdevice released')
        return ConfiguredInferModel(self)


class _Buffer:
    def __init__(self, stream, buffer=None):
        self._stream = stream
        self._buffer = buffer

    def set_buffer(self, buffer):
        want = _DTYPE[self._stream.format.type]
        if buffer.dtype != want or not buffer.flags['C_CONTIGUOUS']:
            raise HailoRTInvalidArgumentException(
                f'buffer of {self._stream.name} must be C-contiguous {np.dtype(want).name}')
        if buffer.size != int(np.prod(self._stream.shape)):
            raise HailoRTInvalidArgumentException(
                f'buffer of {self._stream.name} has {buffer.size} elements, expected shape '
                f'{self._stream.shape}')
        self._buffer = buffer

    def get_buffer(self):
        return self._buffer


class _Bindings:
    def __init__(self, model: InferModel, input_buffers=None, output_buffers=None):
        self._in = {n: _Buffer(s, (input_buffers or {}).get(n))
                    for n, s in model._inputs.items()}
        self._out = {n: _Buffer(s, (output_buffers or {}).get(n))
                     for n, s in model._outputs.items()}

    def input(self, name=None):  # noqa: A003
        if name is None and len(self._in) == 1:
            return next(iter(self._in.values()))
        return self._in[name]

    def output(self, name=None):
        if name is None and len(self._out) == 1:
            return next(iter(self._out.values()))
        return self._out[name]


class AsyncInferJob:
    """Handle of one asynchronous run."""

    def __init__(self, error=None):
        self._error = error

    def wait(self, timeout_ms=None):
        """Wait for completion (the fake completes synchronously)."""
        if self._error is not None:
            raise self._error


class ConfiguredInferModel:
    """An InferModel configured on a vdevice."""

    def __init__(self, model: InferModel):
        self._model = model
        self._engine = _Engine(model._hef, model._vdevice._boards[0])
        self._shutdown = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def shutdown(self):
        """Release the configuration."""
        self._shutdown = True

    def create_bindings(self, input_buffers=None, output_buffers=None):
        """Bindings holding the host buffers of one frame."""
        return _Bindings(self._model, input_buffers, output_buffers)

    def wait_for_async_ready(self, timeout_ms=1000, frames_count=1):
        """Ready at once (no queue in the fake)."""
        if self._shutdown:
            raise HailoRTInvalidOperationException('configured model is shut down')

    def _run_one(self, bindings, timeout_ms):
        if self._shutdown or self._model._vdevice._released:
            raise HailoRTInvalidOperationException('configured model is shut down')
        feed = {}
        for name, buf in bindings._in.items():
            if buf.get_buffer() is None:
                raise HailoRTInvalidOperationException(f'input {name} has no buffer')
            feed[name] = buf.get_buffer()
        out = self._engine.run(feed, timeout_ms)
        for name, buf in bindings._out.items():
            target = buf.get_buffer()
            if target is None:
                target = np.empty(buf._stream.shape, dtype=_DTYPE[buf._stream.format.type])
                buf._buffer = target
            target.reshape(-1)[:] = out[name].reshape(-1).astype(target.dtype)

    def run(self, bindings, timeout_ms=10000):
        """Run frames synchronously."""
        for b in bindings:
            self._run_one(b, timeout_ms)

    def run_async(self, bindings, callback=None):
        """Run frames; the callback gets completion_info (exception or None)."""
        error = None
        try:
            for b in bindings:
                self._run_one(b, None)
        except HailoRTException as exc:
            error = exc
        if callback is not None:
            callback(completion_info=SimpleNamespace(exception=error))
        return AsyncInferJob(error)


# ---- vstreams API (scheduler NONE) ---------------------------------------------------------
class ConfigureParams:
    """Configure parameters."""

    @staticmethod
    def create_from_hef(hef, interface):
        """Parameters for a HEF."""
        return {hef.name: SimpleNamespace(interface=interface)}


class _VStreamParams:
    @staticmethod
    def make(network_group, format_type=FormatType.AUTO, timeout_ms=10000, **kwargs):
        return {'format_type': format_type, 'timeout_ms': timeout_ms}


class InputVStreamParams(_VStreamParams):
    """Input vstream parameters."""


class OutputVStreamParams(_VStreamParams):
    """Output vstream parameters."""


class _NetworkGroup:
    def __init__(self, hef, vdevice):
        self._hef = hef
        self._vdevice = vdevice
        self._active = False
        self._engine = _Engine(hef, vdevice._boards[0])

    def create_params(self):
        return SimpleNamespace()

    def activate(self, params=None):
        group = self

        class _Activation:
            def __enter__(self):
                group._active = True
                return self

            def __exit__(self, *exc):
                group._active = False
        return _Activation()


class InferVStreams:
    """Synchronous inference over vstreams (needs an activated network group)."""

    def __init__(self, network_group, input_params, output_params):
        self._group = network_group

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def infer(self, input_data):
        """Run a batch: dict name -> (batch, H, W, C) arrays; returns the same shape."""
        if not self._group._active:
            raise HailoRTNetworkGroupNotActivatedException('network group not activated')
        batch = next(iter(input_data.values())).shape[0]
        results = {}
        for i in range(batch):
            out = self._group._engine.run({k: v[i] for k, v in input_data.items()})
            for k, v in out.items():
                results.setdefault(k, []).append(v)
        time.sleep(0)
        return {k: np.stack(v) for k, v in results.items()}
