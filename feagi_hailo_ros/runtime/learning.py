"""What a brain learns, as the node sees it: plastic pairs, their weights, carry-over.

The learning state of plastic pairs (NEURON_MODEL §4b: weights and last-fired history) lives
in the fast engine's `plastic` (engine.plastic.PlasticState; a HybridEngine holds it in its
BurstEngine). `LearnedState` is that state taken out of one engine, in a form independent of
where the areas sit in the neuron index, so that the node's cleanup/configure cycle can put
it into the next engine when its plastic pairs and their synapses are the same. No ROS here.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.engine.plastic import NEVER, PlasticState
import numpy as np


def plastic_state(engine) -> Optional[PlasticState]:
    """The engine's learning state (`plastic`: a HybridEngine forwards its BurstEngine's)."""
    state = getattr(engine, 'plastic', None)
    return state if isinstance(state, PlasticState) else None


def _pair_name(pair) -> str:
    return f'{pair[0]}->{pair[1]}'


def _local(layout, neurons: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(area index, index inside the area) of neuron indices."""
    neurons = np.asarray(neurons, np.int64)
    area = np.searchsorted(layout.area_start, neurons, side='right') - 1
    return area, neurons - layout.area_start[area]


@dataclass
class LearnedState:
    """The learning state of one engine, to carry into a rebuilt one (same pairs only)."""

    pairs: list                          # PlasticSynapses.describe(): pairs and parameters
    synapses: Tuple[np.ndarray, ...]     # pair, source and target inside their areas,
    #                                      initial weight, inhibitory: what each synapse is
    weight: np.ndarray                   # float32[P]: current weights (magnitudes)
    delivered: np.ndarray                # float32[P]: weights the next burst delivers
    fired_age: Dict[str, np.ndarray]     # per plastic area: last fired - burst count (NEVER)

    @classmethod
    def take(cls, engine) -> Optional['LearnedState']:
        """Copy an engine's learning state; None when its brain has no plastic pairs."""
        state = plastic_state(engine)
        if state is None:
            return None
        arrays, layout = state.arrays(), engine.model.layout
        last = arrays['plastic_last_fired']
        age = np.where(last == NEVER, NEVER, last - int(engine.burst_count))
        fired_age = {}
        for index in np.flatnonzero(state.syn.tracked_area):
            span = layout.area_neurons(int(index))
            fired_age[layout.ids[index]] = age[span].copy()
        return cls(state.syn.describe(), _identity(state, layout), arrays['plastic_weight'],
                   arrays['plastic_delivered'], fired_age)

    @property
    def n_synapses(self) -> int:
        """Plastic synapses held."""
        return int(self.weight.size)

    def mismatch(self, engine) -> Optional[str]:
        """Why this state cannot go into `engine`'s brain, or None when it fits."""
        state = plastic_state(engine)
        if state is None:
            return 'the new brain has no plastic pairs'
        if state.syn.describe() != self.pairs:
            return f'its plastic pairs differ ({_pairs_change(self.pairs, state.syn.describe())})'
        layout = engine.model.layout
        for area_id, ages in self.fired_age.items():
            span = layout.area_neurons(layout.area_index(area_id))
            count = span.stop - span.start
            if count != ages.size:
                return f'area {area_id} has {count} neurons, it had {ages.size}'
        now = _identity(state, layout)
        if now[0].size != self.synapses[0].size:
            return (f'its plastic pairs hold {now[0].size} synapses, the learned state '
                    f'{self.synapses[0].size}')
        for name, old, new in zip(('connections', 'connections', 'connections',
                                   'initial weights', 'signs'), self.synapses, now):
            if not np.array_equal(old, new):
                pairs = sorted({_pair_name(state.syn.pairs[q])
                                for q in now[0][np.flatnonzero(old != new)]})
                return f'the {name} of {", ".join(pairs)} changed'
        return None

    def put(self, engine) -> None:
        """Set `engine`'s learning state from this one (check `mismatch` first).

        The last-fired history keeps its age: a neuron that fired in the last burst before
        counts as fired one burst before the engine's next burst.
        """
        state = engine.state
        layout = engine.model.layout
        last = np.full(layout.n_neurons, NEVER, np.int64)
        for area_id, ages in self.fired_age.items():
            span = layout.area_neurons(layout.area_index(area_id))
            last[span] = np.where(ages == NEVER, NEVER, ages + int(engine.burst_count))
        state.plastic = {'plastic_weight': self.weight.copy(),
                         'plastic_delivered': self.delivered.copy(),
                         'plastic_last_fired': last}
        engine.state = state


