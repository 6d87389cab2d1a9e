"""FEAGI burst engine: neuron state, reference oracle and fast kernel (ROS-free).

- `params`: per-area neuron parameters (DESIGN §4 conversions), `model`: what the engine
  reads of a brain (layout, CSR synapses, parameters), `state`: neuron state and checkpoints.
- `reference`: the per-neuron Python oracle; `kernel`: the numba kernel; `core`: BurstEngine.
- `replay`: injection files and fired-set records; `workloads` and `bench`: benchmark brains.
"""
