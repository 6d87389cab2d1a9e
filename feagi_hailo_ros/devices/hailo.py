"""Hailo-8 through HailoRT 4.x's Python binding `hailo_platform` (imported here only, lazily).

One VDevice per chip (`params.device_ids = [id]`) loads one partition's HEF as an async
InferModel (scheduler ROUND_ROBIN); per burst the host binds float32 NHWC buffers (HailoRT
quantises on the host side) and runs one frame. A separate `Device(id)` handle reads
temperature and power; it does not claim the chip. HailoRT 5.x and Hailo-10/15 chips are
refused: they are a different product line (HAILORT.md).
"""

import contextlib
import os
import re
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import (Device, DeviceError, DeviceHealth, DeviceTimeout,
                                          DeviceUnavailable)
import numpy as np

INSTALL_HELP = (
    'HailoRT 4.x is needed for a Hailo-8/8L. Raspberry Pi OS (Pi 5 + AI Kit / AI HAT+): '
    '`sudo apt install dkms hailo-all`, then reboot. Ubuntu/x86: install the HailoRT driver '
    "and library .debs and the `hailort-4.x-cp3XY` wheel from Hailo's Developer Zone into "
    'this Python (it requires numpy<2). Check with `hailortcli scan`.')

STATUS_NAMES = {
    4: 'HAILO_TIMEOUT', 61: 'HAILO_NOT_FOUND', 63: 'HAILO_STREAM_ABORT',
    64: 'HAILO_DRIVER_NOT_INSTALLED', 73: 'HAILO_DEVICE_IN_USE',
    74: 'HAILO_OUT_OF_PHYSICAL_DEVICES', 76: 'HAILO_INVALID_DRIVER_VERSION',
    78: 'HAILO_INVALID_SERVICE_VERSION', 93: 'HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE',
}

EXPLANATIONS = {
    'HAILO_DEVICE_IN_USE': 'the Hailo chip is in use by another process (a camera pipeline?): '
                           'stop it, or share the chip (hailort.service + shared group id)',
    'HAILO_OUT_OF_PHYSICAL_DEVICES': 'no free Hailo chip: it is in use by another process '
                                     '(stop it, or share it via hailort.service)',
    'HAILO_INVALID_DRIVER_VERSION': 'the Hailo PCIe driver and the HailoRT library versions '
                                    'differ: install the same version of both (hailo-all '
                                    'or the matching .debs) and reboot',
    'HAILO_DRIVER_NOT_INSTALLED': 'the Hailo PCIe driver is not installed or not loaded '
                                  '(hailo-dkms / hailo_pci): install it and reboot',
    'HAILO_INVALID_SERVICE_VERSION': 'hailort.service runs another HailoRT version than '
                                     'this library: restart or reinstall it',
    'HAILO_TIMEOUT': 'the Hailo device did not answer in time',
    'HAILO_STREAM_ABORT': 'the inference stream was aborted (device reset or removed?)',
    'HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE': 'the HEF was compiled for another chip '
                                            '(hailo8 vs hailo8l): recompile with --hw-arch',
    'HAILO_INVALID_HEF': 'the file is not a valid HEF: recompile it with the Hailo DFC 3.x',
    'HAILO_NOT_SUPPORTED': 'the operation is not supported by this chip/library '
                           '(a Hailo-10/15 needs HailoRT 5.x, a Hailo-8 needs 4.x)',
    'HAILO_COMMUNICATION_CLOSED': 'communication with the device was closed (device removed '
                                  'or reset)',
    'HAILO_DRIVER_OPERATION_FAILED': 'a driver operation failed (PCIe error, device reset?)',
    'HAILO_INVALID_ARGUMENT': 'HailoRT refused an argument (a shared chip needs the '
                              'ROUND_ROBIN scheduler)',
}

_CLASS_STATUS = {
    'HailoRTTimeout': 'HAILO_TIMEOUT', 'HailoRTStreamAborted': 'HAILO_STREAM_ABORT',
    'HailoRTInvalidHEFException': 'HAILO_INVALID_HEF',
    'HailoRTHEFNotCompatibleWithDevice': 'HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE',
    'HailoRTNotFoundException': 'HAILO_NOT_FOUND',
    'HailoRTInvalidArgumentException': 'HAILO_INVALID_ARGUMENT',
    'HailoRTDriverOperationFailedException': 'HAILO_DRIVER_OPERATION_FAILED',
    'HailoRTPCIeDriverException': 'HAILO_DRIVER_OPERATION_FAILED',
    'HailoCommunicationClosedException': 'HAILO_COMMUNICATION_CLOSED',
    'HailoRTFirmwareControlFailedException': 'HAILO_FW_CONTROL_FAILURE',
    'HailoRTUnsupportedOpcodeException': 'HAILO_UNSUPPORTED_OPCODE',
}

