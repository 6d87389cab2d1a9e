"""Per-frame cost of the io layer: 640x480 rgb8 message -> RGB -> segmented-vision injections.

Usage: python bench/bench_io.py [--genome test/data/essential_genome.json] [--frames 200]
       [--repeats 5]
Prints the best and median per-frame time of several repeats (the machine is shared: take
the best as the number). Frames change between calls (a moving pattern plus noise), so change
detection keeps a realistic fraction of the neurons.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from feagi_hailo_ros.brain.genome import load_genome  # noqa: E402
from feagi_hailo_ros.io.image import image_to_rgb  # noqa: E402
from feagi_hailo_ros.io.vision import SegmentedVisionEncoder  # noqa: E402
import numpy as np  # noqa: E402


def make_frames(count: int, width: int = 640, height: int = 480) -> list:
    """Padded bgr8 message buffers of a moving gradient with noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    step = width * 3 + 64  # padded rows, as some drivers send
    for k in range(count):
        img = np.stack([(xx + 3 * k) % 256, (yy + 2 * k) % 256, (xx + yy) % 256], -1)
        img = (img + rng.integers(0, 8, img.shape)).clip(0, 255).astype(np.uint8)
        rows = np.zeros((height, step), np.uint8)
        rows[:, :width * 3] = img.reshape(height, -1)
        frames.append(rows.tobytes())
    return frames, step


def main() -> int:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument('--genome', default=os.path.join(here, '..', 'test', 'data',
                                                         'essential_genome.json'))
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    areas = load_genome(args.genome).areas
    frames, step = make_frames(args.frames)
    encoder = SegmentedVisionEncoder(areas)
    encoder.encode(image_to_rgb(frames[0], 640, 480, 'bgr8', step))  # plan once
    convert, encode, total, sent = [], [], [], []
    for _ in range(args.repeats):
        t_conv = t_enc = 0.0
        n = 0
        for data in frames:
            t0 = time.perf_counter()
            rgb = image_to_rgb(data, 640, 480, 'bgr8', step)
            t1 = time.perf_counter()
            inj = encoder.encode(rgb)
            t2 = time.perf_counter()
            t_conv += t1 - t0
            t_enc += t2 - t1
            n += len(inj)
        convert.append(t_conv / len(frames) * 1e3)
        encode.append(t_enc / len(frames) * 1e3)
        total.append((t_conv + t_enc) / len(frames) * 1e3)
        sent.append(n / len(frames))
    vision = encoder.vision_areas
    neurons = sum(v.width * v.height * v.depth for v in vision)
    print(f'genome {os.path.basename(args.genome)}: {len(vision)} vision areas, '
          f'{neurons} vision neurons; 640x480 bgr8 (padded step {step}); '
          f'{args.frames} frames x {args.repeats} repeats')
    print(f'image_to_rgb   best {min(convert):.3f} ms  median {statistics.median(convert):.3f} ms')
    print(f'vision encode  best {min(encode):.3f} ms  median {statistics.median(encode):.3f} ms')
    print(f'total/frame    best {min(total):.3f} ms  median {statistics.median(total):.3f} ms'
          f'  (~{1e3 / min(total):.0f} frames/s)')
    print(f'injections per frame: {statistics.mean(sent):.0f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
