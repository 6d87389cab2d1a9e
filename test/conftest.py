"""Test-wide settings: an isolated ROS 2 domain on localhost only, and shared fixture paths."""

import os
from pathlib import Path

import pytest

# Before any test imports rclpy: never see (or disturb) other ROS 2 traffic on this machine.
os.environ.setdefault('ROS_DOMAIN_ID', str(os.getpid() % 100 + 1))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'

TEST_DIR = Path(__file__).resolve().parent
DATA_DIR = TEST_DIR / 'data'
PACKAGE_ROOT = TEST_DIR.parent


@pytest.fixture
def data_dir() -> Path:
    """Folder of the genome fixtures (copies of FEAGI's, Apache-2.0) and conformance vectors."""
    return DATA_DIR


@pytest.fixture(scope='module')
def ros_context():
    """Initialise rclpy for one test module and shut it down after it."""
    import rclpy
    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()
