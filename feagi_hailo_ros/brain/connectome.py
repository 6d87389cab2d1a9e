"""The connectome: neurons and synapses of a brain as struct-of-arrays, saved as one file.

Where the neurons lie (areas, voxels, the receiving neuron of a voxel) is the brain's
`layout` (brain.layout.AreaLayout); coordinates are derived, not stored. Synapses are CSR by
source: `syn_indptr`, `syn_target` (uint32), `syn_weight` (signed: int16 when every weight is
an integer that fits, else float32 as FEAGI holds them); psp is per area.
"""

from dataclasses import asdict, dataclass, fields
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from feagi_hailo_ros.brain.errors import GenomeError
from feagi_hailo_ros.brain.genome import AreaSpec, MappingRule, Morphology
from feagi_hailo_ros.brain.ids import CORE_KINDS
from feagi_hailo_ros.brain.layout import AreaLayout
from feagi_hailo_ros.brain.morphologies import part_pairs, rule_parts
from feagi_hailo_ros.brain.plasticity import (pair_table, PlasticParams,
                                              rule_plasticity_from_json)
import numpy as np

# Bump when the builder's output for a given genome changes: cached files are then rebuilt.
BUILDER_VERSION = 4
FILE_MAGIC = b'FEAGIHC1'
FILE_VERSION = 1
_ALIGN = 64
ArrayLike = Union[np.ndarray, Sequence[int]]


@dataclass(frozen=True)
class MappingInfo:
    """One mapping rule as built: source and destination area ids, morphology, synapse count."""

    src: str
    dst: str
    morphology: str
    synapses: int
    weight: float = 1.0
    rule_index: int = 0          # index of the rule in the source area's `mappings`
    morphology_type: str = ''
    note: str = ''               # e.g. 'unknown function: no synapses'


