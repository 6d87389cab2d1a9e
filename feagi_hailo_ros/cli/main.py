"""Entry point of `feagi-hailo`: dispatches to one module per sub-command."""

import argparse
import importlib
import sys
from typing import List, Optional

# name -> (module under feagi_hailo_ros.cli, one-line help)
COMMANDS = {
    'info': ('info', 'describe a genome: areas, mappings, synapses, memory'),
    'synth': ('synth', 'write a synthetic FEAGI genome'),
    'run': ('run', 'run bursts headless, optionally with injections and a record'),
    'bench': ('bench', 'benchmark the burst engine on a fixed workload'),
    'encode': ('encode', 'print what the brain sees of an image file'),
    'export': ('export', 'export accelerator partitions as ONNX graphs for the Hailo compiler'),
    'devices': ('devices', 'scan and describe the devices that can run bursts'),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the parser; a sub-command whose module is missing is left out."""
    parser = argparse.ArgumentParser(
        prog='feagi-hailo', description='FEAGI brains on CPU and Hailo-8, without ROS.')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(f'feagi_hailo_ros.cli.{module_name}')
        except ModuleNotFoundError as exc:
            if exc.name != f'feagi_hailo_ros.cli.{module_name}':
                raise
            continue
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_parser(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run one sub-command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'handler', None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(f'feagi-hailo {args.command}: error: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
