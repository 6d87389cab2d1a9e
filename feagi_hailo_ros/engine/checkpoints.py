"""The fast engine's state in and out: `state` (a NeuronState copy), checkpoint and restore.

A mixin of `BurstEngine` (engine.core): it reads the engine's state arrays, its fired list
and queued inputs, and the learning state of plastic pairs.
"""

from pathlib import Path
from typing import Union

from feagi_hailo_ros.engine import kernel
from feagi_hailo_ros.engine.state import brain_fingerprint, CheckpointError, NeuronState
import numpy as np


class EngineCheckpoints:
    """State, fingerprint, checkpoint and restore of a BurstEngine."""

    @property
    def state(self) -> NeuronState:
        """Return a copy of the state: potentials, counters, last fired, pending, learning."""
        s = self.state_arrays
        pending = np.flatnonzero(self.candidates()).astype(np.int64)
        fired, fired_v = self.previous_fired()
        consecutive = (s.consecutive_fires.copy() if s.consecutive_fires.size
                       else np.zeros(self.n_neurons, np.uint16))
        return NeuronState(s.potential.copy(), s.refractory_countdown.astype(np.uint16),
                           consecutive, fired.astype(np.int64), fired_v.copy(),
                           pending, self.fcl_input[pending].copy(), self.burst_count,
                           self.plastic.arrays() if self.plastic is not None else {})

    @state.setter
    def state(self, new: NeuronState) -> None:
        if self._in_burst:
            raise RuntimeError('cannot set the state inside a burst')
        new.validate(self.n_neurons)
        if self.plastic is None and new.plastic:
            raise ValueError('the state holds plastic weights, this brain has no plastic pairs')
        s = self.state_arrays
        most = np.iinfo(s.refractory_countdown.dtype).max
        if new.refractory_countdown.size and int(new.refractory_countdown.max()) > most:
            raise ValueError(f'state field refractory_countdown holds '
                             f'{int(new.refractory_countdown.max())}, more than the largest '
                             f'refractory + snooze of this brain allows ({most})')
        if self.plastic is not None:     # checked before it is set: it may refuse the state
            self.plastic.load(new.plastic, int(new.burst_count))
        s.potential[:] = new.potential
        s.refractory_countdown[:] = new.refractory_countdown
        if s.consecutive_fires.size:    # else no area has a limit: the counts are never read
            s.consecutive_fires[:] = new.consecutive_fires
        count = new.fired.size
        if self._fired.size < count:
            self._fired = np.empty(count, self._index_dtype)
            self._fired_v = np.empty(count, np.float32)
        self._fired[:count] = new.fired
        self._fired_v[:count] = new.fired_potential
        self._n_fired = count
        self.fcl_input[:] = kernel.NOT_CANDIDATE
        self.fcl_input[new.pending_indices] = new.pending_input
        self.burst_count = int(new.burst_count)

    def fingerprint(self) -> dict:
        """Return what identifies the brain in a checkpoint (sizes, area ids, checksum)."""
        if self._fingerprint is None:
            self._fingerprint = brain_fingerprint(self.model)
        return self._fingerprint

    def checkpoint(self, path: Union[str, Path]) -> None:
        """Write the state to a file so that `restore` resumes exactly (between bursts)."""
        self.state.save(path, self.fingerprint())

    def restore(self, path: Union[str, Path]) -> None:
        """Load a checkpoint written by `checkpoint` for this brain.

        CheckpointError (naming the file) when it cannot be restored; the state is then
        unchanged.
        """
        state = NeuronState.load(path, self.fingerprint())
        try:
            self.state = state
        except ValueError as exc:
            raise CheckpointError(f'checkpoint {path}: {exc}') from None
