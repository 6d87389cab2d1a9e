"""Stack a partition's grids on channels: the few tensors its graph reads and writes.

A HEF should have a few streams, never one per area (HAILORT.md: 16 vDMA channels per direction,
shared with the compiler's buffers), so at most `MAX_STREAMS` inputs and outputs:
- inputs, keyed by grid size (X, Y) and exactness: each source's values (and spikes, for the
  targets that need reach) are channels of the input of the grid its mappings read: the
  target's size for a stride-1 conv (the host pads a smaller source with zeros), the source's
  own size for a strided conv or a dense block. Integer values and spikes share an input
  (uint8, scale 1); fractional values share another (scale: the largest value / 255).
- outputs, keyed by target grid size and exactness: each target's current, then its synapse
  counts (reach) when it needs them, as channels of one output that its convs add into; a
  dense block writes a flat output (Flatten -> MatMul), one per input it reads, whose columns
  are its targets' voxels in the host order. A target's current is the sum of its parts.
Reach without Clip: the counts are raw (times the output's scale, so that one synapse is at
least one quantisation step); the engine takes reach > 0.5. Channels are ordered so that a
conv whose sources and targets pair off is a grouped conv (graph.py finds the groups).
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.operators import Operator
import numpy as np

MAX_STREAMS = 8             # inputs and outputs per graph (HEF streams)
EXACT_LIMIT = 32767         # largest |current| an exact 16-bit output holds at scale 1


@dataclass
class Member:
    """One area's block of a tensor: channels [offset, offset + Z) or columns of a flat one."""

    area_index: int
    kind: str                           # value | spike (inputs); current | count (outputs)
    offset: int
    dims: Tuple[int, int, int]          # the area's (X, Y, Z)
    sources: Tuple[int, ...] = ()       # outputs: source areas whose mappings this part sums

    @property
    def size(self) -> int:
        """Voxels of the area."""
        return int(np.prod(self.dims))


@dataclass
class Tensor:
    """A graph input or output: host shape (X, Y, C) (NHWC) or (N,) for a dense output."""

    name: str
    shape: Tuple[int, ...]
    members: List[Member] = field(default_factory=list)
    exact: bool = True
    bits: int = 8
    scale: float = 1.0
    bound: float = 0.0                  # inputs: the largest value; outputs: largest |current|
    count_bound: float = 0.0            # outputs: largest count channel value (x scale)
    error_bound: float = 0.0

    @property
    def flat(self) -> bool:
        """True for a dense block's (1, N) output."""
        return len(self.shape) == 1

    def find(self, area_index: int, kind: str) -> Optional[Member]:
        """The member of an area and kind, or None."""
        for m in self.members:
            if m.area_index == area_index and m.kind == kind:
                return m
        return None


@dataclass
class Stacking:
    """The tensors of a partition graph and which operator reads and writes which."""

    inputs: List[Tensor]
    outputs: List[Tensor]
    convs: List[Tuple[str, str, Tuple[int, int], List[Operator]]]   # (input, output, stride)
    denses: List[Tuple[str, str, List[Operator]]]                    # (input, flat output)
    reach: Dict[int, bool]              # target -> has count channels
    exact_targets: Dict[int, bool]

    def tensor(self, name: str) -> Tensor:
        """The input or output of that name."""
        for t in self.inputs + self.outputs:
            if t.name == name:
                return t
        raise KeyError(name)

    def over_limit(self) -> str:
        """Why the graph has too many streams for a HEF, or ''."""
        if len(self.inputs) > MAX_STREAMS or len(self.outputs) > MAX_STREAMS:
            return (f'{len(self.inputs)} inputs and {len(self.outputs)} outputs (grids of '
                    f'different sizes), more than {MAX_STREAMS} streams per direction')
        return ''


def _sign_definite(ops: List[Operator]) -> bool:
    """True when every synapse into the target adds a nonzero value of one sign."""
    signs = set()
    for op in ops:
        if not op.source['integral'] or op.source['min'] < 1:
            return False
        w, r = (op.kernel, op.reach_kernel) if op.form == 'conv' else (op.matrix,
                                                                       op.reach_matrix)
        if np.any((w != 0) != (r != 0)):
            return False
        signs.update(np.unique(np.sign(w[w != 0])).tolist())
    return len(signs) == 1


def output_bits(bound: float, integral: bool) -> Tuple[int, float, bool]:
    """(bits, scale, exact) of an output holding |values| <= bound."""
    if integral and bound <= 127:
        return 8, 1.0, True
    if integral and bound <= EXACT_LIMIT:
        return 16, 1.0, True
    scale = 2.0 ** int(np.ceil(np.log2(max(bound, 1e-30) / EXACT_LIMIT)))
    return 16, float(scale), False


def _canvas(op: Operator, areas) -> Tuple[int, int]:
    """The grid (X, Y) of the input an operator reads."""
    if op.form == 'conv' and op.stride == (1, 1):
        return tuple(int(d) for d in areas[op.dst].dims[:2])
    return tuple(int(d) for d in areas[op.src].dims[:2])


def _grid_name(stem: str, xy: Tuple[int, int], exact: bool) -> str:
    return f'{stem}_{xy[0]}x{xy[1]}' + ('' if exact else '_frac')


