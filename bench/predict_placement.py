"""Predicted per-burst times of the README's brains per device profile (model output).

The demo, essential, vision and 1M synthetic brains, all on the CPU against the planned device
partitions (devices/cost_model). Model output from estimated constants (HAILORT.md), not a
measurement: it prints the README's table as Markdown.

    .venv/bin/python bench/predict_placement.py [--activity 0.02 0.3] [--profiles ...]
"""

import argparse
from pathlib import Path
import sys

from feagi_hailo_ros.brain import synth
from feagi_hailo_ros.brain.builder import load_brain
from feagi_hailo_ros.devices.cost_model import CostModel, expected_activity, profile
from feagi_hailo_ros.devices.planner import plan_partitions

DATA = Path(__file__).resolve().parent.parent / 'test' / 'data'


def brains():
    """(name, genome) of the brains in the table."""
    return [('demo brain', synth.demo_genome()),
            ('essential genome', str(DATA / 'essential_genome.json')),
            ('vision genome', str(DATA / 'vision_genome.json')),
            ('synthetic 1M', synth.synthetic_genome(1_000_000))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--activity', type=float, nargs='+', default=[0.02, 0.3])
    parser.add_argument('--profiles', nargs='+', default=['pi5-gen2', 'pi5-gen3'])
    args = parser.parse_args()
    header = ['brain', 'neurons', 'synapses', 'device mappings', 'activity']
    for name in args.profiles:
        header += [f'{profile(name).label}: CPU', 'planned']
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for label, genome in brains():
        connectome = load_brain(genome)
        plan = plan_partitions(connectome, 'auto')
        groups = [p.operators for p in plan.partitions]
        mapped = sum(len(g) for g in groups)
        for activity in args.activity:
            level = expected_activity(connectome, activity)
            row = [label, f'{connectome.n_neurons:,}', f'{connectome.n_synapses:,}',
                   f'{mapped} of {len(plan.operators)}', f'{activity:g}']
            for name in args.profiles:
                model = CostModel(connectome, plan.operators, profile(name))
                row += [f'{model.predict([], level, "cpu").total_s * 1e3:.2f} ms',
                        f'{model.predict(groups, level, "plan").total_s * 1e3:.2f} ms']
            print('| ' + ' | '.join(row) + ' |')
            sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
