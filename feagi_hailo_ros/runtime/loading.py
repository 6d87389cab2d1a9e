"""Build the brain runtime from the node's settings: brain, engine, warm-up, start-up report.

Everything that compiles or loads lazily does so here, before the burst timer runs: the
devices at open (engine.hybrid.runner), the engine's kernels in `BrainRuntime.warm_up`.
"""

from dataclasses import replace
import os
import time
from typing import Any, Dict, Tuple

from feagi_hailo_ros.devices.cost_model import DEFAULT_PROFILE
from feagi_hailo_ros.engine.factory import EngineConfig, make_engine, resolve_device
from feagi_hailo_ros.kernel_cache import cache_state, kernel_cache_counts
from feagi_hailo_ros.runtime.brain_runtime import BrainRuntime


def load_connectome(settings: Dict[str, Any], logger=None):
    """Return the connectome chosen by the settings: genome file, synthetic or demo brain."""
    from feagi_hailo_ros.brain.builder import load_brain
    genome_path = str(settings.get('genome', '') or '')
    if genome_path:
        if not os.path.isfile(genome_path):
            raise FileNotFoundError(
                f"genome '{genome_path}' does not exist: set the genome parameter to a FEAGI "
                'genome JSON file (or leave it empty for the demo brain)')
        return load_brain(genome_path)
    from feagi_hailo_ros.brain import synth
    neurons = int(settings.get('synthetic_neurons', 0) or 0)
    if neurons > 0:
        return load_brain(synth.synthetic_genome(
            neurons=neurons, fanout=int(settings.get('synthetic_fanout', 10)),
            seed=int(settings.get('seed', 0))))
    return load_brain(synth.demo_genome())


def build_runtime(settings: Dict[str, Any], logger=None,
                  device_factory=None) -> BrainRuntime:
    """Build the runtime the node bursts: brain, engine on the chosen device, encoders.

    The runtime's `startup` says how long each step took and whether the kernel cache was
    warm. `device_factory` replaces the devices of the setting (tests: a faulty device).
    """
    started = time.perf_counter()
    connectome = load_connectome(settings, logger)
    loaded = time.perf_counter()
    engine, device_name = build_engine(connectome, settings, logger, device_factory)
    opened = time.perf_counter()
    try:
        runtime = BrainRuntime(connectome, engine, device_name, settings, logger)
        runtime.warm_up_s = runtime.warm_up()
    except BaseException:
        engine.close()
        raise
    counts = kernel_cache_counts()
    runtime.startup = {'brain_s': loaded - started, 'engine_s': opened - loaded,
                       'warm_up_s': runtime.warm_up_s,
                       'kernels_loaded': counts['loaded'],
                       'kernels_compiled': counts['compiled'],
                       'kernel_cache': cache_state(counts)}
    return runtime


def engine_config(settings: Dict[str, Any]) -> EngineConfig:
    """The EngineConfig of the node's device parameters."""
    return EngineConfig(
        device=str(settings.get('device', 'cpu')),
        partition=str(settings.get('partition', 'auto')) or 'auto',
        devices=int(settings.get('devices', 1)),
        emulator_latency_ms=float(settings.get('emulator_latency_ms', 0.0)),
        hef_dir=str(settings.get('hef_dir', '') or ''),
        device_timeout_ms=float(settings.get('device_timeout_ms', 1000.0)),
        shared_device=bool(settings.get('shared_device', False)),
        placement=str(settings.get('placement', 'device')),
        profile=str(settings.get('device_profile', DEFAULT_PROFILE)))


def build_engine(connectome, settings: Dict[str, Any], logger=None,
                 device_factory=None) -> Tuple[Any, str]:
    """Return (engine, device name) for the node's settings (engine.factory.make_engine).

    The partition plan, device start-up and faults go to the logger; `auto` is resolved to
    the device it means here.
    """
    config = engine_config(settings)
    info = logger.info if logger is not None else None
    device = resolve_device(config, info or (lambda message: None))
    engine = make_engine(connectome, replace(config, device=device), log=info,
                         device_factory=device_factory,
                         warn=logger.warning if logger is not None else None)
    return engine, device
