"""FEAGI spiking brains on a robot: ROS 2 node, hybrid CPU + Hailo-8 burst engine."""

__version__ = '0.1.0'