class Connectome:
    """Neurons (area index, derived x/y/z) and synapses (CSR by source) of one brain."""

    def __init__(self, areas: Sequence[AreaSpec], syn_indptr: np.ndarray, syn_target: np.ndarray,
                 syn_weight: np.ndarray, mappings: Optional[List[MappingInfo]] = None,
                 neuron_area: Optional[np.ndarray] = None, genome_hash: str = '',
                 warnings: Optional[List[str]] = None, source: str = '',
                 meta: Optional[dict] = None,
                 morphologies: Optional[Dict[str, Morphology]] = None,
                 plastic_pairs: Optional[Dict[Tuple[str, str], PlasticParams]] = None):
        self.areas: List[AreaSpec] = list(areas)
        self.layout = AreaLayout.from_areas(self.areas)
        self.area_start = self.layout.area_start
        counts = np.diff(self.area_start)
        n = int(self.area_start[-1])
        if len(self.areas) > np.iinfo(np.uint16).max:
            raise ValueError(f'{len(self.areas)} areas: at most 65535 are supported')
        if neuron_area is None:
            neuron_area = np.repeat(np.arange(len(self.areas), dtype=np.uint16), counts)
        self.neuron_area = neuron_area
        self.syn_indptr = syn_indptr
        self.syn_target = syn_target
        self.syn_weight = syn_weight
        self.mappings: List[MappingInfo] = list(mappings or [])
        self.genome_hash = genome_hash
        self.warnings: List[str] = list(warnings or [])
        self.source = source
        self.meta: dict = dict(meta or {})
        self.morphologies: Dict[str, Morphology] = dict(morphologies or {})
        # registered plastic pairs (source id, destination id) -> parameters (§4b step 4)
        self.plastic_pairs: Dict[Tuple[str, str], PlasticParams] = dict(plastic_pairs or {})
        self._check(n)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, areas: Sequence[AreaSpec], syn_indptr: ArrayLike, syn_target: ArrayLike,
                    syn_weight: ArrayLike, mappings: Optional[List[MappingInfo]] = None,
                    **kwargs) -> 'Connectome':
        """Build a connectome by hand (no genome): CSR arrays converted to the standard dtypes."""
        target = np.asarray(syn_target)
        weight = np.asarray(syn_weight)
        indptr = np.asarray(syn_indptr, dtype=np.int64)
        n = int(sum(a.neurons for a in areas))
        if indptr.shape != (n + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError(f'syn_indptr must be {n + 1} non-decreasing offsets from 0')
        if target.size and (target.min() < 0 or target.max() >= n):
            raise ValueError(f'syn_target holds neuron indices outside 0..{n - 1}')
        if weight.size and not np.all(np.isfinite(weight)):
            raise ValueError('syn_weight must be finite')
        weight = compact_weights(weight)
        return cls(areas, compact_indptr(indptr), np.ascontiguousarray(target, np.uint32),
                   weight, mappings, **kwargs)

    @classmethod
    def from_synapse_list(cls, areas: Sequence[AreaSpec], sources: ArrayLike,
                          targets: ArrayLike, weights: ArrayLike, **kwargs) -> 'Connectome':
        """Build from (source, target, weight) lists; order within a source is kept."""
        src = np.asarray(sources, dtype=np.int64)
        order = np.argsort(src, kind='stable')
        n = int(sum(a.neurons for a in areas))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        return cls.from_arrays(areas, indptr, np.asarray(targets)[order],
                               np.asarray(weights)[order], **kwargs)

    def _check(self, n: int) -> None:
        if self.neuron_area.shape != (n,):
            raise ValueError(f'neuron_area has shape {self.neuron_area.shape}, expected ({n},)')
        if self.syn_indptr.shape != (n + 1,):
            raise ValueError(f'syn_indptr has shape {self.syn_indptr.shape}, expected ({n + 1},)')
        s = int(self.syn_indptr[-1]) if n >= 0 else 0
        if self.syn_target.shape != (s,) or self.syn_weight.shape != (s,):
            raise ValueError(f'syn_target/syn_weight must hold {s} synapses '
                             f'(got {self.syn_target.shape}, {self.syn_weight.shape})')
        if self.syn_target.dtype != np.uint32 or self.syn_weight.dtype not in (np.int16,
                                                                               np.float32):
            raise ValueError('syn_target must be uint32 and syn_weight int16 or float32')

    # ---- sizes --------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        """Total number of neurons."""
        return int(self.area_start[-1])

    @property
    def n_synapses(self) -> int:
        """Total number of synapses."""
        return int(self.syn_indptr[-1])

    @property
    def nbytes(self) -> int:
        """Bytes held by the per-neuron and per-synapse arrays."""
        return int(self.neuron_area.nbytes + self.syn_indptr.nbytes + self.syn_target.nbytes
                   + self.syn_weight.nbytes)

    @property
    def bytes_per_neuron(self) -> float:
        """Bytes of per-neuron arrays per neuron (neuron_area + syn_indptr)."""
        n = max(1, self.n_neurons)
        return (self.neuron_area.nbytes + self.syn_indptr.nbytes) / n

    @property
    def bytes_per_synapse(self) -> float:
        """Bytes of per-synapse arrays per synapse (syn_target + syn_weight)."""
        s = max(1, self.n_synapses)
        return (self.syn_target.nbytes + self.syn_weight.nbytes) / s

    # ---- areas and coordinates ----------------------------------------------------------
    def area_index(self, area_id: str) -> int:
        """Index of an area by id, a 2.x id's decoded text, or its legacy/2.x equivalent."""
        return self.layout.area_index(area_id)

    def area(self, area_id: str) -> AreaSpec:
        """The AreaSpec of an id (aliases accepted)."""
        return self.areas[self.area_index(area_id)]

    def area_neurons(self, area_index: int) -> slice:
        """The neuron index range of an area."""
        return self.layout.area_neurons(area_index)

    def coords(self, indices: ArrayLike) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, z) int64 arrays of neuron indices, computed from the index (not stored)."""
        return self.layout.coords(indices)[1:]

    def voxel_neuron(self, area_index: int, x: ArrayLike, y: ArrayLike,
                     z: ArrayLike) -> np.ndarray:
        """Receiving neuron (the voxel's last, k = n-1) of each (x, y, z); int64 indices."""
        return self.layout.voxel_neuron(area_index, x, y, z)

    def receiving_mask(self) -> np.ndarray:
        """Mask bool[N]: True for the neurons that can receive (the last of each voxel)."""
        mask = np.ones(self.n_neurons, dtype=bool)
        for a, area in enumerate(self.areas):
            n = area.neurons_per_voxel
            if n > 1:
                block = mask[self.area_neurons(a)].reshape(-1, n)
                block[:, :n - 1] = False
        return mask

    def mapping_pairs(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """(source neuron, target neuron) int64 arrays of one mapping, regenerated from its rule.

        For exporters that need a mapping's own structure (the CSR mixes the mappings of a
        source). Order: the rule's parts, then source and destination voxels; every neuron
        of a source voxel appears (k = 0..n-1).
        """
        info = self.mappings[index]
        s, d = self.area_index(info.src), self.area_index(info.dst)
        src, dst = self.areas[s], self.areas[d]
        rule = src.mappings[info.rule_index]
        morphology = self.morphologies.get(rule.morphology_id)
        if morphology is None:
            raise KeyError(f'morphology {rule.morphology_id!r} of mapping {info.src} -> '
                           f'{info.dst} is not stored in this connectome')
        n_src = src.neurons_per_voxel
        sources, targets = [], []
        for part in rule_parts(src, dst, morphology, rule).parts:
            for src_vox, dst_vox, _ in part_pairs(part, src.dims, dst.dims):
                target = self.layout.receiving_neuron(d, dst_vox)
                first = self.layout.first_neuron(s, src_vox)
                for k in range(n_src):
                    sources.append(first + k)
                    targets.append(target)
        if not sources:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(sources), np.concatenate(targets)

    # ---- per-neuron values derived from the areas ---------------------------------------
    def area_psp(self) -> np.ndarray:
        """float32[A]: each area's psp as FEAGI holds it (pstcr_ as written)."""
        return np.array([a.psp for a in self.areas], dtype=np.float32)

    def out_degree(self) -> np.ndarray:
        """Synapses leaving each neuron (FEAGI's psp divisor n before psp_uniform)."""
        return np.diff(self.syn_indptr).astype(np.int64)

    def excitability_ids(self) -> np.ndarray:
        """Neuron ids of FEAGI for the excitability hash, uint32[N] (NEURON_MODEL §4)."""
        ids = np.zeros(self.n_neurons, dtype=np.uint32)
        order = sorted(range(len(self.areas)), key=lambda i: self.areas[i].id)
        rank = 7
        for a in order:
            area = self.areas[a]
            span = self.area_neurons(a)
            if area.role == 'core' and area.core_kind in CORE_KINDS:
                ids[span] = CORE_KINDS.index(area.core_kind)
                continue
            ids[span] = np.arange(rank, rank + area.neurons, dtype=np.int64).astype(np.uint32)
            rank += area.neurons
        return ids

    # ---- file ---------------------------------------------------------------------------
    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write one file: magic, JSON header, 64-byte-aligned raw arrays (atomic rename)."""
        arrays = {'neuron_area': self.neuron_area, 'syn_indptr': self.syn_indptr,
                  'syn_target': self.syn_target, 'syn_weight': self.syn_weight}
        table, offset = {}, 0
        for name, array in arrays.items():
            table[name] = {'dtype': np.dtype(array.dtype).str, 'shape': list(array.shape),
                           'offset': offset}
            offset += _aligned(array.nbytes)
        header = {
            'version': FILE_VERSION, 'genome_hash': self.genome_hash, 'source': self.source,
            'warnings': self.warnings, 'meta': self.meta, 'arrays': table,
            'areas': [_area_to_json(a) for a in self.areas],
            'mappings': [asdict(m) for m in self.mappings],
            'morphologies': {k: {'name': m.name, 'type': m.type, 'parameters': m.parameters}
                             for k, m in self.morphologies.items()},
            'plastic_pairs': pair_table(self.plastic_pairs),
        }
        blob = json.dumps(header).encode('utf-8')
        data_start = _aligned(len(FILE_MAGIC) + 8 + len(blob))
        tmp = f'{os.fspath(path)}.tmp{os.getpid()}'
        with open(tmp, 'wb') as out:
            out.write(FILE_MAGIC)
            out.write(np.uint64(data_start).tobytes())
            out.write(blob)
            out.write(b'\0' * (data_start - len(FILE_MAGIC) - 8 - len(blob)))
            for name, array in arrays.items():
                raw = np.ascontiguousarray(array)
                out.write(memoryview(raw.view(np.uint8).reshape(-1)))
                out.write(b'\0' * (_aligned(raw.nbytes) - raw.nbytes))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Union[str, os.PathLike], mmap: bool = True) -> 'Connectome':
        """Read a file written by save(); arrays are read-only memory maps when mmap is True."""
        name = os.fspath(path)
        try:
            with open(name, 'rb') as handle:
                magic = handle.read(len(FILE_MAGIC))
                if magic != FILE_MAGIC:
                    raise GenomeError('not a feagi_hailo_ros connectome file (bad magic)', name)
                data_start = int(np.frombuffer(handle.read(8), dtype=np.uint64)[0])
                header = json.loads(handle.read(data_start - len(FILE_MAGIC) - 8)
                                    .rstrip(b'\0').decode('utf-8'))
        except (OSError, ValueError, IndexError) as exc:
            if isinstance(exc, GenomeError):
                raise
            raise GenomeError(f'cannot read connectome file ({exc})', name) from None
        if header.get('version') != FILE_VERSION:
            raise GenomeError(f'connectome file version {header.get("version")} is not '
                              f'{FILE_VERSION}: rebuild it from the genome', name)
        arrays = {}
        for key, spec in header['arrays'].items():
            dtype, shape = np.dtype(spec['dtype']), tuple(spec['shape'])
            offset = data_start + spec['offset']
            count = int(np.prod(shape))
            if mmap and count:
                arrays[key] = np.memmap(name, dtype=dtype, mode='r', offset=offset, shape=shape)
            else:
                with open(name, 'rb') as handle:
                    handle.seek(offset)
                    arrays[key] = np.fromfile(handle, dtype=dtype, count=count).reshape(shape)
        areas = [_area_from_json(a) for a in header['areas']]
        mappings = [MappingInfo(**m) for m in header['mappings']]
        return cls(areas, arrays['syn_indptr'], arrays['syn_target'], arrays['syn_weight'],
                   mappings, neuron_area=arrays['neuron_area'],
                   genome_hash=header.get('genome_hash', ''), warnings=header.get('warnings'),
                   source=header.get('source', ''), meta=header.get('meta'),
                   morphologies={k: Morphology(**m)
                                 for k, m in header.get('morphologies', {}).items()},
                   plastic_pairs={(src, dst): PlasticParams(**params) for src, dst, params
                                  in header.get('plastic_pairs', [])})

    @staticmethod
    def cache_path(genome) -> str:
        """The cache file of a Genome (see the module function cache_path)."""
        return cache_path(genome)

    def summary(self) -> dict:
        """The `info --json` view: totals, areas, mappings, warnings."""
        return {
            'source': self.source, 'genome_hash': self.genome_hash,
            'neurons': self.n_neurons, 'synapses': self.n_synapses,
            'areas': [{'id': a.id, 'name': a.name, 'type': a.role, 'unit': a.unit,
                       'dimensions': list(a.dims), 'neurons_per_voxel': a.neurons_per_voxel,
                       'neurons': a.neurons} for a in self.areas],
            'mappings': [{'src': m.src, 'dst': m.dst, 'morphology': m.morphology,
                          'morphology_type': m.morphology_type, 'weight': m.weight,
                          'synapses': m.synapses, **({'note': m.note} if m.note else {})}
                         for m in self.mappings],
            'warnings': list(self.warnings),
            'memory_bytes': self.nbytes,
            'bytes_per_neuron': round(self.bytes_per_neuron, 3),
            'bytes_per_synapse': round(self.bytes_per_synapse, 3),
        }

    def __repr__(self) -> str:
        return (f'Connectome({len(self.areas)} areas, {self.n_neurons} neurons, '
                f'{self.n_synapses} synapses)')


def cache_dir() -> str:
    """Folder of cached connectomes: $FEAGI_HAILO_CACHE, else ~/.cache/feagi_hailo_ros."""
    return os.environ.get('FEAGI_HAILO_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'feagi_hailo_ros')


def cache_path(genome) -> str:
    """The cache file of a Genome: keyed by its content hash and the builder version."""
    return os.path.join(cache_dir(), f'{genome.content_hash[:32]}-b{BUILDER_VERSION}.fhc')


def _aligned(size: int) -> int:
    return (size + _ALIGN - 1) // _ALIGN * _ALIGN


def compact_weights(weights: ArrayLike) -> np.ndarray:
    """Synapse weights as stored: int16 when all are integers in its range, else float32."""
    w = np.asarray(weights)
    as_f32 = w.astype(np.float32)
    if w.dtype == np.int16 or (as_f32.size and np.all(np.trunc(as_f32) == as_f32)
                               and np.abs(as_f32).max() <= np.iinfo(np.int16).max):
        return np.ascontiguousarray(as_f32, dtype=np.int16)
    if not as_f32.size:
        return np.zeros(0, np.int16)
    return np.ascontiguousarray(as_f32)


def compact_indptr(indptr: np.ndarray) -> np.ndarray:
    """Return indptr as uint32 when the synapse count fits (4 B/neuron), else int64."""
    if indptr.size and int(indptr[-1]) < 2 ** 32:
        return indptr.astype(np.uint32)
    return indptr.astype(np.int64, copy=False)


def _area_to_json(area: AreaSpec) -> dict:
    out = asdict(area)
    out['mappings'] = [asdict(r) for r in area.mappings]
    return out


def _area_from_json(data: dict) -> AreaSpec:
    names = {f.name for f in fields(AreaSpec)}
    values = {k: v for k, v in data.items() if k in names}
    for key in ('dims', 'position', 'threshold_increment'):
        values[key] = tuple(values[key])
    values['mappings'] = tuple(
        MappingRule(**{**r, 'morphology_scalar': tuple(r['morphology_scalar']),
                       'plasticity': rule_plasticity_from_json(r.get('plasticity'))})
        for r in values.get('mappings', ()))
    return AreaSpec(**values)
