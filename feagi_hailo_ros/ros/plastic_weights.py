"""The plastic pairs' weights as a std_msgs/Float32MultiArray (`~/plastic_weights`).

One row of ROW_FIELDS per synapse, rows grouped by pair. The layout has one dimension per
plastic pair, in pair order: label 'source_id->destination_id', size = the pair's synapses,
stride = the floats of its block (size x 7); the blocks follow each other from offset 0.
"""

import array
from typing import List, Tuple

from feagi_hailo_ros.runtime.learning import PlasticWeights
import numpy as np
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, MultiArrayLayout

ROW_FIELDS = ('source_x', 'source_y', 'source_z', 'target_x', 'target_y', 'target_z',
              'weight')


def weights_array(weights: PlasticWeights) -> Float32MultiArray:
    """Pack the weights and what each synapse connects (see the module) into one message."""
    rows = np.empty((weights.weight.size, len(ROW_FIELDS)), np.float32)
    rows[:, 0:3] = weights.source
    rows[:, 3:6] = weights.target
    rows[:, 6] = weights.weight
    dims = [MultiArrayDimension(label=f'{src}->{dst}', size=int(count),
                                stride=int(count) * len(ROW_FIELDS))
            for (src, dst), count in zip(weights.pairs, weights.counts)]
    data = array.array('f')
    data.frombytes(rows.tobytes())
    return Float32MultiArray(layout=MultiArrayLayout(dim=dims, data_offset=0), data=data)


def read_weights(msg: Float32MultiArray) -> List[Tuple[str, np.ndarray]]:
    """Unpack a message of `weights_array`: (pair label, float32 rows [size, 7]) per pair."""
    values = np.frombuffer(msg.data, np.float32) if isinstance(msg.data, array.array) \
        else np.asarray(msg.data, np.float32)
    out, offset = [], int(msg.layout.data_offset)
    for dim in msg.layout.dim:
        block = values[offset:offset + dim.stride]
        out.append((dim.label, block.reshape(dim.size, len(ROW_FIELDS))))
        offset += dim.stride
    return out
