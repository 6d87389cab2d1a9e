"""`feagi-hailo export`: write each device partition as ONNX + manifest + compile script."""

import argparse
import json
import os

from feagi_hailo_ros.cli.options import add_brain_options, add_device_options, load_connectome


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of `export`."""
    add_brain_options(parser)
    parser.add_argument('--out', metavar='DIR', required=True,
                        help='output folder: DIR/<partition>/model.onnx, manifest.json, '
                        'compile_hef.py, ...')
    parser.add_argument('--calibration-samples', type=int, default=64, metavar='N',
                        help='inputs in the calibration set (Hailo: 64-1024; default 64)')
    parser.add_argument('--activity', type=float, default=0.02, metavar='F',
                        help='expected share of neurons firing per burst, for the predicted '
                        'times (default 0.02)')
    add_device_options(parser)


def run(args: argparse.Namespace) -> int:
    """Plan, export and check each partition; print the plan and the compile commands."""
    from feagi_hailo_ros.devices.cost_model import expected_activity, placement_lines
    from feagi_hailo_ros.devices.export import (export_partition,
                                                write_partition)
    from feagi_hailo_ros.devices.operators import pair_synapses
    from feagi_hailo_ros.devices.planner import plan_partitions
    from feagi_hailo_ros.devices.verify import verify_partition
    connectome = load_connectome(args)
    plan = plan_partitions(connectome, args.partition, max(1, args.devices), prefix='hailo')
    report = plan.report(connectome)
    for line in report:
        print(line)
    print(f'predicted per-burst time at activity {args.activity:g} (model output, not a '
          'measurement):')
    for line in placement_lines(connectome, plan, expected_activity(connectome,
                                                                    args.activity)):
        print(f'  {line}')
    if not plan.partitions:
        print('nothing to export: no area can be integrated by a device with --partition '
              f'{args.partition}')
        return 1
    os.makedirs(args.out, exist_ok=True)
    pairs = pair_synapses(connectome)
    for part in plan.partitions:
        exported = write_partition(export_partition(connectome, part, pairs),
                                   os.path.join(args.out, part.name), args.calibration_samples,
                                   connectome, pairs)
        error = verify_partition(connectome, exported, pairs)
        m = exported.manifest
        print(f'\n{part.name}: {len(m["targets"])} areas, {m["device_weights"]} weights, '
              f'{m["precision_mode"]}, exact={m["exact"]}, onnxruntime check: max error '
              f'{error:.3g} -> {exported.directory}')
        print('compile on the x86_64 host of the Hailo DFC 3.x (its virtual environment '
              'active; copy the folder there), unattended:')
        for command in m['compile']:
            print(f'  {command}')
    with open(os.path.join(args.out, 'plan.json'), 'w', encoding='utf-8') as handle:
        json.dump({'partition': args.partition, **plan.summary(connectome),
                   'report': report}, handle, indent=1)
    print(f'\nthen: feagi-hailo run --genome ... --device hailo --partition {args.partition} '
          f'--hef-dir {args.out}')
    return 0