_SUPPORTED_ARCH = ('HAILO8', 'HAILO8L', 'HAILO8R')


def status_name(exc: BaseException) -> str:
    """The HAILO_* status of a HailoRT exception ('' when unknown)."""
    text = str(exc)
    match = re.search(r'\((HAILO_[A-Z0-9_]+)\)', text)
    if match:
        return match.group(1)
    if type(exc).__name__ == 'HailoRTStatusException':
        try:
            return STATUS_NAMES.get(int(text.strip()), f'status {text.strip()}')
        except ValueError:
            return ''
    for cls in type(exc).__mro__:
        if cls.__name__ in _CLASS_STATUS:
            return _CLASS_STATUS[cls.__name__]
    if 'not found in the system' in text:
        return 'HAILO_NOT_FOUND'
    return ''


def explain(exc: BaseException, where: str = '') -> DeviceError:
    """Turn a HailoRT exception into a DeviceError whose reason says what to do."""
    name = status_name(exc)
    reason = EXPLANATIONS.get(name, str(exc) or type(exc).__name__)
    prefix = f'{where}: ' if where else ''
    message = f'{prefix}{reason} [{name or type(exc).__name__}]'
    cls = DeviceTimeout if name == 'HAILO_TIMEOUT' else DeviceError
    if name in ('HAILO_DRIVER_NOT_INSTALLED', 'HAILO_INVALID_DRIVER_VERSION',
                'HAILO_NOT_SUPPORTED'):
        cls = DeviceUnavailable
    return cls(message, reason=reason, status=name)


def load_hailort():
    """Import `hailo_platform` and check it is HailoRT 4.x; raise DeviceUnavailable if not."""
    try:
        import hailo_platform
    except ImportError as exc:
        detail = str(exc)
        if 'does not match' in detail or 'libhailort' in detail:
            raise DeviceUnavailable(
                f'HailoRT is installed but broken: {detail}. The Python binding, the '
                'library and the driver must be the same version.',
                reason='HailoRT binding/library mismatch') from None
        raise DeviceUnavailable(f'HailoRT (`hailo_platform`) is not installed. {INSTALL_HELP}',
                                reason='HailoRT not installed') from None
    version = str(getattr(hailo_platform, '__version__', '') or '')
    major = version.split('.')[0]
    if major != '4':
        raise DeviceUnavailable(
            f'HailoRT {version or "(unknown version)"} found, but a Hailo-8 needs HailoRT 4.x '
            '(5.x is for Hailo-10H/15 and refuses a Hailo-8). Install HailoRT 4.23 (hailo-all '
            'on Raspberry Pi OS Bookworm, or the 4.x .debs and wheel).',
            reason=f'HailoRT {version} is not 4.x')
    return hailo_platform


def check_architecture(arch) -> str:
    """Return the chip name; refuse Hailo-10/15 (HailoRT 5.x only) with a clear message."""
    name = str(getattr(arch, 'name', arch)).upper().replace('-', '')
    if name.startswith(('HAILO10', 'HAILO15', 'HAILO1X')):
        raise DeviceUnavailable(
            f'this is a {name}: Hailo-10/15 chips need HailoRT 5.x and different compiled '
            'graphs; feagi_hailo_ros supports Hailo-8/8L with HailoRT 4.x',
            reason=f'{name} not supported')
    if not name.startswith(_SUPPORTED_ARCH):
        raise DeviceUnavailable(f'unknown Hailo architecture {name!r}',
                                reason=f'{name} not supported')
    return name


def _clean(text) -> str:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode('ascii', 'replace')
    return str(text).replace('\x00', '').strip()


