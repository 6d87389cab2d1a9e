"""The colcon workspace behaves as a ROS user expects: setup.bash, --packages-select."""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'feagi_hailo_ros'


def _colcon() -> str:
    beside = Path(sys.executable).with_name('colcon')
    found = str(beside) if beside.is_file() else shutil.which('colcon')
    if not found:
        pytest.skip('colcon is not installed here')
    return found


def test_setup_built_a_bash_workspace():
    install = ROOT / 'ws' / 'install'
    if not install.is_dir():
        pytest.skip('scripts/setup.sh has not built ws/ here (colcon test on a robot)')
    assert (install / 'setup.bash').is_file() and (install / 'local_setup.bash').is_file()


def test_readme_build_command_selects_the_package_and_setup_bash_finds_it(tmp_path):
    colcon = _colcon()
    env = dict(os.environ, PATH=f'{Path(colcon).parent}{os.pathsep}{os.environ["PATH"]}')
    build = subprocess.run(
        [colcon, '--log-base', str(tmp_path / 'log'), 'build', '--base-paths', str(ROOT),
         '--build-base', str(tmp_path / 'build'), '--install-base', str(tmp_path / 'install'),
         '--packages-select', PACKAGE, '--symlink-install'],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert build.returncode == 0, build.stdout + build.stderr
    assert f'Finished <<< {PACKAGE}' in build.stdout
    setup = tmp_path / 'install' / 'setup.bash'
    assert setup.is_file()
    probe = subprocess.run(
        ['bash', '-c', f'source {setup} && echo "$AMENT_PREFIX_PATH" && echo "$PYTHONPATH"'],
        capture_output=True, text=True, timeout=60, env=env, cwd=str(tmp_path))
    assert probe.returncode == 0, probe.stderr
    prefixes, python_path = probe.stdout.splitlines()[:2]
    installed = tmp_path / 'install' / PACKAGE
    assert str(installed) in prefixes.split(os.pathsep)
    assert any(p.startswith(str(installed)) and p.endswith('site-packages')
               for p in python_path.split(os.pathsep))
