"""The launch file, params files and rviz config, and the node started as the launch starts it."""

import ast
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

from feagi_hailo_ros.ros.node import PUBLISHED
from feagi_hailo_ros.runtime.launch_args import parameter_overrides, remappings, ros_arguments
from feagi_hailo_ros.runtime.settings import PARAMETERS_BY_NAME, validate
import pytest
from ros_harness import make_executor, Probe, rgb_image, spin_until, top_middle_frame
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / 'launch' / 'feagi_hailo.launch.py'
CONFIG = ROOT / 'config'
REQUIRED_ARGUMENTS = {'genome', 'device', 'burst_rate_hz', 'params_file', 'namespace',
                      'use_rviz', 'image_topic', 'cmd_vel_topic'}


def launch_defaults() -> dict:
    """{argument: default} read from the launch file's DeclareLaunchArgument calls.

    A default built with os.path.join(share, 'config', name) is returned as the config
    file path in this source tree (what get_package_share_directory gives once installed).
    """
    tree = ast.parse(LAUNCH_FILE.read_text())
    defaults = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') == \
                'DeclareLaunchArgument':
            name = call.args[0].value
            keywords = {k.arg: k.value for k in call.keywords}
            value = keywords['default_value']
            if isinstance(value, ast.Constant):
                defaults[name] = value.value
            else:  # os.path.join(share, 'config', 'default.yaml')
                parts = [a.value for a in value.args if isinstance(a, ast.Constant)]
                defaults[name] = str(ROOT.joinpath(*parts))
    return defaults


def test_launch_file_declares_the_arguments_with_usable_defaults():
    defaults = launch_defaults()
    assert set(defaults) == REQUIRED_ARGUMENTS
    assert Path(defaults['params_file']).is_file()
    assert defaults['use_rviz'] == 'false'
    assert parameter_overrides(defaults) == {}  # a plain launch keeps the params file
    assert remappings(defaults) == []
    assert parameter_overrides({'device': 'hailo', 'burst_rate_hz': '15'}) == \
        {'device': 'hailo', 'burst_rate_hz': 15.0}
    with pytest.raises(ValueError, match='burst_rate_hz'):
        parameter_overrides({'burst_rate_hz': 'fast'})


@pytest.mark.parametrize('name', ['default.yaml', 'hybrid.yaml', 'million.yaml'])
def test_params_files_use_known_parameters_with_valid_values(name):
    document = yaml.safe_load((CONFIG / name).read_text())
    assert list(document) == ['/**/feagi_hailo']
    values = document['/**/feagi_hailo']['ros__parameters']
    assert values
    for key, value in values.items():
        assert key in PARAMETERS_BY_NAME, f'{name}: unknown parameter {key}'
        default = PARAMETERS_BY_NAME[key].default
        assert type(value) is type(default), f'{name}: {key} = {value!r} ({type(value)})'
        assert validate(key, value, values) is None, f'{name}: {key}'


def test_rviz_config_shows_what_the_node_publishes():
    config = yaml.safe_load((CONFIG / 'feagi_hailo.rviz').read_text())
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == PARAMETERS_BY_NAME['frame_id'].default
    displays = {d['Class']: d for d in manager['Displays']}
    kinds = {'rviz_default_plugins/PointCloud2': ('fired_neurons', 'PointCloud2'),
             'rviz_default_plugins/MarkerArray': ('cortical_areas', 'MarkerArray')}
    for plugin, (topic, type_name) in kinds.items():
        assert displays[plugin]['Topic']['Value'] == '/' + topic
        assert type_name in [t.__name__ for t in PUBLISHED[topic]]
    cloud = displays['rviz_default_plugins/PointCloud2']
    assert cloud['Channel Name'] == 'intensity' and cloud['Color Transformer'] == 'Intensity'
    markers = displays['rviz_default_plugins/MarkerArray']
    assert markers['Topic']['Durability Policy'] == 'Transient Local'
    camera = displays['rviz_default_plugins/Image']
    assert camera['Topic']['Value'] == '/image_raw'
    assert camera['Topic']['Reliability Policy'] == 'Best Effort'  # sensor-data QoS


def test_launch_description_with_launch_testing():
    pytest.importorskip('launch_testing')
    launch = pytest.importorskip('launch')
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    source = PythonLaunchDescriptionSource(str(LAUNCH_FILE))
    description = source.get_launch_description(launch.LaunchContext())
    names = {a.name for a in description.entities if hasattr(a, 'name')}
    assert REQUIRED_ARGUMENTS <= names


