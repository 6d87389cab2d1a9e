"""FEAGI spiking brains on a robot: ROS 2 node, hybrid CPU + Hailo-8 burst engine.

The rules the code implements are FEAGI 2.6's, stated in docs/NEURON_MODEL.md (cited as
`NEURON_MODEL §N`); docs/ARCHITECTURE.md describes the layers and one burst through them.
"""

__version__ = '0.1.0'
