"""`feagi-hailo devices`: what can run bursts here (CPU, emulator, Hailo-8 via HailoRT)."""

import argparse
import json
import os


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `devices`."""
    parser.add_argument('--json', action='store_true', help='print one JSON document')


def describe_all() -> dict:
    """CPU, emulator and Hailo status (never raises)."""
    from feagi_hailo_ros.devices.hailo import scan
    try:
        import onnxruntime
        emulator = {'available': True, 'onnxruntime': onnxruntime.__version__}
    except ImportError:
        emulator = {'available': False, 'problem': 'onnxruntime missing: pip install '
                                                   'onnxruntime'}
    return {'cpu': {'available': True, 'cores': os.cpu_count()},
            'emulator': emulator, 'hailo': scan()}


def run(args: argparse.Namespace) -> int:
    """Print the devices; exit 0 (a missing Hailo is reported, not an error)."""
    info = describe_all()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f'cpu: {info["cpu"]["cores"]} cores (device cpu)')
    emu = info['emulator']
    print('emulator: ' + (f'onnxruntime {emu["onnxruntime"]} (device emulator)'
                          if emu['available'] else emu['problem']))
    hailo = info['hailo']
    if hailo['hailort']:
        print(f'hailo: HailoRT {hailo["hailort"]}')
    for dev in hailo['devices']:
        if 'problem' in dev:
            print(f'  {dev["id"]}: {dev["problem"]}')
            continue
        temp = dev.get('temperature_c')
        power = dev.get('power_w')
        print(f'  {dev["id"]}: {dev["architecture"]} "{dev["board"]}", firmware '
              f'{dev["firmware"]}, {"n/a" if temp is None else f"{temp:.1f} C"}, power '
              f'{"n/a" if power is None else f"{power:.2f} W"}')
    if hailo['problem']:
        print(f'hailo: {hailo["problem"]}')
    return 0
