"""The bytes a BurstEngine holds, by group and array name (`BurstEngine.memory()`)."""

from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.engine.model import EngineModel, Synapses
from feagi_hailo_ros.engine.state import NeuronState
import numpy as np

Buffers = Tuple[List[np.ndarray], List[np.ndarray]]


def bytes_held(model: EngineModel, state: NeuronState, fcl_input: np.ndarray,
               fired: Tuple[np.ndarray, np.ndarray], outputs: Buffers, work: Buffers,
               partition: Optional[Tuple[Synapses, list]]) -> Dict[str, Dict[str, int]]:
    """Return the bytes of every array the brain and an engine hold, by group and name.

    Groups: `connectome_neurons` (indptr, neuron_area) and `connectome_synapses`
    (targets, weights), the arrays of a brain.Connectome, read in place; `params`
    (neuron parameters); `state` (what a checkpoint holds: potentials, counters, the
    last fired list's buffers); `inputs` (`fcl_input`, float32[N], the dense
    accumulator of each burst's inputs; between bursts it holds the queued injections,
    which a checkpoint stores sparsely); `scratch` (fired output
    buffers and work space, rebuilt at will); `partition_synapses` (with partitions > 1:
    the synapses reordered by target range, a second copy of targets and weights).
    Views of another held array are not counted twice. `fired` is the last fired list's
    (indices, potentials) buffers, `outputs` the update outputs' (indices, potentials),
    `work` the (rows, flags) work space, `partition` the split synapses and each
    partition's (row begin, row end) when the engine has partitions > 1.
    """
    syn, s = model.synapses, state
    out: Dict[str, Dict[str, int]] = {
        'connectome_neurons': {'indptr': syn.indptr.nbytes,
                               'neuron_area': syn.neuron_area.nbytes},
        'connectome_synapses': {'target': syn.target.nbytes, 'weight': syn.weight.nbytes},
        'params': {name: arr.nbytes
                   for name, arr in model.params.arrays().items()},
        'state': {'potential': s.potential.nbytes,
                  'refractory_countdown': s.refractory_countdown.nbytes,
                  'consecutive_fires': s.consecutive_fires.nbytes,
                  'fired': fired[0].nbytes, 'fired_potential': fired[1].nbytes},
        'inputs': {'fcl_input': fcl_input.nbytes},
        'scratch': {'out_fired': _distinct_nbytes(outputs[0], fired[0]),
                    'out_potential': _distinct_nbytes(outputs[1], fired[1]),
                    'rows': sum(a.nbytes for a in work[0]),
                    'flags': sum(a.nbytes for a in work[1])},
        'partition_synapses': {}}
    if partition is not None:
        synapses, partition_rows = partition
        out['partition_synapses'] = {'target': synapses.target.nbytes,
                                     'weight': synapses.weight.nbytes}
        out['scratch']['partition_cuts'] = sum(
            rows[1].nbytes for rows in partition_rows[:-1])
    return out


def _distinct_nbytes(arrays: List[np.ndarray], held: np.ndarray) -> int:
    """Return the bytes of the distinct arrays in a list, other than `held`."""
    unique = {id(a): a for a in arrays if a is not held}
    return int(sum(a.nbytes for a in unique.values()))
