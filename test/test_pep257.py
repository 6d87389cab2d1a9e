"""Docstring style (ament_pep257, else pydocstyle with the same conventions)."""

from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = [str(ROOT / p) for p in ('feagi_hailo_ros', 'test', 'launch', 'bench', 'scripts',
                                 'setup.py') if (ROOT / p).exists()]


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    try:
        from ament_pep257.main import main
    except ImportError:
        proc = subprocess.run(
            [sys.executable, '-m', 'pydocstyle', '--config', str(ROOT / 'setup.cfg'), *PATHS],
            capture_output=True, text=True)
        assert proc.returncode == 0, f'pydocstyle found problems:\n{proc.stdout}{proc.stderr}'
        return
    # ament's convention, but summaries may sit on the first line (D213) and need not be
    # imperative (D401).
    rc = main(argv=['--add-ignore', 'D213', 'D401', '--', *PATHS])
    assert rc == 0, 'Found code style errors / warnings'
