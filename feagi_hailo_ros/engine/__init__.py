"""FEAGI burst engine: neuron state, reference oracle and fast kernel (ROS-free).

- `params`: per-area neuron parameters (NEURON_MODEL §4 conversions), `model`: what the engine
  reads of a brain (layout, CSR synapses, parameters), `state`: neuron state and checkpoints.
- `reference`: the per-neuron Python oracle; `kernel`: the numba kernel; `core`: BurstEngine
  (`partition_threads`: its partitions in threads, `memory`: the bytes it holds).
- `hybrid`: HybridEngine (CPU + device partitions); `replay`: injection files and
  fired-set records (benchmark brains: testing.workloads).
"""
