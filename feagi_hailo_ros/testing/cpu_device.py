"""CPU stand-in for an accelerator: a partition's integration from the synapse list (numpy).

The hybrid engine's CPU partition runs on the fast engine itself; this device computes what
an exported partition graph computes (currents and reach per target voxel, in float64 then
float32) without onnxruntime, as a reference and for hosts without it.
"""

import os
from typing import Dict

from feagi_hailo_ros.devices.base import Device, DeviceError, DeviceHealth
from feagi_hailo_ros.devices.operators import pair_synapses
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
        """Collect the voxel-level synapses of the partition's device operators."""
        if not self._open:
            raise DeviceError(f'{self.name}: upload before open')
        c = self.connectome
        pairs = pair_synapses(c)
        wanted = {(op['src'], op['dst']) for op in partition.manifest['operators']}
        self._terms = {}
        self._outputs = partition.manifest['outputs']
        for (a, b), p in pairs.items():
            if (c.areas[a].id, c.areas[b].id) in wanted:
                self._terms.setdefault(b, []).append((a, p))

    def infer(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Grids (X, Y, Z) in, grids out: the same tensors as the exported graph."""
        if self._terms is None:
            raise DeviceError(f'{self.name}: no partition loaded')
        out = {}
        for spec in self._outputs:
            b = spec['area_index']
            size = self.connectome.areas[b].voxels
            total = np.zeros(size)
            for a, p in self._terms.get(b, []):
                if spec['kind'] == 'current':
                    source = inputs[f'in_{a}'].reshape(-1)
                    total += np.bincount(p.dst_vox, p.weight * source[p.src_vox], size)
                else:
                    source = inputs[f'spk_{a}'].reshape(-1)
                    total += np.bincount(p.dst_vox, p.count * source[p.src_vox], size)
            if spec['kind'] == 'reach':
                total = np.minimum(total, 1.0)
            out[spec['name']] = total.astype(np.float32).reshape(tuple(spec['dims']))
        return out

    def describe(self) -> DeviceHealth:
        """Health of the host CPU device."""
        return DeviceHealth(name=self.name, kind=self.kind, device_id='host',
                            architecture=f'host CPU ({os.cpu_count()} cores)',
                            status='open' if self._open else 'closed')

    def close(self) -> None:
        """Release nothing."""
        self._open = False
