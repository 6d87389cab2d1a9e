"""Synapse weights reach the engines as the connectome holds them (NEURON_MODEL §4)."""

from feagi_hailo_ros.brain.builder import build_connectome
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.reference import ReferenceEngine
import numpy as np
import pytest
from test_brain_morphologies import genome, rule

SAME = {'same': {'type': 'vectors', 'parameters': {'vectors': [[0, 0, 0]]}}}


@pytest.mark.parametrize('threshold, fires', [(2.7, True), (2.71, False)])
def test_fractional_weight_is_delivered_untruncated(threshold, fires):
    """Weight 2.7 (float32): a threshold of 2.7 fires, 2.71 does not (truncated to 2: none)."""
    c = build_connectome(genome({
        'csrc00': ((1, 1, 1), {'cdst00': [rule('same', 2.7)]}),
        'cdst00': ((1, 1, 1), {}, {'nx-fire_t-f': threshold})}, SAME))
    model = EngineModel.from_connectome(c)
    assert model.synapses.weight.dtype == np.float32
    assert model.synapses.weight.tolist() == [np.float32(2.7)]
    src = int(c.voxel_neuron(c.area_index('csrc00'), 0, 0, 0))
    dst = int(c.voxel_neuron(c.area_index('cdst00'), 0, 0, 0))
    for engine in (BurstEngine(model), ReferenceEngine(model)):
        engine.inject_indices([src], [5.0])
        assert np.asarray(engine.burst()).tolist() == [src]
        assert (dst in np.asarray(engine.burst()).tolist()) is fires


def test_integer_weights_stay_compact_and_in_place():
    """Integer weights stay int16 and a connectome's arrays are used without a copy."""
    c = build_connectome(genome({
        'csrc00': ((2, 1, 1), {'cdst00': [rule('same', 300)]}),
        'cdst00': ((2, 1, 1), {})}, SAME))
    model = EngineModel.from_connectome(c)
    assert model.synapses.weight.dtype == np.int16
    assert np.shares_memory(model.synapses.weight, c.syn_weight)
