"""Oracles for tests: what a device should return, computed on the CPU from an engine."""

from typing import Tuple

from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.core import BurstEngine
import numpy as np


def synaptic_currents(engine: BurstEngine, lo: int, hi: int) -> Tuple[np.ndarray, np.ndarray]:
    """Return (currents float32[hi-lo], candidates bool[hi-lo]) of the previous spikes.

    What a device computes for the partition [lo, hi) of the engine's next burst: only the
    synaptic input (no injections, no power), each target's inputs summed in the engine's
    order (sources in fired order, each row in CSR order). Allocates.
    """
    fired, fired_v = engine.previous_fired()
    p, syn = engine.model.params, engine.model.synapses
    buffer = np.full(engine.n_neurons, kernel.NOT_CANDIDATE, dtype=np.float32)
    kernel.propagate_range(fired, fired_v, fired.size, syn.indptr[:-1], syn.indptr[1:],
                           syn.target, syn.weight, p.area_start, syn.indptr, p.psp,
                           p.psp_uniform, p.mp_driven_psp, lo, hi, buffer,
                           np.zeros((2, kernel.BLOCK), np.int64))
    candidates = kernel.candidate_mask(buffer[lo:hi])
    return np.where(candidates, buffer[lo:hi], np.float32(0)), candidates
