"""HailoRT status names and exceptions turned into DeviceErrors that say what to do.

Reads only exception class names and messages (the statuses of `hailo_platform`, HAILORT.md
"Errors"); importing it needs no HailoRT.
"""

import re

from feagi_hailo_ros.devices.base import DeviceError, DeviceTimeout, DeviceUnavailable

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
