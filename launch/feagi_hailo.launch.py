"""Launch the feagi_hailo node with a params file, optional overrides and optional rviz.

ros2 launch feagi_hailo_ros feagi_hailo.launch.py genome:=my_brain.json device:=hailo
Arguments left empty keep the params file's values (config/default.yaml unless params_file).
"""

import os

from ament_index_python.packages import get_package_share_directory
from feagi_hailo_ros.runtime.launch_args import parameter_overrides, remappings
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'feagi_hailo_ros'


def _brain_node(context, *args, **kwargs):
    """Build the node (and rviz) once the arguments are known; empty ones are not passed."""
    value = {name: LaunchConfiguration(name).perform(context)
             for name in ('genome', 'device', 'burst_rate_hz', 'params_file', 'namespace',
                          'image_topic', 'cmd_vel_topic')}
    parameters = [value['params_file']] if value['params_file'] else []
    overrides = parameter_overrides(value)
    if overrides:
        parameters.append(overrides)
    namespace = value['namespace'].strip('/')
    actions = [Node(package=PACKAGE, executable='feagi_hailo_node', name='feagi_hailo',
                    namespace=namespace, parameters=parameters,
                    remappings=remappings(value), output='screen', emulate_tty=True)]
    # rviz's config names absolute topics: point them into the node's namespace
    rviz_remaps = [(f'/{topic}', f'/{namespace}/{topic}')
                   for topic in ('fired_neurons', 'cortical_areas', 'image_raw')] \
        if namespace else []
    actions.append(Node(
        package='rviz2', executable='rviz2', name='rviz2', output='screen',
        arguments=['-d', os.path.join(get_package_share_directory(PACKAGE), 'config',
                                      'feagi_hailo.rviz')],
        remappings=rviz_remaps, condition=IfCondition(LaunchConfiguration('use_rviz'))))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the brain node and (with use_rviz:=true) rviz2."""
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument('genome', default_value='',
                              description="FEAGI genome JSON ('' = the params file's)"),
        DeclareLaunchArgument('device', default_value='',
                              description="cpu | emulator | hailo | auto ('' = params file)"),
        DeclareLaunchArgument('burst_rate_hz', default_value='',
                              description="bursts per second ('' = params file)"),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'default.yaml'),
                              description='node parameters YAML'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its topics'),
        DeclareLaunchArgument('image_topic', default_value='',
                              description="camera topic to read ('' = image_raw)"),
        DeclareLaunchArgument('cmd_vel_topic', default_value='',
                              description="velocity command topic ('' = cmd_vel)"),
        DeclareLaunchArgument('use_rviz', default_value='false',
                              description='start rviz2 with config/feagi_hailo.rviz'),
        OpaqueFunction(function=_brain_node),
    ])
