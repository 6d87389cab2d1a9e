"""The package's dependency rules and sizes, read from its own source.

- devices/ (backends) never imports engine/ (the engine schedules devices);
- only ros/ imports rclpy or ROS message packages, and ros/ imports nothing from cli/;
- the command-line tool runs without rclpy;
- no module is over MAX_LINES lines, except the numba kernel.
"""

import ast
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'feagi_hailo_ros'
MAX_LINES = 450
LONG_ALLOWED = {'engine/kernel.py'}           # one numba kernel, read as one piece
ROS_MODULES = ('rclpy', 'rcl_interfaces', 'launch', 'launch_ros', 'cv_bridge',
               'builtin_interfaces', 'lifecycle_msgs')


def _imports(path: Path):
    """Every module name a file imports (top level and inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _modules(folder: str = ''):
    return sorted((PACKAGE / folder).rglob('*.py'))


def _is_ros(module: str) -> bool:
    top = module.split('.')[0]
    return top in ROS_MODULES or top.endswith('_msgs') or top.endswith('_srvs')


def test_the_rules_see_every_module():
    names = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
    assert {'devices/emulator.py', 'engine/core.py', 'ros/node.py', 'cli/main.py'} <= names


def test_devices_never_import_the_engine():
    bad = [(p.name, m) for p in _modules('devices') for m in _imports(p)
           if m.startswith('feagi_hailo_ros.engine')]
    assert bad == []


def test_only_ros_imports_rclpy_and_messages():
    bad = [(p.relative_to(PACKAGE).as_posix(), m) for p in _modules() for m in _imports(p)
           if _is_ros(m) and p.parent.name != 'ros']
    assert bad == []
    assert any(_is_ros(m) for m in _imports(PACKAGE / 'ros' / 'node.py'))   # the check sees


def test_ros_imports_nothing_from_the_cli():
    bad = [(p.name, m) for p in _modules('ros') for m in _imports(p)
           if m.startswith('feagi_hailo_ros.cli')]
    assert bad == []


def test_modules_are_small_enough_to_read_in_one_sitting():
    long = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines())
            for p in _modules()}
    over = {name: lines for name, lines in long.items()
            if lines > MAX_LINES and name not in LONG_ALLOWED}
    assert over == {}


@pytest.mark.parametrize('argv', [['info', str(ROOT / 'test' / 'data' / 'essential_genome.json')],
                                  ['run', '--synthetic', '3000', '--bursts', '3', '--device',
                                   'emulator', '--no-cache']])
def test_the_cli_runs_without_rclpy(argv):
    blocker = ('import sys\n'
               'for name in ("rclpy", "rcl_interfaces", "std_msgs", "sensor_msgs"):\n'
               '    sys.modules[name] = None\n'
               'from feagi_hailo_ros.cli.main import main\n'
               f'sys.exit(main({argv!r}))\n')
    result = subprocess.run([sys.executable, '-c', blocker], capture_output=True, text=True,
                            timeout=300, cwd=str(ROOT))
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'rclpy' not in result.stderr
