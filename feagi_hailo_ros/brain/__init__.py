"""FEAGI genomes, morphologies, connectomes and synthetic brains (ROS-free)."""
