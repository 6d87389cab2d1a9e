"""What the engine needs of a brain: layout of areas, synapses in CSR and neuron parameters."""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from feagi_hailo_ros.brain.connectome import compact_weights
from feagi_hailo_ros.brain.layout import AreaLayout
from feagi_hailo_ros.engine.kernel import split_rows_by_target
from feagi_hailo_ros.engine.params import NeuronParams
from feagi_hailo_ros.engine.plastic import PlasticSynapses, split_plastic
import numpy as np


@dataclass
class Synapses:
    """Synapses in CSR by source: indptr[N+1], target[S], signed weight[S] (int16, or float32).

    indptr is uint32 (int64 when S >= 2^32) and target uint32 (int64 when N > 2^32), as a
    brain.Connectome holds them: the engine reads them in place. `neuron_area` (uint16[N])
    gives each source's area (for callers such as devices; the kernel uses area_start).
    """

    indptr: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    neuron_area: np.ndarray

    @property
    def n_synapses(self) -> int:
        """Return the number of synapses S."""
        return int(self.target.size)

    def split_by_target(self, bounds: Sequence[Tuple[int, int]]
                        ) -> Tuple['Synapses', List[np.ndarray]]:
        """Reorder each row by target range; return the synapses and P+1 row cut arrays.

        `bounds` are contiguous ranges covering [0, N). Partition p's synapses of source s
        are `[cuts[p][s], cuts[p+1][s])` (cuts[0] = indptr[:-1], cuts[P] = indptr[1:]).
        The reordering is stable, so every target keeps its inputs' order (exact sums), and
        the result is still a valid CSR of all synapses.
        """
        n = self.indptr.size - 1
        edges = np.array([lo for lo, _ in bounds] + [bounds[-1][1]], dtype=np.int64)
        if edges[0] != 0 or edges[-1] != n or np.any(np.diff(edges) < 0) or any(
                bounds[p][1] != bounds[p + 1][0] for p in range(len(bounds) - 1)):
            raise ValueError(f'partitions {list(bounds)} must be contiguous ranges covering '
                             f'neurons 0..{n - 1} in order')
        out_target = np.empty_like(self.target)
        out_weight = np.empty_like(self.weight)
        cuts = np.empty((len(bounds) + 1, n), dtype=self.indptr.dtype)
        split_rows_by_target(self.indptr, self.target, self.weight, edges, out_target,
                             out_weight, cuts)
        return Synapses(self.indptr, out_target, out_weight, self.neuron_area), list(cuts)

    def restricted(self, keep: np.ndarray) -> 'Synapses':
        """The synapses where `keep` (bool[S]) is set, CSR by source, order kept."""
        csum = np.zeros(keep.size + 1, dtype=np.int64)
        np.cumsum(keep, out=csum[1:])
        indptr = csum[np.asarray(self.indptr, dtype=np.int64)]
        return Synapses(indptr, self.target[keep], self.weight[keep], self.neuron_area)

    def rows_by_partition(self, bounds: Sequence[Tuple[int, int]]
                          ) -> Tuple['Synapses', List[Tuple[np.ndarray, np.ndarray]]]:
        """Return the synapses partitions read and each one's (row begin, row end) per source.

        One partition reads this CSR in place; more read one CSR whose rows are split by
        target (`split_by_target`): the partitions' threads share its cache lines.
        """
        if len(bounds) == 1:
            return self, [(self.indptr[:-1], self.indptr[1:])]
        synapses, cuts = self.split_by_target(bounds)
        # the outer cuts are the CSR's own row bounds; keep only the inner ones
        cuts = [self.indptr[:-1]] + [np.array(c) for c in cuts[1:-1]] + [self.indptr[1:]]
        return synapses, [(cuts[p], cuts[p + 1]) for p in range(len(bounds))]


