"""Hailo-8 through HailoRT 4.x's Python binding `hailo_platform` (imported here only, lazily).

One VDevice per chip (`params.device_ids = [id]`) loads one partition's HEF as an async
InferModel (scheduler ROUND_ROBIN); per burst the host binds float32 NHWC buffers (HailoRT
quantises on the host side) and runs one frame. A separate `Device(id)` handle reads
temperature and power; it does not claim the chip. HailoRT 5.x and Hailo-10/15 chips are
refused: they are a different product line (HAILORT.md).

At upload the chip proves itself before any burst: the HEF's streams are paired with the
manifest's tensors through their original (ONNX) names, their shapes and quant_info must be
what the manifest expects (devices.hef_streams), and the recorded frames of the export
(selfcheck.npz) must give the CPU's outputs: exact where the manifest says exact, within
the output's error bound elsewhere (devices.selfcheck). Anything else is refused with the
reason; `allow_unchecked=True` runs an export without recorded frames (unchecked, noted).
"""

import contextlib
import os
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceHealth, DeviceUnavailable
from feagi_hailo_ros.devices.hailo_status import explain, status_name
from feagi_hailo_ros.devices.hef_streams import (check_quantisation, describe_pairs,
                                                 HefStream, match_streams)
from feagi_hailo_ros.devices.selfcheck import (load_frames, run_selfcheck, SelfCheckFrames,
                                               summary)
import numpy as np

INSTALL_HELP = (
    'HailoRT 4.x is needed for a Hailo-8/8L. Raspberry Pi OS (Pi 5 + AI Kit / AI HAT+): '
    '`sudo apt install dkms hailo-all`, then reboot. Ubuntu/x86: install the HailoRT driver '
    "and library .debs and the `hailort-4.x-cp3XY` wheel from Hailo's Developer Zone into "
    'this Python (it requires numpy<2). Check with `hailortcli scan`.')

_SUPPORTED_ARCH = ('HAILO8', 'HAILO8L', 'HAILO8R')
STARTUP_TIMEOUT_MS = 60000      # least limit of the self-check's inferences (the first loads)


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


def _hef_streams(hef, direction: str) -> List[HefStream]:
    """The HEF's input or output vstreams: name, shape, quant_info and original names."""
    infos = (hef.get_input_vstream_infos() if direction == 'input'
             else hef.get_output_vstream_infos())
    return [HefStream(str(info.name), direction, tuple(int(d) for d in info.shape),
                      float(info.quant_info.qp_scale), float(info.quant_info.qp_zp),
                      tuple(str(n) for n in hef.get_original_names_from_vstream_name(info.name)))
            for info in infos]


def _stream_of(hef, original_name: str) -> Optional[str]:
    """HEF.get_vstream_name_from_original_name, None where the HEF has no such name."""
    try:
        return str(hef.get_vstream_name_from_original_name(original_name))
    except Exception as exc:  # noqa: BLE001 - HailoRTNotFoundException: not in this HEF
        if status_name(exc) == 'HAILO_NOT_FOUND':
            return None
        raise