def _identity(state: PlasticState, layout) -> Tuple[np.ndarray, ...]:
    """What each plastic synapse is, independent of the areas' place in the neuron index."""
    syn = state.syn
    return (syn.pair.copy(), _local(layout, syn.source)[1], _local(layout, syn.target)[1],
            syn.initial.copy(), syn.negative.copy())


def _pairs_change(old: list, new: list) -> str:
    """Which pairs were added, removed or have other parameters."""
    before = {_pair_name(p[:2]): p[2] for p in old}
    after = {_pair_name(p[:2]): p[2] for p in new}
    parts = [f'{name} is new' for name in after if name not in before]
    parts += [f'{name} is gone' for name in before if name not in after]
    parts += [f'{name} has other parameters' for name in after
              if name in before and before[name] != after[name]]
    return ', '.join(parts)


def carry_over(learned: Optional[LearnedState], engine, keep: bool) -> Tuple[str, str]:
    """Put a previous engine's learning state into `engine` if `keep` and it fits.

    Returns (log level, message); ('', '') when there was no learning state before.
    """
    if learned is None:
        return '', ''
    before = f'{learned.n_synapses} plastic synapses'
    if not keep:
        return 'info', (f'learned weights reset ({before}): keep_learned_weights is false; '
                        'plastic synapses start as built')
    reason = learned.mismatch(engine)
    if reason is not None:
        tail = '' if plastic_state(engine) is None else '; plastic synapses start as built'
        return 'warning', f'learned weights reset ({before}): the genome changed, {reason}{tail}'
    learned.put(engine)
    return 'info', (f'learned weights kept: {before} of {len(learned.pairs)} plastic pairs '
                    'carry on from before the cleanup')


@dataclass
class PlasticWeights:
    """The weights of the plastic pairs, grouped by pair, with what each synapse connects."""

    pairs: List[Tuple[str, str]]    # (source area id, destination area id), sorted
    counts: np.ndarray              # int64[pairs]: synapses of each pair
    source: np.ndarray              # int32[P, 3]: x, y, z of the source neuron's voxel
    target: np.ndarray              # int32[P, 3]: x, y, z of the target neuron's voxel
    weight: np.ndarray              # float32[P]: current weight, negative when inhibitory


class WeightsView:
    """The plastic pairs' weights in pair order, with the voxels each synapse connects.

    Inside a pair, synapses follow their source neuron (index order: x, then y, then z,
    then the voxel's neuron k), then the order they were built in. The order and the voxels
    are computed at the first `weights()` (32 B per plastic synapse), not before.
    """

    def __init__(self, engine):
        """Count the plastic synapses of `engine`'s brain per pair (none: `pairs` is empty)."""
        self._state = plastic_state(engine)
        self._layout = engine.model.layout
        self._index: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        syn = self._state.syn if self._state is not None else None
        self.pairs: List[Tuple[str, str]] = list(syn.pairs) if syn is not None else []
        self.counts = (np.bincount(syn.pair, minlength=len(syn.pairs)).astype(np.int64)
                       if syn is not None else np.zeros(0, np.int64))

    @property
    def n_synapses(self) -> int:
        """Plastic synapses in the brain."""
        return int(self.counts.sum())

    def summary(self) -> str:
        """'learning: N plastic pairs, M synapses', or '' for a brain that does not learn."""
        if not self.pairs:
            return ''
        return f'learning: {len(self.pairs)} plastic pairs, {self.n_synapses} synapses'

    def _indexed(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order by pair, source voxels int32[P, 3], target voxels int32[P, 3])."""
        if self._index is None:
            syn = self._state.syn
            order = np.argsort(syn.pair, kind='stable')
            voxels = [np.stack(self._layout.coords(ends[order])[1:], axis=1).astype(np.int32)
                      for ends in (syn.source, syn.target)]
            self._index = (order, voxels[0], voxels[1])
        return self._index

    def weights(self) -> Optional[PlasticWeights]:
        """Return the weights now (read between bursts); None for a brain without plastic pairs."""
        if self._state is None:
            return None
        order, source, target = self._indexed()
        return PlasticWeights(self.pairs, self.counts, source, target,
                              self._state.weights()[order])