def scan() -> dict:
    """Describe HailoRT and the Hailo chips here; never raises (`problem` says what is wrong)."""
    report = {'hailort': None, 'devices': [], 'problem': ''}
    try:
        hp = load_hailort()
    except DeviceUnavailable as exc:
        report['problem'] = str(exc)
        return report
    report['hailort'] = hp.__version__
    try:
        ids = hp.Device.scan()
    except Exception as exc:  # noqa: BLE001 - HailoRTStatusException is not a HailoRTException
        report['problem'] = str(explain(exc, 'scan'))
        return report
    if not ids:
        report['problem'] = ('HailoRT is installed but finds no Hailo device: check it is '
                             'seated and powered, `lspci | grep -i hailo`, the hailo_pci '
                             'driver (`lsmod | grep hailo`), and on a Pi 5 the PCIe setting '
                             '(dtparam=pciex1_gen=3 for the AI Kit).')
    for device_id in ids:
        entry = {'id': str(device_id)}
        try:
            with contextlib.closing(_Handle(hp.Device(device_id))) as handle:
                entry.update(handle.identity())
                entry['temperature_c'] = handle.temperature()
                entry['power_w'] = handle.power()
        except DeviceError as exc:
            entry['problem'] = str(exc)
        except Exception as exc:  # noqa: BLE001
            entry['problem'] = str(explain(exc, f'device {device_id}'))
        report['devices'].append(entry)
    return report


class _Handle:
    """Telemetry through a `Device(id)` handle (does not claim the chip)."""

    def __init__(self, device):
        self.device = device
        self.power_ok = True

    def identity(self) -> dict:
        board = self.device.control.identify()
        arch = check_architecture(getattr(board, 'device_architecture', ''))
        return {'architecture': arch, 'board': _clean(getattr(board, 'board_name', '')),
                'firmware': _clean(getattr(board, 'firmware_version', ''))}

    def temperature(self) -> Optional[float]:
        try:
            t = self.device.control.get_chip_temperature()
            return float((t.ts0_temperature + t.ts1_temperature) / 2.0)
        except Exception:  # noqa: BLE001 - telemetry is optional
            return None

    def power(self) -> Optional[float]:
        if not self.power_ok:
            return None
        try:
            return float(self.device.control.power_measurement())
        except Exception:  # noqa: BLE001 - no sensor on this board: stop polling
            self.power_ok = False
            return None

    def close(self) -> None:
        try:
            self.device.release()
        except Exception:  # noqa: BLE001
            pass