def stack(areas, operators: List[Operator]) -> Stacking:
    """Lay out a partition's device operators as stacked tensors (see the module doc)."""
    ops = [op for op in operators if op.on_device]
    targets = sorted({op.dst for op in ops})
    by_target = {t: [op for op in ops if op.dst == t] for t in targets}
    exact_t, reach = {}, {}
    for t in targets:
        bound = float(np.max(sum(op.dst_bound for op in by_target[t]), initial=0.0))
        exact_t[t] = all(op.source['integral'] for op in by_target[t]) and bound <= EXACT_LIMIT
        reach[t] = not (exact_t[t] and _sign_definite(by_target[t]))
    order = {t: k for k, t in enumerate(targets)}
    # inputs: (canvas, exact) -> [(first target, area, kind)]
    slots: Dict[tuple, Dict[tuple, int]] = {}
    where: Dict[tuple, tuple] = {}          # (op index, kind) -> input key
    for k, op in enumerate(ops):
        xy = _canvas(op, areas)
        keys = [((xy, bool(op.source['integral'])), 'value')]
        if reach[op.dst]:
            keys.append(((xy, True), 'spike'))
        for key, kind in keys:
            entry = slots.setdefault(key, {})
            first = entry.get((op.src, kind), len(targets))
            entry[(op.src, kind)] = min(first, order[op.dst])
            where[(k, kind)] = key
    inputs, in_name = [], {}
    for key in sorted(slots, key=lambda q: (q[0], not q[1])):
        xy, exact = key
        tensor = Tensor(_grid_name('in', xy, exact), (), exact=exact)
        offset = 0
        for (a, kind), _ in sorted(slots[key].items(),
                                   key=lambda e: (e[1], e[0][0], e[0][1] == 'spike')):
            dims = tuple(int(d) for d in areas[a].dims)
            tensor.members.append(Member(a, kind, offset, dims))
            offset += dims[2]
            peak = 1.0 if kind == 'spike' else max(
                op.source['max'] for op in ops if op.src == a)
            tensor.bound = max(tensor.bound, peak)
        tensor.shape = (xy[0], xy[1], offset)
        tensor.scale = 1.0 if exact else (tensor.bound / 255.0 if tensor.bound > 0 else 1.0)
        inputs.append(tensor)
        in_name[key] = tensor.name
    outputs: Dict[str, Tensor] = {}
    parts: Dict[Tuple[str, int, str], List[Operator]] = {}
    convs: Dict[tuple, List[Operator]] = {}
    denses: Dict[tuple, List[Operator]] = {}
    for k, op in enumerate(ops):
        for kind, out_kind in (('value', 'current'), ('spike', 'count')):
            if (k, kind) not in where:
                continue
            source = in_name[where[(k, kind)]]
            if op.form == 'conv':
                dims = areas[op.dst].dims
                name = _grid_name('cur', (int(dims[0]), int(dims[1])), exact_t[op.dst])
                node = convs.setdefault((source, name, tuple(op.stride)), [])
            else:
                name = 'dense_' + source[3:]
                node = denses.setdefault((source, name), [])
            if not any(o is op for o in node):
                node.append(op)
            parts.setdefault((name, op.dst, out_kind), []).append(op)
    for (name, t, kind) in sorted(parts, key=lambda p: (p[0], order[p[1]], p[2])):
        tensor = outputs.setdefault(name, Tensor(name, ()))
        dims = tuple(int(d) for d in areas[t].dims)
        offset = sum(m.dims[2] if not name.startswith('dense_') else m.size
                     for m in tensor.members)
        sources = tuple(sorted({op.src for op in parts[(name, t, kind)]}))
        tensor.members.append(Member(t, kind, offset, dims, sources))
    for tensor in outputs.values():
        _quantise(tensor, parts, areas, {t.name: t for t in inputs}, where, ops)
    for t in targets:
        exact_t[t] = all(o.exact for o in outputs.values() for m in o.members
                         if m.area_index == t)
    ordered = sorted(outputs.values(), key=lambda o: (o.name.startswith('dense_'), o.name))
    return Stacking(inputs, ordered, [(i, o, s, v) for (i, o, s), v in convs.items()],
                    [(i, o, v) for (i, o), v in denses.items()], reach, exact_t)


def _quantise(tensor: Tensor, parts, areas, inputs: Dict[str, Tensor], where, ops) -> None:
    """Shape, bits, scale, bounds and error bound of an output from its members' parts."""
    index = {id(op): k for k, op in enumerate(ops)}
    bound, error, integral, counts = 0.0, 0.0, True, 0.0
    for m in tensor.members:
        part = parts[(tensor.name, m.area_index, m.kind)]
        if m.kind == 'count':
            counts = max(counts, float(np.max(sum(op.dst_count for op in part))))
            continue
        bound = max(bound, float(np.max(sum(op.dst_bound for op in part))))
        err = np.zeros(areas[m.area_index].voxels)
        for op in part:
            source = inputs[_input_of(where, index[id(op)])]
            integral = integral and source.exact
            if not source.exact:           # uint8 at the input's scale: off by half a step
                err = err + op.dst_abs_weight * (source.scale / 2.0)
        error = max(error, float(err.max(initial=0.0)))
    tensor.bits, tensor.scale, tensor.exact = output_bits(bound, integral)
    tensor.bound, tensor.count_bound = bound, counts * tensor.scale
    tensor.error_bound = 0.0 if tensor.exact else tensor.scale / 2 + error
    last = tensor.members[-1]
    if tensor.name.startswith('dense_'):
        tensor.shape = (last.offset + last.size,)
    else:
        xy = tuple(int(d) for d in areas[last.area_index].dims[:2])
        tensor.shape = (xy[0], xy[1], last.offset + last.dims[2])


def _input_of(where, k: int) -> str:
    """Name of the input holding operator k's values."""
    xy, exact = where[(k, 'value')]
    return _grid_name('in', xy, exact)
