"""FEAGI genomes, morphologies, connectomes and synthetic brains (ROS-free)."""

from feagi_hailo_ros.brain.builder import build_connectome, cache_path, load_brain
from feagi_hailo_ros.brain.connectome import Connectome, MappingInfo
from feagi_hailo_ros.brain.errors import GenomeError
from feagi_hailo_ros.brain.genome import AreaSpec, Genome, load_genome, make_area, MappingRule
from feagi_hailo_ros.brain.layout import AreaLayout
from feagi_hailo_ros.brain.synth import demo_genome, synthetic_genome, write_genome

__all__ = ['AreaLayout', 'AreaSpec', 'Connectome', 'Genome', 'GenomeError', 'MappingInfo',
           'MappingRule', 'build_connectome', 'cache_path', 'demo_genome', 'load_brain',
           'load_genome', 'make_area', 'synthetic_genome', 'write_genome']
