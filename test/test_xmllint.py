"""package.xml is well-formed, format 3, and declares what the package really needs."""

from pathlib import Path
import xml.etree.ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.linter
@pytest.mark.xmllint
def test_package_xml_well_formed_and_complete():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.tag == 'package' and root.get('format') == '3'
    assert root.findtext('name') == 'feagi_hailo_ros'
    assert root.findtext('export/build_type') == 'ament_python'
    exec_deps = {e.text for e in root.findall('exec_depend')}
    for dep in ('rclpy', 'std_msgs', 'sensor_msgs', 'geometry_msgs', 'visualization_msgs',
                'diagnostic_msgs', 'lifecycle_msgs', 'python3-numpy', 'python3-opencv',
                'launch', 'launch_ros'):
        assert dep in exec_deps, f'package.xml lacks <exec_depend>{dep}</exec_depend>'
    test_deps = {e.text for e in root.findall('test_depend')}
    assert {'ament_flake8', 'ament_pep257', 'python3-pytest'} <= test_deps


@pytest.mark.linter
@pytest.mark.xmllint
def test_rviz_and_launch_files_are_installed_by_setup():
    setup_text = (ROOT / 'setup.py').read_text()
    for pattern in ("'launch/*.launch.py'", "'config/*.yaml'", "'config/*.rviz'",
                    "'resource/' + PACKAGE"):
        assert pattern in setup_text, f'setup.py does not install {pattern}'
    assert (ROOT / 'resource' / 'feagi_hailo_ros').exists()