@dataclass
class EngineModel:
    """Everything the burst engine reads about a brain (built once, then read-only).

    With plastic pairs, `synapses` holds the other synapses and `plastic` those of the
    pairs; `degree_indptr` is the whole brain's CSR indptr (the psp divisor counts both).
    """

    layout: AreaLayout
    params: NeuronParams
    synapses: Synapses
    plastic: Optional[PlasticSynapses] = None
    degree_indptr: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.degree_indptr is None:
            self.degree_indptr = self.synapses.indptr

    @property
    def n_synapses(self) -> int:
        """Return every synapse of the brain (plastic ones included)."""
        extra = self.plastic.n_synapses if self.plastic is not None else 0
        return self.synapses.n_synapses + extra

    @property
    def n_neurons(self) -> int:
        """Return the number of neurons N."""
        return self.params.n_neurons

    @property
    def out_degree(self) -> np.ndarray:
        """Return every source's out-degree (the n of NEURON_MODEL §4 step 4) as float32[N].

        Computed on each call (allocates 4 B/neuron): the kernel reads it from indptr.
        """
        return np.diff(self.degree_indptr.astype(np.int64)).astype(np.float32)

    def nbytes(self) -> dict:
        """Return the bytes of the arrays this model holds, by part.

        `synapses`: indptr, target, weight and neuron_area (what a Connectome holds, shared
        with it when built by `from_connectome`); `params`: per-area and per-neuron neuron
        parameters; `layout`: area sizes and offsets.
        """
        syn = self.synapses
        split = self.degree_indptr is not syn.indptr
        return {
            'synapses': int(syn.indptr.nbytes + syn.target.nbytes + syn.weight.nbytes
                            + syn.neuron_area.nbytes
                            + (self.degree_indptr.nbytes if split else 0)),
            'plastic': self.plastic.nbytes if self.plastic is not None else 0,
            'params': int(sum(a.nbytes for a in self.params.arrays().values())),
            'layout': self.layout.nbytes}

    @classmethod
    def from_arrays(cls, params: NeuronParams, indptr, target, weight,
                    ids: Sequence[str] = (), dims=None, neurons_per_voxel=None,
                    neuron_area=None, layout: Optional[AreaLayout] = None) -> 'EngineModel':
        """Build a model from plain arrays; areas default to 1-D grids (N_a x 1 x 1).

        The areas are `layout` (over params.area_start) or `AreaLayout.from_arrays` of
        ids, dims and neurons_per_voxel. indptr becomes uint32 when S < 2^32 (else int64)
        and target uint32 when N <= 2^32 (else int64); weight int16 when every weight is an
        integer that fits, else float32 (`compact_weights`, as a Connectome stores them);
        arrays already of that dtype are used in place, not copied.
        """
        if layout is None:
            layout = AreaLayout.from_arrays(params.area_start, ids, dims, neurons_per_voxel)
        elif not np.array_equal(layout.area_start, params.area_start):
            raise ValueError("the layout's area_start differs from the parameters': build "
                             'both from the same areas')
        n_areas = params.n_areas
        sizes = np.diff(params.area_start)
        n = params.n_neurons
        indptr = np.asarray(indptr)
        target = np.asarray(target)
        if target.size == 0:
            target = target.astype(np.uint32)
        for name, arr in (('syn_indptr', indptr), ('syn_target', target)):
            if arr.dtype.kind not in 'iu':
                raise ValueError(f'{name} must hold integers, got {arr.dtype}')
        if indptr.size and (int(indptr.min()) < 0 or int(indptr.max()) >= 2 ** 32):
            indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        else:
            indptr = np.ascontiguousarray(indptr, dtype=np.uint32)
        if target.size and int(target.min()) < 0:
            raise ValueError(f'synapse target outside 0..{n - 1}')
        target = np.ascontiguousarray(target, dtype=np.uint32 if n <= 2 ** 32 else np.int64)
        weight = np.asarray(weight)
        weight = (np.ascontiguousarray(weight) if weight.dtype in (np.int16, np.float32)
                  else compact_weights(weight))
        if indptr.shape != (n + 1,) or indptr[0] != 0 or indptr[-1] != target.size:
            raise ValueError(f'syn_indptr must have {n + 1} entries from 0 to {target.size}')
        if weight.shape != target.shape:
            raise ValueError('syn_weight and syn_target differ in length')
        if target.size and target.max() >= n:
            raise ValueError(f'synapse target outside 0..{n - 1}')
        if neuron_area is None:
            neuron_area = np.repeat(np.arange(n_areas, dtype=np.uint16), sizes)
        elif np.shape(neuron_area) != (n,):
            raise ValueError(f'neuron_area must have shape ({n},)')
        synapses = Synapses(indptr, target, weight, neuron_area)
        return cls(layout, params, synapses)

    @classmethod
    def from_connectome(cls, connectome) -> 'EngineModel':
        """Build the model of a brain.connectome.Connectome (sharing its layout and arrays).

        Synapses of registered plastic pairs go to `plastic` (NEURON_MODEL §4b).
        """
        params = NeuronParams.from_connectome(connectome)
        model = cls.from_arrays(
            params, connectome.syn_indptr, connectome.syn_target, connectome.syn_weight,
            neuron_area=connectome.neuron_area, layout=connectome.layout)
        pairs = getattr(connectome, 'plastic_pairs', None)
        if not pairs:
            return model
        syn = model.synapses
        keep, plastic = split_plastic(syn.indptr, syn.target, syn.weight, syn.neuron_area,
                                      list(model.layout.ids), pairs)
        return cls(model.layout, params, syn.restricted(keep), plastic, syn.indptr)


__all__ = ['Synapses', 'EngineModel']
