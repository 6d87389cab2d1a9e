"""The engine API every engine offers (the CPU BurstEngine and the HybridEngine)."""

from pathlib import Path
from typing import Any, List, Protocol, runtime_checkable, Union

import numpy as np


@runtime_checkable
class Engine(Protocol):
    """What the CLI, the node and the benchmarks use of an engine."""

    faults: List[dict]          # device faults so far (none on the CPU engine)

    @property
    def model(self) -> Any:
        """The engine model: layout, parameters, synapses."""

    @property
    def burst_count(self) -> int:
        """Bursts run so far."""

    @property
    def fired(self) -> np.ndarray:
        """The last burst's fired neuron indices (ascending)."""

    def inject(self, area_id: str, x, y, z, potential) -> None:
        """Queue injections into voxels of an area for the next burst."""

    def inject_indices(self, indices, potentials) -> None:
        """Queue injections by neuron index for the next burst."""

    def burst(self) -> np.ndarray:
        """Run one burst; return the fired indices (a view valid until the next burst)."""

    def fired_coords(self):
        """The last burst's fired (area ids, x, y, z, potential)."""

    state: Any                  # the neuron state (get a copy; set between bursts)

    def checkpoint(self, path: Union[str, Path]) -> None:
        """Write the state to a file."""

    def restore(self, path: Union[str, Path]) -> None:
        """Read a checkpoint written for this brain."""

    def describe(self) -> List[dict]:
        """Per device partition: mode, device health, faults (empty on the CPU engine)."""

    def close(self) -> None:
        """Release threads and devices."""
