"""The node's /diagnostics: device health and burst-loop timing in one status.

`BurstDiagnosticsTask.run(...)` builds the status from plain inputs (as a
diagnostic_updater task does), so tests call it without spinning a node; the node's timer
only publishes what it returns.
"""

from typing import Any, Dict, Mapping

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from feagi_hailo_ros.runtime.burst_clock import BurstStats, SampleWindow

OVERRUN_WARN_FRACTION = 0.1  # more than this share of bursts overrunning is a warning


def burst_status(name: str, device_name: str, device_health: Mapping[str, object],
                 stats: BurstStats, target_rate_hz: float, fallbacks: int,
                 bad_inputs: int, active: bool) -> DiagnosticStatus:
    """Return the status: OK, WARN (overruns, fallbacks, idle) or ERROR (device unhealthy)."""
    values = {
        'device': device_name,
        'active': str(active).lower(),
        'target_rate_hz': f'{target_rate_hz:.2f}',
        'achieved_rate_hz': f'{stats.achieved_rate_hz:.2f}',
        'bursts': str(stats.bursts),
        'burst_p50_ms': f'{stats.p50_ms:.3f}',
        'burst_p99_ms': f'{stats.p99_ms:.3f}',
        'burst_max_ms': f'{stats.max_ms:.3f}',
        'overruns': str(stats.overruns),
        'skipped_ticks': str(stats.skipped),
        'fallbacks': str(fallbacks),
        'bad_inputs': str(bad_inputs),
        'fired_per_burst': f'{stats.mean_fired:.1f}',
    }
    for key, value in device_health.items():
        values[f'device_{key}'] = str(value)
    level, message = DiagnosticStatus.OK, 'bursting'
    if not active:
        level, message = DiagnosticStatus.WARN, 'inactive (not bursting)'
    if fallbacks:
        level, message = DiagnosticStatus.WARN, f'{fallbacks} partition fallback(s) to cpu'
    if stats.bursts and stats.overruns > OVERRUN_WARN_FRACTION * stats.bursts:
        level = DiagnosticStatus.WARN
        message = f'{stats.overruns} of {stats.bursts} bursts overran the period'
    if str(device_health.get('healthy', 'true')).lower() == 'false':
        level = DiagnosticStatus.ERROR
        message = f"device {device_name}: {device_health.get('error', 'unhealthy')}"
    return DiagnosticStatus(
        level=level, name=name, message=message, hardware_id=device_name,
        values=[KeyValue(key=key, value=value) for key, value in values.items()])


def diagnostic_array(stamp: Time, status: DiagnosticStatus) -> DiagnosticArray:
    """Wrap one status in a stamped DiagnosticArray."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array


class BurstDiagnosticsTask:
    """The node's one diagnostic task: the runtime's health and the burst loop's numbers."""

    def __init__(self, name: str):
        """A task reporting under `name` (the status name)."""
        self.name = name

    def run(self, runtime: Any, stats: BurstStats, target_rate_hz: float, bad_inputs: int,
            burst_errors: int, active: bool,
            timings: Mapping[str, SampleWindow]) -> DiagnosticStatus:
        """Return the status now; a failing health probe is itself the diagnosis."""
        try:
            health: Dict[str, Any] = runtime.health()
        except Exception as exc:  # noqa: B902 - a failing probe is itself the diagnosis
            health = {'healthy': 'false', 'error': f'health probe failed: {exc}'}
        status = burst_status(self.name, runtime.device_name, health, stats, target_rate_hz,
                              int(runtime.fallbacks), bad_inputs, active)
        for name, window in timings.items():
            if len(window):
                p50, p99 = window.percentiles(50.0, 99.0)
                status.values.append(KeyValue(key=f'{name}_p50_ms', value=f'{p50:.3f}'))
                status.values.append(KeyValue(key=f'{name}_p99_ms', value=f'{p99:.3f}'))
        status.values.append(KeyValue(key='burst_errors', value=str(burst_errors)))
        return status
