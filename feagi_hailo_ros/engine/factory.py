"""The one place an engine is chosen and built: `make_engine(connectome, EngineConfig)`.

`cpu` is the fast engine alone (in 1 or 2 threads); `emulator` and `hailo` run the planned
device partitions on those devices (HybridEngine: the rest on the CPU, a faulty device's
partition falls back to the CPU); `auto` takes hailo when HailoRT is present, else cpu.
Tests and benchmarks pass their own `device_factory` (one device per partition).
"""

from dataclasses import dataclass
import importlib.util
import os
from typing import Callable, Dict, Optional

from feagi_hailo_ros.devices.cost_model import DEFAULT_PROFILE

DEVICE_KINDS = ('cpu', 'emulator', 'hailo', 'auto')


@dataclass(frozen=True)
class EngineConfig:
    """Where and how bursts run (the node's parameters and the CLI's options)."""

    device: str = 'cpu'                  # cpu | emulator | hailo | auto
    partition: str = 'auto'              # auto | size:N | AREA,AREA,...
    devices: int = 1                     # accelerators the device share is split over
    threads: int = 1                     # cpu: 1 or 2 partitions in threads
    emulator_latency_ms: float = 0.0     # emulator: modelled round trip, compute inside
    hef_dir: str = ''                    # hailo: folder written by `feagi-hailo export`
    device_timeout_ms: float = 1000.0    # a device burst slower than this falls back
    shared_device: bool = False          # hailo: share the chip (hailort.service)
    retry_bursts: int = 50               # bursts on the CPU before a device is reopened
    prefetch: bool = True                # start the next burst's device jobs at once
    placement: str = 'device'            # device | auto (cost model) | cpu (hybrid.placement)
    profile: str = DEFAULT_PROFILE       # device profile of the cost model (estimates)

    def __post_init__(self):
        """Refuse unknown devices and impossible counts with a readable reason."""
        if self.device not in DEVICE_KINDS:
            raise ValueError(f"device '{self.device}': expected one of "
                             f"{', '.join(DEVICE_KINDS)}")
        from feagi_hailo_ros.devices.cost_model import PLACEMENTS, profile
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement '{self.placement}': expected one of "
                             f"{', '.join(PLACEMENTS)}")
        profile(self.profile)
        if int(self.devices) < 1 or int(self.threads) not in (1, 2):
            raise ValueError(f'devices must be >= 1 and threads 1 or 2 (got {self.devices}, '
                             f'{self.threads})')


def hailo_available() -> bool:
    """True when HailoRT's Python binding is importable (a Hailo host)."""
    return importlib.util.find_spec('hailo_platform') is not None


def resolve_device(config: EngineConfig, log: Callable[[str], None]) -> str:
    """The device kind `config.device` means here (`auto` -> hailo or cpu)."""
    if config.device != 'auto':
        return config.device
    device = 'hailo' if hailo_available() else 'cpu'
    log(f'device auto: using {device}')
    return device


def make_engine(connectome, config: EngineConfig = EngineConfig(),
                log: Optional[Callable[[str], None]] = None,
                device_factory: Optional[Callable] = None,
                warn: Optional[Callable[[str], None]] = None):
    """Build the engine of `config` for a connectome (see the module); it has `close()`.

    The partition plan (where each mapping runs, and why), device start-up and faults go
    to `log`, one line each; a device asked for that gets no area goes to `warn` (default
    `log`).
    """
    log = log or (lambda message: None)
    warn = warn or log
    device = resolve_device(config, log)
    if device == 'cpu':
        from feagi_hailo_ros.engine.core import BurstEngine
        threads = int(config.threads)
        return BurstEngine(connectome, partitions=threads, threads=threads > 1)
    from feagi_hailo_ros.devices.planner import plan_partitions
    from feagi_hailo_ros.engine.hybrid import HybridEngine
    plan = plan_partitions(connectome, config.partition, int(config.devices),
                           prefix='hailo' if device == 'hailo' else 'emulator')
    for line in plan.report(connectome):
        log(line)
    if plan.partitions:
        from feagi_hailo_ros.devices.cost_model import expected_activity, placement_lines
        log(f'placement {config.placement}; predicted per-burst time at 2% activity (model '
            'output, not a measurement):')
        for line in placement_lines(connectome, plan, expected_activity(connectome)):
            log(f'  {line}')
    if not plan.partitions:
        warn(f'device {device}: the partition plan puts no area on the device; '
             'everything runs on the cpu')
    exported = None
    if device_factory is None:
        device_factory, exported = _device_factory(device, connectome, plan, config)
    return HybridEngine(connectome, device_factory, plan=plan, exported=exported,
                        timeout_s=config.device_timeout_ms / 1000.0,
                        retry_bursts=config.retry_bursts, log=log, prefetch=config.prefetch,
                        placement=config.placement, profile=config.profile)


def _device_factory(device: str, connectome, plan, config: EngineConfig):
    """(factory of one device per partition, exported partitions or None) for a kind."""
    if device == 'emulator':
        from feagi_hailo_ros.devices.emulator import EmulatedHailo
        latency = float(config.emulator_latency_ms)
        if config.placement == 'auto' and latency == 0:
            # the emulator's round trip follows the profile the placement decides by
            from feagi_hailo_ros.devices.cost_model import CostModel, profile
            model = CostModel(connectome, plan.operators, profile(config.profile))
            modelled = {p.name: model.device_s(p.operators) * 1e3 for p in plan.partitions}
            return (lambda part: EmulatedHailo(part.name, latency_ms=modelled[part.name])), \
                None
        return (lambda part: EmulatedHailo(part.name, latency_ms=latency)), None
    from feagi_hailo_ros.devices.export import ExportedPartition
    from feagi_hailo_ros.devices.hailo import HailoDevice, load_hailort, scan
    load_hailort()
    if not config.hef_dir:
        raise ValueError('device hailo needs a HEF folder (--hef-dir DIR, parameter hef_dir): '
                         'run `feagi-hailo export --out DIR` with the same partition, '
                         'then `python3 DIR/<partition>/compile_hef.py` on the Hailo DFC '
                         'host for each model.hef')
    exported: Dict[str, object] = {}
    for part in plan.partitions:
        exp = ExportedPartition.load(os.path.join(config.hef_dir, part.name))
        want = [connectome.areas[t].id for t in part.targets]
        if exp.manifest.get('targets') != want:
            raise ValueError(f'{config.hef_dir}/{part.name}: exported for areas '
                             f'{exp.manifest.get("targets")}, this plan needs {want}: '
                             'export and compile again with the same --partition')
        exported[part.name] = exp
    ids = [d['id'] for d in scan()['devices']]
    timeout_ms = int(config.device_timeout_ms)

    def factory(part):
        index = int(part.name[len('hailo'):] or 0)
        device_id = ids[index] if index < len(ids) else None
        return HailoDevice(device_id, exported[part.name].hef_path, timeout_ms,
                           shared=bool(config.shared_device), name=part.name)
    return factory, exported
