"""Shared helpers of the devices tests (imported by test_devices_*.py; not a conftest)."""

import json
from pathlib import Path
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import pytest

TEST_DIR = Path(__file__).resolve().parent
DATA_DIR = TEST_DIR / 'data'
FAKE_DIR = TEST_DIR / 'fake_hailo'
ESSENTIAL = DATA_DIR / 'essential_genome.json'
ESSENTIAL_INJECT = DATA_DIR / 'conformance' / 'essential_genome.inject.jsonl'
PROBE = DATA_DIR / 'conformance' / 'conformance_probe.json'
PROBE_INJECT = DATA_DIR / 'conformance' / 'conformance_probe.inject.jsonl'


def _drop_fake_modules() -> None:
    for name in list(sys.modules):
        if name == 'hailo_platform' or name.startswith('hailo_platform.') \
                or name == 'fake_hailo_control':
            del sys.modules[name]


@pytest.fixture
def fake_hailo(monkeypatch):
    """Put the fake `hailo_platform` on sys.path; yield its control state (one Hailo-8)."""
    _drop_fake_modules()
    monkeypatch.syspath_prepend(str(FAKE_DIR))
    import fake_hailo_control
    state = fake_hailo_control.reset()
    yield state
    _drop_fake_modules()


def read_injections(path: Path) -> Dict[int, List[dict]]:
    """Injection rows of a conformance file, by burst."""
    rows: Dict[int, List[dict]] = {}
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                rows.setdefault(row['burst'], []).append(row)
    return rows


def run_bursts(engine, bursts: int, injections: Optional[Dict[int, List[dict]]] = None,
               inject_fn: Optional[Callable] = None, start: int = 0) -> List[np.ndarray]:
    """Run bursts start.. with injections; return a copy of each burst's fired set."""
    out = []
    for b in range(start, start + bursts):
        for row in (injections or {}).get(b, []):
            engine.inject(row['area'], row['x'], row['y'], row['z'], row['p'])
        if inject_fn is not None:
            inject_fn(engine, b)
        out.append(np.array(engine.burst(), copy=True))
    return out


def random_vision_injections(connectome, area_id: str, seed: int = 3,
                             density: float = 0.05) -> Callable:
    """An inject_fn driving an input area with seeded random integer potentials."""
    a = connectome.area_index(area_id)
    dims = connectome.areas[a].dims

    def inject(engine, burst):
        rng = np.random.default_rng(seed * 100003 + burst)
        n = int(np.prod(dims))
        chosen = np.flatnonzero(rng.random(n) < density)
        x, rest = np.divmod(chosen, dims[1] * dims[2])
        y, z = np.divmod(rest, dims[2])
        p = rng.integers(1, 200, chosen.size).astype(np.float32)
        if chosen.size:
            engine.inject(area_id, x, y, z, p)
    return inject


def small_synthetic(neurons: int = 12000, fanout: int = 9, hidden: int = 3, seed: int = 0):
    """A small synthetic vision pipeline (vectors + projector; integer weights, pspuni)."""
    from feagi_hailo_ros.brain.builder import load_brain
    from feagi_hailo_ros.brain.synth import synthetic_genome
    return load_brain(synthetic_genome(neurons, fanout=fanout, hidden_areas=hidden,
                                       seed=seed), cache=False)


def bursts_until_device(hybrid, inject_fn: Callable, start: int, max_bursts: int = 60,
                        pause_s: float = 0.05) -> List[np.ndarray]:
    """Keep bursting (pausing between bursts) until every partition is back on its device."""
    out: List[np.ndarray] = []
    for b in range(start, start + max_bursts):
        if all(p['mode'] == 'device' for p in hybrid.describe()):
            break
        time.sleep(pause_s)
        out += run_bursts(hybrid, 1, inject_fn=inject_fn, start=b)
    return out
