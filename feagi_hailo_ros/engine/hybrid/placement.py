"""Where each device partition runs, burst by burst: on the device or on the host's CPU.

`placement='device'` (default) runs every planned partition on its device. `'auto'` asks
the cost model (devices/cost_model, a device profile's estimates) every `every` bursts,
fed with each area's activity measured by the engine (an exponential average of the share
of its neurons that fired): a partition goes to the device only where the model predicts a
gain, and back to the CPU when the activity makes it a loss (with a margin, so it does not
flap). Both paths are exact (the host integrates the same synapses), so a move costs only
the decision. `'cpu'` keeps every partition on the CPU (the device stays open).
"""

from dataclasses import dataclass
from typing import Callable, List, Optional

from feagi_hailo_ros.devices.cost_model import (CostModel, DEFAULT_PROFILE, expected_activity,
                                                PLACEMENTS, profile)
import numpy as np

EVERY = 50                   # bursts between decisions
ALPHA = 0.3                  # weight of the newest measurement in the activity average
MARGIN_S = 20e-6             # a move needs a predicted gain (or loss) above this


@dataclass
class Move:
    """One placement change: burst, partition, where to, predicted gain (s/burst)."""

    burst: int
    partition: str
    to: str
    gain_s: float


class Placement:
    """Decides, from measured activity, which partitions run on their device."""

    def __init__(self, connectome, runners: List, mode: str = 'device',
                 profile_name: str = DEFAULT_PROFILE, operators: Optional[list] = None,
                 every: int = EVERY, log: Optional[Callable[[str], None]] = None):
        if mode not in PLACEMENTS:
            raise ValueError(f"placement '{mode}': expected one of {', '.join(PLACEMENTS)}")
        self.mode, self.runners, self.every = mode, runners, max(1, int(every))
        self.log = log or (lambda message: None)
        self.area = np.asarray(connectome.neuron_area)
        self.sizes = np.maximum(1, np.diff(np.asarray(connectome.area_start, np.int64)))
        self.model = CostModel(connectome, operators or [], profile(profile_name))
        self.activity = expected_activity(connectome)
        self._counts = np.zeros(self.sizes.size, np.int64)
        self._bursts = 0
        self.moves: List[Move] = []
        self.gains = {r.name: 0.0 for r in runners}
        for runner in runners:
            runner.placed = 'cpu' if mode == 'cpu' else 'device'
        if mode == 'auto':
            self.decide(0)

    def after_burst(self, fired: np.ndarray, burst: int) -> None:
        """Count the burst's firing per area; decide every `every` bursts (auto only)."""
        if self.mode != 'auto':
            return
        if fired.size:
            self._counts += np.bincount(self.area[fired], minlength=self.sizes.size)
        self._bursts += 1
        if self._bursts >= self.every:
            measured = self._counts / (self._bursts * self.sizes)
            self.activity += ALPHA * (measured - self.activity)
            self._counts[:] = 0
            self._bursts = 0
            self.decide(burst)

    def decide(self, burst: int) -> None:
        """Place each partition where the model predicts it is faster (with a margin)."""
        moved = {id(op) for r in self.runners for op in r.part.operators}
        others = sum(self.model.cpu_s(op, self.activity) for op in self.model.operators
                     if id(op) not in moved)
        for runner in self.runners:
            gain = self.model.gain_s(runner.part.operators, self.activity, others)
            self.gains[runner.name] = gain
            to = runner.placed
            if runner.placed == 'device' and gain < -MARGIN_S:
                to = 'cpu'
            elif runner.placed == 'cpu' and gain > MARGIN_S:
                to = 'device'
            if to != runner.placed:
                runner.placed = to
                self.moves.append(Move(burst, runner.name, to, gain))
                self.log(f'{runner.name}: placed on the {"device" if to == "device" else "CPU"} '
                         f'at burst {burst}: the cost model ({self.model.device.label}, '
                         f'estimates) predicts {abs(gain) * 1e3:.3f} ms/burst '
                         f'{"saved" if gain > 0 else "lost"} on the device at the '
                         f'{"measured" if burst else "expected"} activity')

    def describe(self, runner) -> dict:
        """The placement fields of a partition's description."""
        return {'placement': self.mode, 'placed': runner.placed,
                'predicted_gain_ms': round(self.gains.get(runner.name, 0.0) * 1e3, 4)}
