"""flake8 over the package, as `ros2 pkg create` generates (ament_flake8, else plain flake8)."""

from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = [str(ROOT / p) for p in ('feagi_hailo_ros', 'test', 'launch', 'bench', 'scripts',
                                 'setup.py') if (ROOT / p).exists()]


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    try:
        from ament_flake8.main import main_with_errors
    except ImportError:
        proc = subprocess.run(
            [sys.executable, '-m', 'flake8', '--config', str(ROOT / 'setup.cfg'), *PATHS],
            capture_output=True, text=True)
        assert proc.returncode == 0, f'flake8 found problems:\n{proc.stdout}{proc.stderr}'
        return
    rc, errors = main_with_errors(argv=PATHS)
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + \
        '\n'.join(errors)
