"""Package set-up for feagi_hailo_ros (ament_python)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'feagi_hailo_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        (os.path.join('share', PACKAGE, 'launch'), glob('launch/*.launch.py')),
        (os.path.join('share', PACKAGE, 'config'),
         glob('config/*.yaml') + glob('config/*.rviz')),
    ],
    # Runtime libraries come from rosdep (package.xml) on a robot and from
    # requirements/*.txt in the venv: console scripts must not pin pip distributions.
    install_requires=['setuptools'],
    extras_require={'test': ['pytest', 'hypothesis', 'flake8', 'pydocstyle']},
    zip_safe=True,
    maintainer='feagi_hailo_ros developers',
    maintainer_email='dev@feagi-hailo-ros.invalid',
    description='FEAGI spiking brains on a robot: ROS 2 node, hybrid CPU + Hailo-8 engine.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'feagi_hailo_node = feagi_hailo_ros.ros.node:main',
            'feagi_hailo_camera = feagi_hailo_ros.ros.synthetic_camera:main',
            'feagi-hailo = feagi_hailo_ros.cli.main:main',
        ],
    },
)