class HailoDevice(Device):
    """One Hailo-8 chip running one exported partition's HEF."""

    kind = 'hailo'

    def __init__(self, device_id: Optional[str] = None, hef_path: Optional[str] = None,
                 timeout_ms: int = 1000, shared: bool = False, group_id: str = 'SHARED',
                 name: str = 'hailo0'):
        self.device_id = device_id
        self.hef_path = hef_path
        self.timeout_ms = int(timeout_ms)
        self.shared = shared
        self.group_id = group_id
        self.name = name
        self._hp = None
        self._handle: Optional[_Handle] = None
        self._vdevice = None
        self._stack: Optional[contextlib.ExitStack] = None
        self._configured = None
        self._bindings = None
        self._in_map: Dict[str, Tuple[str, tuple]] = {}
        self._out_map: Dict[str, Tuple[str, np.ndarray]] = {}
        self._identity: dict = {}
        self._status = 'closed'

    def open(self) -> None:  # noqa: A003
        """Find the chip, check its architecture, create its VDevice (claims the chip)."""
        hp = load_hailort()
        self._hp = hp
        try:
            ids = [str(i) for i in hp.Device.scan()]
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, 'scanning for Hailo devices') from None
        if not ids:
            raise DeviceUnavailable(f'no Hailo device found. {INSTALL_HELP}',
                                    reason='no Hailo device found')
        if self.device_id is None:
            self.device_id = ids[0]
        elif self.device_id not in ids:
            raise DeviceUnavailable(f'Hailo device {self.device_id} not found (present: '
                                    f'{", ".join(ids)})', reason='device not found')
        try:
            self._handle = _Handle(hp.Device(self.device_id))
            self._identity = self._handle.identity()
            params = hp.VDevice.create_params()
            params.device_ids = [self.device_id]
            params.scheduling_algorithm = hp.HailoSchedulingAlgorithm.ROUND_ROBIN
            if self.shared:
                params.group_id = self.group_id
                params.multi_process_service = True
            self._vdevice = hp.VDevice(params)
        except DeviceError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001
            self.close()
            raise explain(exc, f'opening Hailo device {self.device_id}') from None
        self._status = 'open'

    def upload(self, partition) -> None:
        """Load the partition's compiled HEF and bind float32 buffers to its streams."""
        if self._vdevice is None:
            raise DeviceError(f'{self.name}: upload before open')
        hef = self.hef_path or getattr(partition, 'hef_path', None)
        if not hef or not os.path.exists(hef):
            raise DeviceUnavailable(
                f'{self.name}: no compiled HEF at {hef}. Compile the exported ONNX with the '
                'Hailo DFC: ' + ' && '.join(partition.manifest.get('compile', [])),
                reason='HEF missing')
        hp = self._hp
        manifest = partition.manifest
        try:
            model = self._vdevice.create_infer_model(hef)
            model.set_batch_size(1)
            for name in model.input_names:
                model.input(name).set_format_type(hp.FormatType.FLOAT32)
            for name in model.output_names:
                model.output(name).set_format_type(hp.FormatType.FLOAT32)
            self._in_map = {spec['name']: (stream, tuple(model.input(stream).shape))
                            for spec, stream in _match(manifest['inputs'], model.input_names,
                                                       model, 'input')}
            self._out_map = {}
            for spec, stream in _match(manifest['outputs'], model.output_names, model,
                                       'output'):
                shape = tuple(model.output(stream).shape)
                self._out_map[spec['name']] = (stream, np.empty(shape, dtype=np.float32))
            self._stack = contextlib.ExitStack()
            self._configured = self._stack.enter_context(model.configure())
            self._bindings = self._configured.create_bindings(
                output_buffers=dict(self._out_map.values()))
            self._dims = {spec['name']: tuple(spec['dims'])
                          for spec in manifest['inputs'] + manifest['outputs']}
        except DeviceError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f'{self.name}: loading {hef}') from None
        self._status = 'loaded'

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run one frame: NHWC float32 grids in, NHWC float32 grids out (dequantised).

        The output grids are the bindings' buffers (no copy: the host scans them before the
        next inference); copy them to keep them longer.
        """
        if self._configured is None:
            raise DeviceError(f'{self.name}: no partition loaded')
        try:
            for name, grid in inputs.items():
                stream, shape = self._in_map[name]
                buf = np.ascontiguousarray(np.asarray(grid, dtype=np.float32).reshape(shape))
                self._bindings.input(stream).set_buffer(buf)
            self._configured.wait_for_async_ready(timeout_ms=self.timeout_ms)
            self._configured.run([self._bindings], self.timeout_ms)
            return {name: np.asarray(self._bindings.output(stream).get_buffer())
                    .reshape(self._dims[name])
                    for name, (stream, _) in self._out_map.items()}
        except Exception as exc:  # noqa: BLE001
            self._status = 'error'
            raise explain(exc, f'{self.name}: inference') from None

    def describe(self) -> DeviceHealth:
        """Identity, chip temperature and power (None when the board has no sensor)."""
        temperature = power = None
        notes: List[str] = []
        if self._handle is not None:
            temperature = self._handle.temperature()
            power = self._handle.power()
            if not self._handle.power_ok:
                notes.append('power n/a: no power sensor readable on this board')
        notes.append('utilisation n/a: HailoRT has no Python utilisation API '
                     '(hailortcli monitor with HAILO_MONITOR=1)')
        return DeviceHealth(
            name=self.name, kind=self.kind, device_id=self.device_id or '',
            architecture=self._identity.get('architecture', ''),
            firmware=self._identity.get('firmware', ''),
            library_version=str(getattr(self._hp, '__version__', '') if self._hp else ''),
            capacity_weights=20_000_000, temperature_c=temperature, power_w=power,
            status=self._status, notes=notes)

    def close(self) -> None:
        """Release the configured model, the VDevice and the telemetry handle."""
        for step in (lambda: self._stack and self._stack.close(),
                     lambda: self._vdevice and self._vdevice.release(),
                     lambda: self._handle and self._handle.close()):
            try:
                step()
            except Exception:  # noqa: BLE001 - closing must not raise
                pass
        self._stack = self._configured = self._bindings = self._vdevice = None
        self._handle = None
        self._status = 'closed'


def _match(specs: List[dict], streams: List[str], model, what: str):
    """Pair manifest tensors with HEF stream names: by name suffix, else by order and shape."""
    by_suffix = {s.split('/')[-1]: s for s in streams}
    pairs = []
    if all(spec['name'] in by_suffix for spec in specs):
        return [(spec, by_suffix[spec['name']]) for spec in specs]
    if len(specs) != len(streams):
        raise DeviceError(f'the HEF has {len(streams)} {what}s, the manifest {len(specs)}: '
                          'was it compiled from this export?')
    for spec, stream in zip(specs, streams):
        shape = tuple(getattr(model, what)(stream).shape)
        if int(np.prod(shape)) != int(np.prod(spec['hef_shape'])):
            raise DeviceError(f'{what} {stream} has shape {shape}, the manifest expects '
                              f'{tuple(spec["hef_shape"])} for {spec["name"]}')
        pairs.append((spec, stream))
    return pairs
