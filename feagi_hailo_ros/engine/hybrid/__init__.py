"""The hybrid engine: CPU partitions on the fast engine, device partitions on accelerators.

`scheduler.HybridEngine` runs one burst as a few named steps; `runner.DeviceRunner` owns one
device partition (device, buffers, worker thread, fault and reopen policy); `jobs.DeviceJob`
is one inference and the worker's share of the updates; `ranges` holds synapse subsets.
"""

from feagi_hailo_ros.engine.hybrid.runner import DeviceRunner, FaultPolicy
from feagi_hailo_ros.engine.hybrid.scheduler import BurstTiming, HybridEngine

__all__ = ['BurstTiming', 'DeviceRunner', 'FaultPolicy', 'HybridEngine']