def _installed_for_ros2_launch() -> bool:
    """True where `ros2 launch` can start this package (a colcon install, sourced)."""
    if shutil.which('ros2') is None:
        return False
    try:
        from ament_index_python.packages import get_package_share_directory
        get_package_share_directory('feagi_hailo_ros')
    except (ImportError, LookupError, ValueError):
        return False
    return True


@pytest.mark.ros
def test_ros2_launch_brings_the_node_up(ros_context, data_dir):
    if not _installed_for_ros2_launch():
        pytest.skip('ros2 launch or the installed package is not available here')
    command = ['ros2', 'launch', 'feagi_hailo_ros', 'feagi_hailo.launch.py',
               f"genome:={data_dir / 'essential_genome.json'}", 'namespace:=ros2launch',
               'burst_rate_hz:=40', 'use_rviz:=false']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    probe = Probe(namespace='/ros2launch')
    executor = make_executor(probe.node)
    try:
        assert spin_until(executor, lambda: probe.received['cortical_areas'] and
                          probe.received['/diagnostics'] and
                          probe.received['motor_commands'], 30.0), 'launch did not come up'
        values = {kv.key: kv.value
                  for kv in probe.received['/diagnostics'][-1].status[0].values}
        assert values['target_rate_hz'] == '40.00'
    finally:
        _stop(process, timeout_s=15.0)
        executor.shutdown()
        probe.node.destroy_node()


def _node_command(args):
    script = shutil.which('feagi_hailo_node')
    if script:
        return [script, *args]
    return [sys.executable, '-m', 'feagi_hailo_ros.ros.node', *args]


def _stop(process, timeout_s=10.0):
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


@pytest.mark.ros
def test_node_started_as_the_launch_file_starts_it(ros_context, data_dir):
    defaults = launch_defaults()
    arguments = dict(defaults, genome=str(data_dir / 'essential_genome.json'),
                     burst_rate_hz='40', namespace='launchtest', image_topic='camera/image',
                     cmd_vel_topic='base/cmd_vel')
    args = ros_arguments(arguments['params_file'], arguments['namespace'],
                         parameter_overrides(arguments), remappings(arguments))
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    process = subprocess.Popen(_node_command(args), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    probe = Probe(namespace='/launchtest', image_topic='camera/image',
                  cmd_vel_topic='base/cmd_vel')
    executor = make_executor(probe.node)
    frames = [rgb_image(top_middle_frame()), rgb_image(top_middle_frame(bright=False))]
    sent = [0]

    def publish():
        probe.image_pub.publish(frames[sent[0] % 2])
        sent[0] += 1

    try:
        assert spin_until(executor, lambda: probe.received['cortical_areas'] and
                          probe.received['/diagnostics'], 20.0), 'node did not come up'
        assert spin_until(executor, lambda: probe.received['motor_commands'] and list(
            probe.received['motor_commands'][-1].data) == [1.0] * 4, 10.0, every=publish)
        assert probe.received['cmd_vel'][-1].linear.x > 0.0
        status = probe.received['/diagnostics'][-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        assert values['device'] == 'cpu' and values['target_rate_hz'] == '40.00'
        assert status.name.startswith('feagi_hailo')
        # Ctrl-C: the node stops the motors before it exits
        probe.clear()
        code = _stop(process)
        spin_until(executor, lambda: probe.received['cmd_vel'], 1.0)
        assert code == 0, process.stdout.read()
        assert probe.received['cmd_vel'] and probe.received['cmd_vel'][-1].linear.x == 0.0
    finally:
        _stop(process)
        executor.shutdown()
        probe.node.destroy_node()


@pytest.mark.ros
def test_node_with_missing_genome_exits_with_the_reason(tmp_path):
    missing = tmp_path / 'missing.json'
    args = ros_arguments(str(CONFIG / 'default.yaml'), '',
                         parameter_overrides({'genome': str(missing)}))
    started = time.monotonic()
    result = subprocess.run(_node_command(args), capture_output=True, text=True, timeout=60,
                            cwd=str(ROOT))
    assert result.returncode == 1
    assert 'missing.json' in result.stderr + result.stdout
    assert 'does not exist' in result.stderr + result.stdout
    assert time.monotonic() - started < 60
