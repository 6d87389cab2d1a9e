"""Synapse subsets of a hybrid brain: the rows of chosen targets, the areas that feed them."""

from typing import List, Tuple

from feagi_hailo_ros.engine.model import Synapses
import numpy as np


def restrict_synapses(syn: Synapses, keep: np.ndarray) -> Synapses:
    """The synapses where `keep` (bool[S]) is set, CSR by source, order kept."""
    return syn.restricted(keep)


def source_ranges(connectome, syn: Synapses) -> List[Tuple[int, int]]:
    """The neuron ranges of the areas that have at least one synapse in `syn` (merged)."""
    starts = np.asarray(connectome.area_start, dtype=np.int64)
    per_area = np.diff(np.asarray(syn.indptr, dtype=np.int64)[starts])
    return merge_ranges([(int(starts[a]), int(starts[a + 1]))
                         for a in np.flatnonzero(per_area)])


def merge_ranges(ranges: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Sorted, non-empty ranges with touching ones joined."""
    out: List[List[int]] = []
    for lo, hi in sorted(ranges):
        if hi <= lo:
            continue
        if out and out[-1][1] == lo:
            out[-1][1] = hi
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]
