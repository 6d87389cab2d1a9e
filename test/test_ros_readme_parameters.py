"""The README's parameter table lists every parameter the node declares, with its default."""

from pathlib import Path
import re

from feagi_hailo_ros.runtime.settings import PARAMETERS

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_matches_declared_parameters():
    rows = dict(re.findall(r'^\| `([a-z_]+)` \| `([^`]*)` \|', (ROOT / 'README.md').read_text(),
                           re.MULTILINE))
    declared = {spec.name: spec.default for spec in PARAMETERS}
    assert set(rows) == set(declared), 'README parameters differ from the declared ones'
    for name, default in declared.items():
        if isinstance(default, bool):
            assert rows[name] == str(default), name
        elif isinstance(default, (int, float)):
            assert float(rows[name]) == float(default), name
        elif isinstance(default, str):
            assert rows[name] == repr(default), name
