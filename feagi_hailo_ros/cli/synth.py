"""`feagi-hailo synth --neurons N --fanout K --out FILE`: write a synthetic FEAGI genome."""

import argparse

from feagi_hailo_ros.brain.synth import demo_genome, describe, synthetic_genome, write_genome


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of `synth` to its sub-parser."""
    parser.add_argument('--neurons', type=int, default=1_000_000,
                        help='about how many neurons (default 1000000)')
    parser.add_argument('--fanout', type=int, default=10,
                        help='about how many synapses per neuron (default 10)')
    parser.add_argument('--hidden-areas', type=int, default=8,
                        help='hidden areas between input and output (default 8)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the kernels (default 0)')
    parser.add_argument('--threshold', type=float, default=None,
                        help='firing threshold of hidden and output areas (default fan-out/4)')
    parser.add_argument('--demo', action='store_true',
                        help='write the small demo brain instead (other sizes ignored)')
    parser.add_argument('--out', required=True, metavar='FILE', help='genome JSON to write')


def run(args: argparse.Namespace) -> int:
    """Write the genome and say what it holds; 0 on success."""
    if args.demo:
        genome = demo_genome()
    else:
        genome = synthetic_genome(args.neurons, args.fanout, args.hidden_areas, args.seed,
                                  args.threshold)
    write_genome(genome, args.out)
    areas, neurons = describe(genome)
    print(f'wrote {args.out}: {areas} areas, {neurons} neurons '
          f'({genome["genome_title"]})')
    return 0
