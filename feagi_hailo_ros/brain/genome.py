"""FEAGI genome JSON -> Genome: areas with their neuron genes, mapping rules, morphologies.

Genes are read as FEAGI 2.6 reads them: each under exactly one type suffix, with FEAGI's
default when it is missing; a gene written under another suffix is ignored with a warning
naming the key (NEURON_MODEL §4-§5).
"""

from dataclasses import replace
import hashlib
import json
import math
import os
import struct
from typing import Any, Dict, List, Optional, Tuple, Union

from feagi_hailo_ros.brain.errors import GenomeError
from feagi_hailo_ros.brain.genome_types import (  # noqa: F401 - the genome's types, here too
    AreaSpec, builtin_morphologies, Genome, make_area, MappingRule, Morphology,
    MORPHOLOGY_TYPES)
from feagi_hailo_ros.brain.ids import core_kind, decode_v2, parse_area_id
from feagi_hailo_ros.brain.plasticity import read_plasticity

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
COUNTER_MAX = 65535   # refractory + snooze and the consecutive-fire limit: uint16 counters
RULE_KEYS = ('morphology_id', 'morphology_scalar', 'postSynapticCurrent_multiplier',
             'plasticity_flag', 'plasticity_constant', 'ltp_multiplier', 'ltd_multiplier',
             'plasticity_window')


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
        morphologies.update(builtin_morphologies())
        genes = self.group_genes(blueprint)
        renamed, skipped = self.check_ids(list(genes))
        areas = [self.read_area(renamed.get(area_id, area_id), area_genes)
                 for area_id, area_genes in genes.items() if area_id not in skipped]
        areas = [self.retarget(area, renamed, skipped) for area in areas]
        if not areas:
            self.fail(f"the blueprint holds no cortical area (no '{GENE_PREFIX}<area>-cx-<gene>-"
                      "<type>' genes): a brain needs at least one")
        areas.sort(key=lambda a: a.id)
        self.check_mappings(areas, morphologies)
        physiology = self.raw.get('physiology')
        return Genome(areas=areas, morphologies=morphologies, warnings=self.warnings,
                      source=self.source, content_hash=content_hash(self.raw),
                      title=str(self.raw.get('genome_title') or self.raw.get('genome_id') or ''),
                      physiology=physiology if isinstance(physiology, dict) else {})

    def check_ids(self, area_ids: List[str]) -> Tuple[Dict[str, str], set]:
        """Which ids load as FEAGI 2.6 loads them: ({old: new} renamed, {skipped}).

        A 12-character base64 id, or an id of 6 or 8 UTF-8 bytes, loads; any other is skipped
        (warning; mappings to it are dropped). A 6- or 8-byte id starting with `_` that is not
        a core area refuses the genome. A 6-byte custom id gets `c` as its first byte
        (`xabcde` -> `cabcde`); two areas that become one id refuse the genome.
        """
        renamed: Dict[str, str] = {}
        skipped = set()
        for area_id in area_ids:
            if decode_v2(area_id) is not None:
                continue
            size = len(area_id.encode('utf-8'))
            if size not in (6, 8):
                self.warn(f'area {area_id!r}: a {size}-byte id is neither 6 nor 8 bytes nor a '
                          '2.x base64 id: FEAGI 2.6 skips the area and the mappings to it')
                skipped.add(area_id)
            elif area_id.startswith('_'):
                if core_kind(area_id) is None:
                    self.fail(f'area id {area_id!r} starts with "_" but is no core area (FEAGI '
                              '2.6 refuses the genome: not a core cortical type)', area_id)
            elif size == 6 and parse_area_id(area_id).role not in ('input', 'output') and \
                    not area_id.startswith('c'):
                renamed[area_id] = 'c' + area_id.encode('utf-8')[1:].decode('utf-8', 'replace')
        final = [renamed.get(a, a) for a in area_ids if a not in skipped]
        for old, new in renamed.items():
            if final.count(new) > 1:
                self.fail(f'area {old!r} becomes {new!r} (FEAGI 2.6 gives a 6-byte custom id the '
                          f'first byte c), which another area already has', old)
            self.warn(f'area {old!r} is read as {new!r} (FEAGI 2.6 gives a 6-byte custom id '
                      'the first byte c)')
        return renamed, skipped

    def retarget(self, area: AreaSpec, renamed: Dict[str, str], skipped: set) -> AreaSpec:
        """The area with its rules pointed at renamed ids and the rules to skipped ids gone."""
        if not renamed and not skipped:
            return area
        rules = [replace(r, dst=renamed.get(r.dst, r.dst)) for r in area.mappings
                 if r.dst not in skipped]
        dropped = sorted({r.dst for r in area.mappings if r.dst in skipped})
        if dropped:
            self.warn(f'area {area.id!r}: mappings to {", ".join(map(repr, dropped))} dropped '
                      '(the area is skipped)')
        return replace(area, mappings=tuple(rules))

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
        except (TypeError, ValueError, OverflowError) as exc:
            self.fail(f'value {_shown(value)} of {key!r} is not of type {_TYPE_NAMES[suffix]}'
                      f' ({exc})', area_id, gene)

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
        for gene in ('refrac', 'c_fr_c', 'snooze'):
            count = fields[NEURON_GENES[gene][1]]
            if not 0 <= math.trunc(count) <= COUNTER_MAX:
                self.fail(f'{gene} is {count}: it must lie in 0..{COUNTER_MAX} bursts', area_id,
                          gene)
        if fields['refractory_period'] + math.trunc(fields['snooze_period']) > COUNTER_MAX:
            self.fail(f"refrac {fields['refractory_period']} + snooze "
                      f"{fields['snooze_period']} is more than {COUNTER_MAX} bursts", area_id,
                      'snooze')
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
            if len(rule) < 4:
                self.fail(f'{where}: a rule array has 4 to 8 elements, not {len(rule)}: '
                          f'{_shown(rule)}', area_id, 'dstmap')
            if len(rule) > len(RULE_KEYS):
                self.warn(f'area {area_id!r}: {where}: elements past the 8th of '
                          f'{_shown(rule)} are ignored (as FEAGI 2.6)')
            values = dict(zip(RULE_KEYS, rule))
            delay = 1
        elif isinstance(rule, dict):
            if 'morphology_id' not in rule:
                self.fail(f'{where}: rule object without morphology_id: {_shown(rule)}',
                          area_id, 'dstmap')
            values = dict(rule)
            delay = rule.get('synaptic_delay_bursts', 1)
        else:
            self.fail(f'{where}: a rule is an array or an object, not {_shown(rule)}',
                      area_id, 'dstmap')
        try:
            delay = int(delay)
            scalar = values.get('morphology_scalar', (1, 1, 1))
            if not isinstance(scalar, (list, tuple)) or len(scalar) != 3:
                raise ValueError('morphology_scalar is not [x, y, z]')
            multiplier = float(values.get('postSynapticCurrent_multiplier', 1.0))
            if not math.isfinite(multiplier):
                raise ValueError('postSynapticCurrent_multiplier is not finite')
            plasticity = read_plasticity(values, isinstance(rule, dict))
            parsed = MappingRule(
                dst=dst, morphology_id=str(values['morphology_id']),
                morphology_scalar=tuple(float(s) for s in scalar),
                psc_multiplier=multiplier,
                plasticity_flag=values.get('plasticity_flag') is True,
                plasticity=plasticity, synaptic_delay=delay)
        except (TypeError, ValueError, OverflowError) as exc:
            self.fail(f'{where}: malformed rule {_shown(rule)} ({exc})', area_id, 'dstmap')
        if delay != 1:
            self.fail(f'{where} ({parsed.morphology_id}): synaptic_delay_bursts = {delay} is not '
                      "supported; only a delay of 1 burst (FEAGI's default) is. Set it to 1.",
                      area_id, 'dstmap')
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
                if morphology is None or morphology.type == '':
                    continue   # missing or typeless: the builder says what FEAGI builds
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
_INT_LIMIT = 2 ** 63
_SHOWN_CHARS = 80


def _shown(value: Any) -> str:
    """The repr of a value for an error message, cut to one short line."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + '...'


def _convert(value: Any, suffix: str) -> Any:
    """Convert a gene value to its suffix's type, refusing what FEAGI could not read."""
    if suffix == 'i':
        if isinstance(value, bool):
            raise TypeError('boolean')
        if isinstance(value, int):
            number = value
        else:
            number = float(value)
            if not math.isfinite(number) or number != int(number):
                raise ValueError('not an integer')
            number = int(number)
        if not -_INT_LIMIT <= number < _INT_LIMIT:
            raise ValueError('outside the 64-bit integer range')
        return number
    if suffix == 'f':
        if isinstance(value, bool):
            raise TypeError('boolean')
        number = float(value)
        if not math.isfinite(number):
            raise ValueError('not finite')
        number = float(struct.unpack('f', struct.pack('f', number))[0])  # FEAGI holds f32
        if not math.isfinite(number):
            raise ValueError('outside the 32-bit float range')
        return number
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
