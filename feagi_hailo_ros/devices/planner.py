"""Split a brain into device partitions and a CPU partition, and say why for every mapping.

A device partition is a set of target areas: the device integrates the spikes reaching them
through device-runnable mappings; mappings into them that must stay on the CPU are computed by
the host next to it (`residual`). `auto` picks every non-output area whose incoming mappings
all run on the device (motor and other output areas are latency-critical: CPU). Explicit
lists name the areas; `size:N` picks the eligible areas of at least N neurons. A device graph
keeps to the HEF's stream limit (stacking.MAX_STREAMS inputs and outputs): an area that would
pass it stays on the CPU, with the reason in the notes.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

from feagi_hailo_ros.devices.operators import analyse, DENSE_LIMIT, Operator
from feagi_hailo_ros.devices.stacking import stack
import numpy as np

WEIGHT_BUDGET = 20_000_000      # device weights per HEF (about one Hailo-8 context)


@dataclass
class DevicePartition:
    """The target areas one device integrates, with its operators and host-side residue."""

    name: str
    targets: List[int]
    operators: List[Operator]
    residual: List[Operator] = field(default_factory=list)

    @property
    def device_weights(self) -> int:
        """Number of weights the device graph holds."""
        return sum(op.device_weights for op in self.operators)

    def ranges(self, connectome) -> List[tuple]:
        """Neuron ranges [lo, hi) of the targets, one per area, ascending."""
        return [(int(connectome.area_start[t]), int(connectome.area_start[t + 1]))
                for t in sorted(self.targets)]


@dataclass
class Plan:
    """Device partitions, the areas left on the CPU and the per-mapping decisions."""

    partitions: List[DevicePartition]
    cpu_targets: List[int]
    operators: List[Operator]
    notes: List[str] = field(default_factory=list)

    def report(self, connectome) -> List[str]:
        """Readable lines: where each mapping runs and why."""
        where = {}
        for part in self.partitions:
            for t in part.targets:
                where[t] = part.name
        lines = []
        for op in self.operators:
            part = where.get(op.dst, 'cpu')
            runs = part if (op.on_device and part != 'cpu') else 'cpu'
            why = op.reason
            if op.on_device and part == 'cpu':
                why = f'{op.form} possible, but target area {op.dst_id!r} is on the CPU'
            elif not op.on_device and part != 'cpu':
                why = f'host next to {part}: {op.reason}'
            lines.append(f'{op.src_id} -> {op.dst_id}: {runs} ({why}); {op.synapses} synapses')
        lines.extend(self.notes)
        return lines

    def summary(self, connectome) -> dict:
        """JSON-friendly view of the plan."""
        return {
            'partitions': [{'name': p.name,
                            'targets': [connectome.areas[t].id for t in p.targets],
                            'device_weights': p.device_weights,
                            'operators': [op.summary() for op in p.operators],
                            'host_residual': [op.summary() for op in p.residual]}
                           for p in self.partitions],
            'cpu_targets': [connectome.areas[t].id for t in self.cpu_targets],
            'notes': list(self.notes),
        }


def _eligible(connectome, incoming) -> List[int]:
    out = []
    for b, ops in incoming.items():
        if ops and all(op.on_device for op in ops) and connectome.areas[b].role != 'output':
            out.append(b)
    return sorted(out)


def _within_streams(connectome, group: List[int], incoming, cost, notes: List[str]) -> List[int]:
    """The targets of a group whose stacked tensors fit one HEF's streams, largest first.

    An area that would take the graph past MAX_STREAMS inputs or outputs stays on the CPU.
    """
    kept: List[int] = []
    for b in sorted(group, key=lambda t: (-cost[t], t)):
        ops = [op for t in kept + [b] for op in incoming[t] if op.on_device]
        problem = stack(connectome.areas, ops).over_limit()
        if problem:
            notes.append(f'area {connectome.areas[b].id!r}: with it the device graph would '
                         f'have {problem}: kept on the CPU')
            continue
        kept.append(b)
    return kept


def plan_partitions(connectome, spec: Union[str, Sequence[str], None] = 'auto',
                    devices: int = 1, weight_budget: int = WEIGHT_BUDGET,
                    dense_limit: int = DENSE_LIMIT,
                    operators: Optional[List[Operator]] = None,
                    prefix: str = 'device') -> Plan:
    """Plan device partitions for `devices` accelerators from `spec` (see module doc)."""
    ops = operators if operators is not None else analyse(connectome, dense_limit)
    incoming = {b: [] for b in range(len(connectome.areas))}
    for op in ops:
        incoming[op.dst].append(op)
    notes: List[str] = []
    if spec in (None, '', 'none', 'cpu'):
        chosen: List[int] = []
    elif isinstance(spec, str) and spec == 'auto':
        chosen = _eligible(connectome, incoming)
    elif isinstance(spec, str) and spec.startswith('size:'):
        try:
            minimum = int(spec[5:])
        except ValueError:
            raise ValueError(f'partition {spec!r}: expected size:<neurons>, e.g. size:10000') \
                from None
        chosen = [b for b in _eligible(connectome, incoming)
                  if connectome.areas[b].neurons >= minimum]
    else:
        names = spec.split(',') if isinstance(spec, str) else list(spec)
        chosen = []
        for name in (n.strip() for n in names if n.strip()):
            try:
                chosen.append(connectome.area_index(name))
            except KeyError as exc:
                raise ValueError(f'partition: {exc.args[0]}') from None
        chosen = sorted(set(chosen))
        for b in chosen:
            if not any(op.on_device for op in incoming[b]):
                notes.append(f'area {connectome.areas[b].id!r}: no incoming mapping can run '
                             'on the device; its integration stays on the host')
    # weight budget and balancing: largest targets first, onto the least loaded device
    cost = {b: sum(op.device_weights for op in incoming[b] if op.on_device) for b in chosen}
    loads = [0] * max(1, devices)
    groups: List[List[int]] = [[] for _ in loads]
    cpu_extra = []
    for b in sorted(chosen, key=lambda t: (-cost[t], t)):
        d = int(np.argmin(loads))
        if loads[d] + cost[b] > weight_budget:
            cpu_extra.append(b)
            notes.append(f'area {connectome.areas[b].id!r}: {cost[b]} device weights exceed '
                         f'the budget of {weight_budget} per device: kept on the CPU')
            continue
        loads[d] += cost[b]
        groups[d].append(b)
    partitions = []
    for d, group in enumerate(groups):
        group = _within_streams(connectome, group, incoming, cost, notes)
        cpu_extra.extend(b for b in groups[d] if b not in group)
        if not group:
            continue
        targets = sorted(group)
        dev_ops = [op for t in targets for op in incoming[t] if op.on_device]
        residual = [op for t in targets for op in incoming[t] if not op.on_device]
        partitions.append(DevicePartition(f'{prefix}{d}', targets, dev_ops, residual))
    on_device = {t for p in partitions for t in p.targets}
    cpu_targets = [b for b in range(len(connectome.areas)) if b not in on_device]
    return Plan(partitions, cpu_targets, ops, notes)
