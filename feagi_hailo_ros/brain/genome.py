"""FEAGI genome JSON -> Genome: areas with their neuron genes, mapping rules, morphologies.

Genes are read as FEAGI 2.6 reads them: each under exactly one type suffix, with FEAGI's
default when it is missing; a gene written under another suffix is ignored with a warning
naming the key (DESIGN §4-§5).
"""

from dataclasses import dataclass, field
import hashlib
import json
import math
import os
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from feagi_hailo_ros.brain.errors import GenomeError
from feagi_hailo_ros.brain.ids import core_kind, parse_area_id
from feagi_hailo_ros.brain.layout import find_area

GENE_PREFIX = '_____10c-'

# gene -> (FEAGI 2.6's type suffix, AreaSpec field, default); None default = required.
NEURON_GENES = {
    'fire_t': ('f', 'fire_threshold', 1.0),
    'fthlim': ('f', 'threshold_limit', 0.0),
    'ftincx': ('f', None, 0.0),
    'ftincy': ('f', None, 0.0),
    'ftincz': ('f', None, 0.0),
    'refrac': ('i', 'refractory_period', 0),
    'leak_c': ('f', 'leak_coefficient', 0.0),
    'c_fr_c': ('i', 'consecutive_fire_limit', 0),
    'snooze': ('f', 'snooze_period', 0.0),
    'pstcr_': ('f', 'psp', 1.0),
    'pspuni': ('b', 'psp_uniform', False),
    'mp_acc': ('b', 'mp_charge_accumulation', False),
    'mp_psp': ('b', 'mp_driven_psp', False),
    'excite': ('f', 'excitability', 1.0),
}
AREA_GENES = {
    '___bbx': ('i', None, None), '___bby': ('i', None, None), '___bbz': ('i', None, None),
    'rcordx': ('i', None, 0), 'rcordy': ('i', None, 0), 'rcordz': ('i', None, 0),
    '_n_cnt': ('i', 'neurons_per_voxel', 1),
    '__name': ('t', 'name', None),
    '_group': ('t', 'group', ''),
    'dstmap': ('d', None, None),
    'memory': ('b', None, False),
}
KNOWN_GENES = {**NEURON_GENES, **AREA_GENES}
MORPHOLOGY_TYPES = ('vectors', 'patterns', 'functions', 'composite')
RULE_KEYS = ('morphology_id', 'morphology_scalar', 'postSynapticCurrent_multiplier',
             'plasticity_flag', 'plasticity_constant', 'ltp_multiplier', 'ltd_multiplier',
             'plasticity_window')


@dataclass(frozen=True)
class MappingRule:
    """One rule of an area's `dstmap`: a morphology from this area to `dst`."""

    dst: str
    morphology_id: str
    morphology_scalar: Tuple[float, float, float] = (1, 1, 1)
    psc_multiplier: float = 1.0
    plasticity_flag: bool = False
    plasticity_constant: float = 1.0
    ltp_multiplier: float = 1.0
    ltd_multiplier: float = 1.0
    plasticity_window: int = 0
    synaptic_delay: int = 1

    @property
    def weight(self) -> int:
        """Signed synaptic weight: sign of the multiplier times min(255, trunc(|multiplier|))."""
        magnitude = min(255, int(math.trunc(abs(self.psc_multiplier))))
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
    def psp_u8(self) -> int:
        """The psp as FEAGI stores it: trunc(clamp(pstcr_, 0, 255))."""
        return int(math.trunc(min(255.0, max(0.0, float(self.psp)))))

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


