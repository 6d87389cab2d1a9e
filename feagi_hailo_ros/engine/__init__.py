"""FEAGI burst engine: neuron state, reference oracle and fast kernel (ROS-free)."""