class HailoDevice(Device):
    """One Hailo-8 chip running one exported partition's HEF, checked at upload.

    `allow_unchecked` (default False) runs an export that has no recorded self-check
    frames (selfcheck.npz, written by `feagi-hailo export`); its results are then trusted
    unchecked, and describe() says so.
    """

    kind = 'hailo'

    def __init__(self, device_id: Optional[str] = None, hef_path: Optional[str] = None,
                 timeout_ms: int = 1000, shared: bool = False, group_id: str = 'SHARED',
                 name: str = 'hailo0', allow_unchecked: bool = False):
        self.device_id = device_id
        self.hef_path = hef_path
        self.timeout_ms = int(timeout_ms)
        self.shared = shared
        self.group_id = group_id
        self.name = name
        self.allow_unchecked = bool(allow_unchecked)
        self._check_notes: List[str] = []
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
        """Load the HEF, match and check its streams, bind float32 buffers, run the self-check.

        A HEF whose streams or quantisation do not fit the manifest, or an export without
        recorded frames (unless allow_unchecked), is refused (DeviceUnavailable); an output
        that fails the self-check is a DeviceError naming it and its error.
        """
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
        frames = self._frames(partition)
        self._check_notes = []
        try:
            pairs = self._matched(hp.HEF(hef), manifest)
            model = self._vdevice.create_infer_model(hef)
            model.set_batch_size(1)
            for name in model.input_names:
                model.input(name).set_format_type(hp.FormatType.FLOAT32)
            for name in model.output_names:
                model.output(name).set_format_type(hp.FormatType.FLOAT32)
            self._in_map = {spec['name']: (stream.name, tuple(model.input(stream.name).shape))
                            for spec, stream in pairs['input']}
            self._out_map = {}
            for spec, stream in pairs['output']:
                shape = tuple(model.output(stream.name).shape)
                self._out_map[spec['name']] = (stream.name, np.empty(shape, dtype=np.float32))
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
        self._self_check(manifest, frames)

    def _frames(self, partition) -> Optional[SelfCheckFrames]:
        """The export's recorded frames; refuse an export without them unless allowed."""
        directory = getattr(partition, 'directory', None)
        try:
            frames = load_frames(directory, partition.manifest, partition.model)
        except ValueError as exc:
            raise DeviceUnavailable(f'{self.name}: {exc}', reason='self-check frames unusable') \
                from None
        if frames is None and not self.allow_unchecked:
            raise DeviceUnavailable(
                f'{self.name}: the export in {directory} has no selfcheck.npz, so nothing would '
                "check the chip's results against the CPU at open. Export again with "
                '`feagi-hailo export` (it records the frames), or set allow_unchecked to run '
                'unchecked.', reason='self-check frames missing')
        return frames

    def _matched(self, hef, manifest: dict) -> Dict[str, list]:
        """Pair streams and manifest tensors by original names; check shapes, quant_info."""
        streams = _hef_streams(hef, 'input') + _hef_streams(hef, 'output')
        stream_of = {spec['name']: _stream_of(hef, spec['name'])
                     for spec in manifest['inputs'] + manifest['outputs']}
        pairs = match_streams(manifest, streams, stream_of, self.name)
        check_quantisation(pairs, manifest, self.name)
        source = 'compile report' if manifest.get('hef_quant') else 'manifest'
        self._check_notes.append(f'streams matched by original names: {describe_pairs(pairs)}'
                                 f'; shapes and quant_info as the {source} states')
        return {what: [(spec, stream) for spec, stream in pairs if stream.direction == what]
                for what in ('input', 'output')}

    def _self_check(self, manifest: dict, frames: Optional[SelfCheckFrames]) -> None:
        """Run the recorded frames; a wrong output is distrusted, all wrong: refused.

        The targets a distrusted output feeds are integrated by the host (the runner reads
        `distrusted`); the reason is in the health notes and the partition's description.
        """
        self.distrusted = {}
        if frames is None:
            self._check_notes.append('UNCHECKED: no recorded self-check frames '
                                     '(allow_unchecked); results are not compared with the CPU')
            return
        limit = max(STARTUP_TIMEOUT_MS, 10 * self.timeout_ms)     # the first run loads
        results = run_selfcheck(manifest, frames,
                                lambda grids: self._run(grids, limit, 'self-check inference'))
        wrong = [r for r in results if r['result'] == 'wrong']
        if wrong and len(wrong) < len(results):
            self.distrusted = {r['name']: f'self-check: off by up to {r["error"]:g} ' + (
                '(exact output: must be equal)' if r['bound'] == 0
                else f'(bound {r["bound"]:g})') for r in wrong}
            self._check_notes.append(
                'self-check: outputs ' + ', '.join(sorted(self.distrusted)) + ' are wrong; '
                'the host integrates the areas they feed, the other outputs are used')
        elif wrong:
            self._status = 'error'
            detail = '; '.join(
                f'output {r["name"]} off by up to {r["error"]:g} '
                + ('(exact output: must be equal)' if r['bound'] == 0
                   else f'(bound {r["bound"]:g})') for r in wrong)
            raise DeviceError(
                f'{self.name}: self-check failed on {frames.frames} recorded frames: {detail}. '
                'The chip does not compute what the CPU does: check the HEF was compiled from '
                'this export with its model.alls, or compile again.',
                reason=f'self-check failed: {detail}')
        self._check_notes.append(summary(results, frames.frames))

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run one frame: NHWC float32 grids in, NHWC float32 grids out (dequantised).

        The output grids are the bindings' buffers (no copy: the host scans them before the
        next inference); copy them to keep them longer.
        """
        return self._run(inputs, self.timeout_ms, 'inference')

    def _run(self, inputs: Dict[str, np.ndarray], timeout_ms: int,
             what: str) -> Dict[str, np.ndarray]:
        """One frame through the configured model within `timeout_ms`."""
        if self._configured is None:
            raise DeviceError(f'{self.name}: no partition loaded')
        try:
            for name, grid in inputs.items():
                stream, shape = self._in_map[name]
                buf = np.ascontiguousarray(np.asarray(grid, dtype=np.float32).reshape(shape))
                self._bindings.input(stream).set_buffer(buf)
            self._configured.wait_for_async_ready(timeout_ms=timeout_ms)
            self._configured.run([self._bindings], timeout_ms)
            return {name: np.asarray(self._bindings.output(stream).get_buffer())
                    .reshape(self._dims[name])
                    for name, (stream, _) in self._out_map.items()}
        except Exception as exc:  # noqa: BLE001
            self._status = 'error'
            raise explain(exc, f'{self.name}: {what}') from None

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
        notes += self._check_notes
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
