"""Brains built from plain arrays: the benchmark workloads and random rule-exercising brains."""

from dataclasses import dataclass
from typing import List, Tuple

from feagi_hailo_ros.brain.layout import AreaLayout
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.params import NeuronParams
import numpy as np

# name -> neurons (one area, 10 uniform random synapses per neuron)
WORKLOADS = {'w1m': 1_000_000, 'w100k': 100_000}
SYNAPSES_PER_NEURON = 10


def bench_workload(name: str, seed: int = 1) -> EngineModel:
    """Build a benchmark brain: one area, 10 random synapses per neuron (seeded).

    80% excitatory weight 1, 20% inhibitory weight 2, psp 1 with psp_uniform; threshold 20,
    leak 0.1, refractory 2, no consecutive-fire limit, excitability 100, charge accumulates.
    """
    if name not in WORKLOADS:
        raise ValueError(f'unknown workload {name!r}; choose one of {sorted(WORKLOADS)}')
    n = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    n_syn = n * SYNAPSES_PER_NEURON
    target = rng.integers(0, n, n_syn, dtype=np.int32)
    weight = np.where(rng.random(n_syn, dtype=np.float32) < 0.8, 1, -2).astype(np.int16)
    indptr = np.arange(0, n_syn + 1, SYNAPSES_PER_NEURON, dtype=np.int64)
    params = NeuronParams.from_arrays(
        [0, n], fire_threshold=20.0, leak=0.1, refractory=2, consecutive_limit=0, psp=1.0,
        psp_uniform=True, mp_charge_accumulation=True, excitability=100.0)
    layout = AreaLayout.from_arrays(params.area_start, ids=[name])
    return EngineModel.from_arrays(params, indptr, target, weight, layout=layout)


@dataclass
class RandomBrain:
    """A random small brain plus random injections for every burst."""

    model: EngineModel
    injections: List[Tuple[np.ndarray, np.ndarray]]   # per burst: (indices, potentials)


def random_brain(seed: int, bursts: int = 60, max_area_size: int = 24,
                 n_areas: int = 4) -> RandomBrain:
    """Build a random brain that exercises every rule of NEURON_MODEL §4, with injections.

    Areas get random genes (thresholds, limits, leak 0..1, refractory, consecutive-fire
    limit and snooze, psp incl. mp_driven_psp and psp_uniform, charge accumulation on/off,
    excitability always/never/probabilistic, threshold gradients, 1-2 neurons per voxel);
    area 0 is the power area. Synapses and injections reach voxels' last neurons only.
    """
    rng = np.random.default_rng(seed)
    n_per = rng.integers(1, 3, n_areas)
    n_per[0] = 1
    voxels = rng.integers(1, max_area_size + 1, n_areas)
    voxels[0] = 1
    sizes = voxels * n_per
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(start[-1])
    pick = rng.random

    def choose(options, size=n_areas):
        return np.asarray(options)[rng.integers(0, len(options), size)]

    fire_threshold = choose([0.5, 1.0, 1.75, 3.0, 6.0]) + np.round(rng.uniform(0, 1, n_areas), 2)
    timing = choose(np.arange(6), n_areas)      # (refractory, snooze) pairs below
    refractory = np.array([0, 0, 1, 2, 3, 0])[timing]
    snooze = np.array([0, 1, 0, 1, 2, 2])[timing]
    threshold_limit = np.where(pick(n_areas) < 0.3, fire_threshold + rng.uniform(0, 8, n_areas),
                               0.0)
    gradient = (pick(n_areas) < 0.3).astype(np.uint8)
    neuron_threshold = (fire_threshold[np.repeat(np.arange(n_areas), sizes)]
                        + rng.uniform(-0.5, 1.5, n)).astype(np.float32)
    params = NeuronParams.from_arrays(
        start, fire_threshold=fire_threshold, threshold_limit=threshold_limit,
        leak=choose([0.0, 0.0, 0.1, 0.25, 0.5, 1.0, 0.33]),
        refractory=refractory, consecutive_limit=choose([0, 0, 1, 2, 3]),
        snooze=snooze, psp=choose([0.0, 1.0, 1.0, 2.0, 3.5, 7.0, 300.0]),
        psp_uniform=pick(n_areas) < 0.5, mp_charge_accumulation=pick(n_areas) < 0.7,
        mp_driven_psp=pick(n_areas) < 0.3,
        excitability=choose([1.0, 100.0, 0.0, 0.3, 0.7, 0.5, 0.999, 0.998]),
        neuron_threshold=neuron_threshold, has_gradient=gradient,
        excitability_id=(7 + rng.permutation(n)).astype(np.uint32), power_neurons=[0])
    dims = np.stack([voxels, np.ones(n_areas, np.int64), np.ones(n_areas, np.int64)], axis=1)
    layout = AreaLayout.from_arrays(start, dims=dims, neurons_per_voxel=n_per)
    receivers = np.concatenate([layout.receivers(a) for a in range(n_areas)])
    degree = rng.integers(0, 7, n)
    indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    target = receivers[rng.integers(0, receivers.size, int(indptr[-1]))]
    weight = (rng.integers(1, 6, target.size) * np.where(pick(target.size) < 0.75, 1, -1))
    model = EngineModel.from_arrays(params, indptr, target, weight, layout=layout)
    injections = []
    for _ in range(bursts):
        count = int(rng.integers(0, max(2, receivers.size // 2)))
        idx = receivers[rng.integers(0, receivers.size, count)]
        pot = choose([0.0, 0.5, 1.0, 2.0, 0.37, 3.3, 10.0, 255.0], count).astype(np.float32)
        injections.append((idx, pot))
    return RandomBrain(model, injections)
