"""The genome's types: areas with their genes, mapping rules, morphologies (and built-ins).

`brain.genome` reads them from FEAGI genome JSON; tests and other layers build areas with
`make_area`.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from feagi_hailo_ros.brain.ids import parse_area_id
from feagi_hailo_ros.brain.layout import find_area
from feagi_hailo_ros.brain.plasticity import RulePlasticity, STATIC
import numpy as np

MORPHOLOGY_TYPES = ('vectors', 'patterns', 'functions', 'composite')
_ANY = ['*', '*', '*']
# FEAGI's built-in morphologies: they replace a genome's definition of the same name, typed
# or not, and need no declaration (NEURON_MODEL §5)
BUILTIN_MORPHOLOGY_PARAMETERS = {
    'block_to_block': ('vectors', {'vectors': [[0, 0, 0]]}),
    'lateral_+x': ('vectors', {'vectors': [[1, 0, 0]]}),
    'lateral_-x': ('vectors', {'vectors': [[-1, 0, 0]]}),
    'lateral_+y': ('vectors', {'vectors': [[0, 1, 0]]}),
    'lateral_-y': ('vectors', {'vectors': [[0, -1, 0]]}),
    'lateral_+z': ('vectors', {'vectors': [[0, 0, 1]]}),
    'lateral_-z': ('vectors', {'vectors': [[0, 0, -1]]}),
    'all_to_0-0-0': ('patterns', {'patterns': [[_ANY, [0, 0, 0]]]}),
    '0-0-0_to_all': ('patterns', {'patterns': [[[0, 0, 0], _ANY]]}),
    'projector': ('functions', {}),
}


@dataclass(frozen=True)
class MappingRule:
    """One rule of an area's `dstmap`: a morphology from this area to `dst`."""

    dst: str
    morphology_id: str
    morphology_scalar: Tuple[float, float, float] = (1, 1, 1)
    psc_multiplier: float = 1.0
    plasticity_flag: bool = False          # JSON true (NEURON_MODEL §4b step 1)
    plasticity: RulePlasticity = STATIC    # what loading made of it (brain.plasticity)
    synaptic_delay: int = 1

    @property
    def weight(self) -> float:
        """Signed synaptic weight: float32(|multiplier|) as written (no cap), its sign."""
        magnitude = float(np.float32(abs(self.psc_multiplier)))
        return -magnitude if self.psc_multiplier < 0 else magnitude


@dataclass(frozen=True)
class Morphology:
    """A named morphology: `type` (vectors, patterns, functions, composite) and parameters."""

    name: str
    type: str  # noqa: A003
    parameters: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class AreaSpec:
    """A cortical area with its dimensions and neuron genes (FEAGI's defaults where omitted)."""

    id: str  # noqa: A003
    name: str
    role: str
    unit: Optional[str]
    index_in_unit: int
    dims: Tuple[int, int, int]
    position: Tuple[int, int, int] = (0, 0, 0)
    neurons_per_voxel: int = 1
    group: str = ''
    fire_threshold: float = 1.0
    threshold_limit: float = 0.0
    threshold_increment: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    refractory_period: int = 0
    leak_coefficient: float = 0.0
    consecutive_fire_limit: int = 0
    snooze_period: float = 0.0
    psp: float = 1.0
    psp_uniform: bool = False
    mp_charge_accumulation: bool = False
    mp_driven_psp: bool = False
    excitability: float = 1.0
    mappings: Tuple[MappingRule, ...] = ()
    core_kind: Optional[str] = None

    @property
    def voxels(self) -> int:
        """Number of voxels x*y*z."""
        return self.dims[0] * self.dims[1] * self.dims[2]

    @property
    def neurons(self) -> int:
        """Number of neurons x*y*z*n (FEAGI creates n per voxel)."""
        return self.voxels * self.neurons_per_voxel

    @property
    def is_core(self) -> bool:
        """True for FEAGI core areas (power, death, ...)."""
        return self.role == 'core'


@dataclass
class Genome:
    """A loaded genome: areas sorted by id, morphologies, warnings, source and content hash."""

    areas: List[AreaSpec]
    morphologies: Dict[str, Morphology]
    warnings: List[str]
    source: str
    content_hash: str
    title: str = ''
    physiology: Dict[str, Any] = field(default_factory=dict)

    def area(self, area_id: str) -> AreaSpec:
        """Return the area with this id (or an alias of it); KeyError if there is none."""
        return self.areas[self.area_index(area_id)]

    def area_index(self, area_id: str) -> int:
        """Index in `areas` of an id, a 2.x id's decoded text, or a legacy/2.x equivalent."""
        index = find_area(area_id, [a.id for a in self.areas])
        if index is None:
            raise KeyError(f'genome {self.source}: no area {area_id!r}')
        return index

    @property
    def neurons(self) -> int:
        """Total neurons, sum of x*y*z*n."""
        return sum(a.neurons for a in self.areas)


def builtin_morphologies() -> Dict[str, Morphology]:
    """Return the built-in morphologies of FEAGI by name (fresh objects)."""
    return {name: Morphology(name, kind, {k: list(v) for k, v in params.items()})
            for name, (kind, params) in BUILTIN_MORPHOLOGY_PARAMETERS.items()}


def make_area(area_id: str, dims: Tuple[int, int, int], name: Optional[str] = None,
              mappings: Sequence = (), **genes: Any) -> AreaSpec:
    """Build an AreaSpec by hand (tests, other layers): role and unit from the id, genes as kw."""
    info = parse_area_id(area_id, genes.pop('group', None))
    return AreaSpec(id=area_id, name=name or area_id, role=info.role, unit=info.unit,
                    index_in_unit=info.index_in_unit, dims=tuple(int(d) for d in dims),
                    mappings=tuple(mappings),
                    core_kind=info.core_kind if info.role == 'core' else None, **genes)
