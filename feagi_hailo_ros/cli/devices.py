"""`feagi-hailo devices`: what can run bursts here (CPU, emulator, Hailo-8 via HailoRT)."""

import argparse
import json
import os


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `devices`."""
    parser.add_argument('--json', action='store_true', help='print one JSON document')
    parser.add_argument('--genome', metavar='G',
                        help='also predict per-burst times of this genome per device profile')
    parser.add_argument('--activity', type=float, default=0.02, metavar='F',
                        help='expected share of neurons firing per burst (default 0.02)')


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
    if args.genome:
        print_predictions(args.genome, args.activity)
    return 0


def print_predictions(genome: str, activity: float) -> None:
    """Print the plan's predicted per-burst times per device profile (model output)."""
    from feagi_hailo_ros.brain.builder import load_brain
    from feagi_hailo_ros.devices.cost_model import expected_activity, placement_lines
    from feagi_hailo_ros.devices.planner import plan_partitions
    connectome = load_brain(genome)
    plan = plan_partitions(connectome, 'auto')
    print(f'{genome}: {connectome.n_neurons} neurons, {connectome.n_synapses} synapses, '
          f'{sum(len(p.operators) for p in plan.partitions)} of {len(plan.operators)} '
          f'mappings device-capable; predicted at activity {activity:g} (model output, not a '
          'measurement):')
    for line in placement_lines(connectome, plan, expected_activity(connectome, activity)):
        print(f'  {line}')