def content_hash(raw: Dict[str, Any]) -> str:
    """SHA-256 of the genome's canonical JSON (key order and whitespace do not matter)."""
    text = json.dumps(raw, sort_keys=True, separators=(',', ':'), ensure_ascii=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def load_genome(path_or_dict: Union[str, os.PathLike, Dict[str, Any]],
                source: Optional[str] = None) -> Genome:
    """Load a FEAGI genome from a file or a parsed dict; GenomeError when it cannot be read."""
    if isinstance(path_or_dict, dict):
        raw = path_or_dict
        src = source or str(raw.get('genome_title') or raw.get('genome_id') or '<dict>')
    else:
        src = source or os.fspath(path_or_dict)
        try:
            with open(path_or_dict, 'r', encoding='utf-8-sig') as handle:
                raw = json.load(handle)
        except OSError as exc:
            raise GenomeError(f'cannot read the file ({exc.strerror or exc})', src) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GenomeError(f'malformed JSON ({exc})', src) from None
    return _GenomeReader(raw, src).read()


class _GenomeReader:
    """Reads one genome dict; collects warnings; raises GenomeError on the first fault."""

    def __init__(self, raw: Any, source: str):
        self.raw = raw
        self.source = source
        self.warnings: List[str] = []

    def fail(self, reason: str, area: Optional[str] = None, gene: Optional[str] = None):
        raise GenomeError(reason, self.source, area, gene)

    def warn(self, text: str) -> None:
        self.warnings.append(f'genome {self.source}: {text}')

    def read(self) -> Genome:
        if not isinstance(self.raw, dict):
            self.fail('malformed genome: the top level is not a JSON object')
        blueprint = self.raw.get('blueprint')
        if not isinstance(blueprint, dict):
            self.fail("malformed genome: no 'blueprint' object of genes")
        morphologies = self.read_morphologies(self.raw.get('neuron_morphologies', {}))
        genes = self.group_genes(blueprint)
        areas = [self.read_area(area_id, area_genes) for area_id, area_genes in genes.items()]
        areas.sort(key=lambda a: a.id)
        self.check_mappings(areas, morphologies)
        physiology = self.raw.get('physiology')
        return Genome(areas=areas, morphologies=morphologies, warnings=self.warnings,
                      source=self.source, content_hash=content_hash(self.raw),
                      title=str(self.raw.get('genome_title') or self.raw.get('genome_id') or ''),
                      physiology=physiology if isinstance(physiology, dict) else {})

    def read_morphologies(self, table: Any) -> Dict[str, Morphology]:
        if not isinstance(table, dict):
            self.fail("malformed genome: 'neuron_morphologies' is not an object")
        out = {}
        for name, body in table.items():
            if not isinstance(body, dict):
                self.fail(f'morphology {name!r} is not an object')
            params = body.get('parameters') or {}
            out[name] = Morphology(name, str(body.get('type', '')),
                                   params if isinstance(params, dict) else {})
        return out

    def group_genes(self, blueprint: Dict[str, Any]) -> Dict[str, Dict[str, Tuple[str, Any]]]:
        """Map area id -> gene -> (key, value) for the genes read under their FEAGI suffix."""
        areas: Dict[str, Dict[str, Dict[str, Tuple[str, Any]]]] = {}
        for key, value in blueprint.items():
            if not key.startswith(GENE_PREFIX):
                self.warn(f'key {key!r} is not a cortical gene (ignored)')
                continue
            parts = key[len(GENE_PREFIX):].rsplit('-', 3)
            if len(parts) != 4 or not parts[0]:
                self.warn(f'key {key!r} is not of the form {GENE_PREFIX}<area>-cx-<gene>-<type>'
                          ' (ignored)')
                continue
            area_id, _, gene, suffix = parts
            genes = areas.setdefault(area_id, {})
            known = KNOWN_GENES.get(gene)
            if known is not None and suffix != known[0]:
                self.warn(f'gene key {key!r} ignored: FEAGI 2.6 reads {gene!r} only as '
                          f"'{gene}-{known[0]}'")
                continue
            genes.setdefault(gene, {})[suffix] = (key, value)
        return {a: {g: next(iter(s.values())) for g, s in gs.items()} for a, gs in areas.items()}

    def value(self, area_id: str, genes: Dict[str, Tuple[str, Any]], gene: str) -> Any:
        suffix, _, default = KNOWN_GENES[gene]
        if gene not in genes:
            if default is None and gene not in ('__name', 'dstmap'):
                self.fail(f'required gene missing (write {GENE_PREFIX}{area_id}-cx-{gene}-'
                          f'{suffix})', area_id, gene)
            return default
        key, value = genes[gene]
        try:
            return _convert(value, suffix)
        except (TypeError, ValueError):
            self.fail(f'value {value!r} of {key!r} is not of type {_TYPE_NAMES[suffix]}',
                      area_id, gene)

    def read_area(self, area_id: str, genes: Dict[str, Tuple[str, Any]]) -> AreaSpec:
        get = lambda gene: self.value(area_id, genes, gene)  # noqa: E731
        dims = (get('___bbx'), get('___bby'), get('___bbz'))
        for axis, size in zip('xyz', dims):
            if size <= 0:
                self.fail(f'dimension {axis} is {size}: dimensions must be positive',
                          area_id, f'___bb{axis}')
        n_per_voxel = get('_n_cnt')
        if n_per_voxel <= 0:
            self.fail(f'neurons per voxel is {n_per_voxel}: it must be at least 1',
                      area_id, '_n_cnt')
        group = get('_group') or ''
        info = parse_area_id(area_id, group, bool(get('memory')))
        leak = get('leak_c')
        if leak > 1:
            self.warn(f'area {area_id!r}: leak_c {leak} > 1 clamped to 1')
            leak = 1.0
        fields = {spec[1]: get(gene) for gene, spec in NEURON_GENES.items() if spec[1]}
        fields['leak_coefficient'] = float(leak)
        rules = self.read_dstmap(area_id, genes)
        name = get('__name')
        return AreaSpec(
            id=area_id, name=str(name) if name is not None else area_id, role=info.role,
            unit=info.unit, index_in_unit=info.index_in_unit, dims=dims,
            position=(get('rcordx'), get('rcordy'), get('rcordz')),
            neurons_per_voxel=n_per_voxel, group=str(group),
            threshold_increment=(get('ftincx'), get('ftincy'), get('ftincz')),
            mappings=tuple(rules), core_kind=info.core_kind if info.role == 'core' else None,
            **fields)

    def read_dstmap(self, area_id: str, genes: Dict[str, Tuple[str, Any]]) -> List[MappingRule]:
        if 'dstmap' not in genes:
            return []
        key, dstmap = genes['dstmap']
        if isinstance(dstmap, str):
            try:
                dstmap = json.loads(dstmap) if dstmap.strip() else {}
            except json.JSONDecodeError as exc:
                self.fail(f'{key!r} is not valid JSON ({exc})', area_id, 'dstmap')
        if dstmap is None:
            return []
        if not isinstance(dstmap, dict):
            self.fail(f'{key!r} is not an object of destination -> rules', area_id, 'dstmap')
        rules = []
        for dst, dst_rules in dstmap.items():
            if not isinstance(dst_rules, list):
                self.fail(f'rules to {dst!r} are not a list', area_id, 'dstmap')
            for rule in dst_rules:
                rules.append(self.read_rule(area_id, str(dst), rule))
        return rules

    def read_rule(self, area_id: str, dst: str, rule: Any) -> MappingRule:
        where = f'rule to {dst!r}'
        if isinstance(rule, list):
            if not 4 <= len(rule) <= 8:
                self.fail(f'{where}: a rule array has 4 to 8 elements, not {len(rule)}: {rule!r}',
                          area_id, 'dstmap')
            values = dict(zip(RULE_KEYS, rule))
            delay = 1
        elif isinstance(rule, dict):
            if 'morphology_id' not in rule:
                self.fail(f'{where}: rule object without morphology_id: {rule!r}',
                          area_id, 'dstmap')
            values = {k: rule[k] for k in RULE_KEYS if k in rule}
            delay = rule.get('synaptic_delay_bursts', 1)
        else:
            self.fail(f'{where}: a rule is an array or an object, not {rule!r}',
                      area_id, 'dstmap')
        try:
            delay = int(delay)
            scalar = values.get('morphology_scalar', (1, 1, 1))
            if not isinstance(scalar, (list, tuple)) or len(scalar) != 3:
                raise ValueError('morphology_scalar is not [x, y, z]')
            multiplier = float(values.get('postSynapticCurrent_multiplier', 1.0))
            if not math.isfinite(multiplier):
                raise ValueError('postSynapticCurrent_multiplier is not finite')
            parsed = MappingRule(
                dst=dst, morphology_id=str(values['morphology_id']),
                morphology_scalar=tuple(float(s) for s in scalar),
                psc_multiplier=multiplier,
                plasticity_flag=bool(values.get('plasticity_flag', False)),
                plasticity_constant=float(values.get('plasticity_constant', 1.0)),
                ltp_multiplier=float(values.get('ltp_multiplier', 1.0)),
                ltd_multiplier=float(values.get('ltd_multiplier', 1.0)),
                plasticity_window=int(values.get('plasticity_window', 0) or 0),
                synaptic_delay=delay)
        except (TypeError, ValueError) as exc:
            self.fail(f'{where}: malformed rule {rule!r} ({exc})', area_id, 'dstmap')
        if delay != 1:
            self.fail(f'{where} ({parsed.morphology_id}): synaptic_delay_bursts = {delay} is not '
                      "supported; only a delay of 1 burst (FEAGI's default) is. Set it to 1.",
                      area_id, 'dstmap')
        if parsed.plasticity_flag:
            self.warn(f'area {area_id!r}: {where} ({parsed.morphology_id}) is plastic; '
                      'plasticity is not simulated (fixed weights)')
        return parsed

    def check_mappings(self, areas: List[AreaSpec], morphologies: Dict[str, Morphology]):
        ids = {a.id for a in areas}
        missing_core = {}
        for area in areas:
            for rule in area.mappings:
                if rule.dst not in ids:
                    kind = core_kind(parse_area_id(rule.dst).text) \
                        if parse_area_id(rule.dst).role == 'core' else None
                    if kind is None:
                        self.fail(f'mapping to unknown area {rule.dst!r} (no such area in the '
                                  'blueprint)', area.id, 'dstmap')
                    missing_core[rule.dst] = kind
                morphology = morphologies.get(rule.morphology_id)
                if morphology is None:
                    self.fail(f'mapping to {rule.dst!r} uses morphology {rule.morphology_id!r}, '
                              "which is not in 'neuron_morphologies'", area.id, 'dstmap')
                if morphology.type not in MORPHOLOGY_TYPES:
                    self.fail(f'mapping to {rule.dst!r}: morphology {rule.morphology_id!r} has '
                              f'unknown type {morphology.type!r} (known: '
                              f'{", ".join(MORPHOLOGY_TYPES)})', area.id, 'dstmap')
        for area_id, kind in missing_core.items():
            # FEAGI adds its one-neuron core areas itself; create one that a mapping reaches.
            self.warn(f"area {area_id!r} ({kind}) is not in the blueprint: added as FEAGI's "
                      'one-neuron core area with default genes')
            areas.append(AreaSpec(id=area_id, name=kind, role='core', unit=None,
                                  index_in_unit=0, dims=(1, 1, 1), group='CORE',
                                  core_kind=kind))
        areas.sort(key=lambda a: a.id)


_TYPE_NAMES = {'i': 'integer', 'f': 'number', 'b': 'boolean', 't': 'text', 'd': 'object'}


def _convert(value: Any, suffix: str) -> Any:
    """Convert a gene value to its suffix's type, refusing what FEAGI could not read."""
    if suffix == 'i':
        if isinstance(value, bool):
            raise TypeError('boolean')
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError('not an integer')
        return int(number)
    if suffix == 'f':
        if isinstance(value, bool):
            raise TypeError('boolean')
        number = float(value)
        if not math.isfinite(number):
            raise ValueError('not finite')
        return float(struct.unpack('f', struct.pack('f', number))[0])  # FEAGI holds f32
    if suffix == 'b':
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ('true', 'false'):
            return value.strip().lower() == 'true'
        raise ValueError('not a boolean')
    if suffix == 't':
        return '' if value is None else str(value)
    return value


def make_area(area_id: str, dims: Tuple[int, int, int], name: Optional[str] = None,
              mappings: Sequence = (), **genes: Any) -> AreaSpec:
    """Build an AreaSpec by hand (tests, other layers): role and unit from the id, genes as kw."""
    info = parse_area_id(area_id, genes.pop('group', None))
    return AreaSpec(id=area_id, name=name or area_id, role=info.role, unit=info.unit,
                    index_in_unit=info.index_in_unit, dims=tuple(int(d) for d in dims),
                    mappings=tuple(mappings),
                    core_kind=info.core_kind if info.role == 'core' else None, **genes)
