"""scripts/demo.py, the README's main job, runs real code and reports what happened."""

from pathlib import Path
import re
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.ros
@pytest.mark.parametrize('device', ['cpu', 'emulator'])
def test_demo_runs_and_reports_bursts_and_messages(device):
    result = subprocess.run(
        [sys.executable, str(ROOT / 'scripts' / 'demo.py'), '--seconds', '3', '--device',
         device, '--burst-rate', '40'],
        capture_output=True, text=True, timeout=90, cwd=str(ROOT))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f'on device {device}' in out
    bursts = int(re.search(r'bursts: (\d+), achieved ([\d.]+) Hz', out).group(1))
    # it ran (a loaded machine gets fewer), and never more bursts than periods (no backlog)
    assert 5 <= bursts <= 3 * 40 + 5
    assert re.search(r'p50 [\d.]+ ms, p99 [\d.]+ ms', out)
    received = {topic: int(count) for topic, count in re.findall(
        r'(cmd_vel|motor_commands|fired_neurons) (\d+)',
        out.split('received over DDS:')[1].splitlines()[0])}
    assert received['cmd_vel'] > 0 and received['motor_commands'] > 0
    assert received['fired_neurons'] > 0
    assert 'fired per burst' in out and 'last motor_commands received: [' in out
