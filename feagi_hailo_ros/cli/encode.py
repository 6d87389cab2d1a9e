"""`feagi-hailo encode`: print what the brain's segmented vision sees of an image file."""

import argparse
import json
import os
import sys
from typing import List

import numpy as np


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `encode`."""
    parser.add_argument('--genome', required=True, help='FEAGI genome JSON (legacy or 2.x)')
    parser.add_argument('image', help='image file (png, jpeg, ... anything OpenCV reads)')
    parser.add_argument('--previous', metavar='IMAGE',
                        help='frame seen before IMAGE (default: black, i.e. absolute)')
    parser.add_argument('--gaze', nargs=3, type=float, metavar=('EX', 'EY', 'M'),
                        default=(0.5, 0.5, 0.5),
                        help='eccentricity x, y (0..1, y up) and modulation (0..1]; '
                             'default 0.5 0.5 0.5')
    parser.add_argument('--change-range', nargs=2, type=int, metavar=('LO', 'HI'),
                        default=(1, 255),
                        help='per-channel change kept when LO <= |new-previous| <= HI; '
                             'default 1 255')
    parser.add_argument('--burst', type=int, default=None,
                        help='add "burst": N to every line (input for `run --inject`)')


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as uint8 HxWx3 RGB, or raise ValueError naming the file."""
    import cv2  # here, so that the other commands run where OpenCV is missing
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such image file')
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'{path}: cannot read it as an image (missing file or unknown format)')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_lines(areas, image: np.ndarray, previous=None, gaze=(0.5, 0.5, 0.5),
                 change_range=(1, 255), burst=None) -> List[str]:
    """Encode image (after previous) for these areas; JSON lines sorted by area, x, y, z."""
    from feagi_hailo_ros.io.vision import Gaze, SegmentedVisionEncoder
    encoder = SegmentedVisionEncoder(areas, Gaze(*gaze), tuple(change_range))
    if previous is not None:
        encoder.encode(previous)
    inj = encoder.encode(image)
    ids = np.array(inj.area_ids, dtype=object)
    rank = np.argsort(np.argsort(ids))  # position of each area id in sorted id order
    order = np.lexsort((inj.z, inj.y, inj.x, rank[inj.area_index]))
    head = {} if burst is None else {'burst': int(burst)}
    lines = []
    for k in order:
        row = dict(head, area=inj.area_ids[int(inj.area_index[k])], x=int(inj.x[k]),
                   y=int(inj.y[k]), z=int(inj.z[k]), p=float(inj.p[k]))
        lines.append(json.dumps(row))
    return lines


def run(args: argparse.Namespace) -> int:
    """Load the genome and the image(s), print the injections; 0 on success."""
    from feagi_hailo_ros.brain.genome import load_genome
    genome = load_genome(args.genome)
    image = read_rgb(args.image)
    previous = read_rgb(args.previous) if args.previous else None
    if previous is not None and previous.shape != image.shape:
        raise ValueError(f'{args.previous}: size {previous.shape[1]}x{previous.shape[0]} '
                         f'differs from {args.image} ({image.shape[1]}x{image.shape[0]}); '
                         f'a new frame size resets the previous frame to black')
    lines = encode_lines(genome.areas, image, previous, args.gaze, args.change_range,
                         args.burst)
    out = sys.stdout
    out.write('\n'.join(lines) + ('\n' if lines else ''))
    return 0
