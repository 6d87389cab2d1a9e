"""`feagi-hailo synth --neurons N --fanout K --out FILE`: write a synthetic FEAGI genome."""

import argparse

from feagi_hailo_ros.brain.synth import (demo_genome, describe, PLASTIC_PARAMS,
                                         synthetic_genome, write_genome)


def _plastic_params(text: str) -> tuple:
    """C,LTP,LTD,W: four integers."""
    try:
        values = tuple(int(v) for v in text.split(','))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f'{text!r}: expected four integers C,LTP,LTD,W '
                                         '(e.g. 1,2,1,2)')
    return values


def _share(text: str) -> float:
    """A share in 0..1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'{text!r}: expected a share from 0 to 1 (e.g. 0.1)')
    return value


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
    parser.add_argument('--plastic-share', type=_share, default=0.0, metavar='S',
                        help='share of area pairs whose rules are plastic (STDP), 0..1 '
                             '(default 0)')
    default = ','.join(str(v) for v in PLASTIC_PARAMS)
    parser.add_argument('--plastic-params', type=_plastic_params, default=PLASTIC_PARAMS,
                        metavar='C,LTP,LTD,W',
                        help=f'plasticity constant, ltp and ltd multipliers and window of '
                             f'the plastic rules (default {default})')
    parser.add_argument('--demo', action='store_true',
                        help='write the small demo brain instead (other sizes ignored)')
    parser.add_argument('--out', required=True, metavar='FILE', help='genome JSON to write')


def run(args: argparse.Namespace) -> int:
    """Write the genome and say what it holds; 0 on success."""
    if args.demo:
        genome = demo_genome()
    else:
        genome = synthetic_genome(args.neurons, args.fanout, args.hidden_areas, args.seed,
                                  args.threshold, args.plastic_share, args.plastic_params)
    write_genome(genome, args.out)
    areas, neurons = describe(genome)
    print(f'wrote {args.out}: {areas} areas, {neurons} neurons '
          f'({genome["genome_title"]})')
    return 0
