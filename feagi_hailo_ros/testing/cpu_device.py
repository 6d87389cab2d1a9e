"""CPU stand-in for an accelerator: a partition's integration from the synapse list (numpy).

The hybrid engine's CPU partition runs on the fast engine itself; this device computes what
an exported partition graph computes (currents and synapse counts per target voxel, stacked
as the manifest says, in float64 then float32) without onnxruntime, as a reference and for
hosts without it.
"""

import os
from typing import Dict

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceHealth
from feagi_hailo_ros.devices.operators import pair_synapses
from feagi_hailo_ros.devices.verify import reference_outputs, source_grids
import numpy as np


class CpuDevice(Device):
    """Runs a partition's synaptic integration on the host CPU with bincount."""

    kind = 'cpu'

    def __init__(self, connectome, name: str = 'cpu0'):
        self.connectome = connectome
        self.name = name
        self._terms = None
        self._open = False

    def open(self) -> None:  # noqa: A003
        """Nothing to claim."""
        self._open = True

    def upload(self, partition) -> None:
        """Collect the voxel-level synapses (the manifest's members name their sources)."""
        if not self._open:
            raise DeviceError(f'{self.name}: upload before open')
        self._pairs = pair_synapses(self.connectome)
        self._manifest = partition.manifest
        self._terms = True

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Stacked grids in, stacked grids out: the same tensors as the exported graph."""
        if self._terms is None:
            raise DeviceError(f'{self.name}: no partition loaded')
        values, spikes = source_grids(self._manifest, inputs)
        out = reference_outputs(self.connectome, self._manifest, self._pairs, values, spikes)
        return {name: grid.astype(np.float32) for name, grid in out.items()}

    def describe(self) -> DeviceHealth:
        """Health of the host CPU device."""
        return DeviceHealth(name=self.name, kind=self.kind, device_id='host',
                            architecture=f'host CPU ({os.cpu_count()} cores)',
                            status='open' if self._open else 'closed')

    def close(self) -> None:
        """Release nothing."""
        self._open = False
