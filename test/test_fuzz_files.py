"""Fuzzing the file boundaries: checkpoints, injection files and the node's parameter files.

Property-based (hypothesis), derandomized and bounded. A truncated, corrupted or foreign
checkpoint restores (and the brain bursts) or is refused with one CheckpointError line naming
the file, with the engine's state untouched; a malformed injection file loads (every index in
the brain, every potential finite) or is refused with one ValueError line naming the file; a
bad parameter file or value ends the node process with one error line and a non-zero exit.
No rclpy here (the numpy 1.26 pass runs this file without ROS): the node runs as a process.
"""

import contextlib
import importlib.util
import io
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

from feagi_hailo_ros.brain import load_brain
from feagi_hailo_ros.cli.main import main as cli_main
from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.replay import read_injections
from feagi_hailo_ros.engine.state import CheckpointError
from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parent / 'data'
ROOT = DATA_DIR.parents[1]
GENOME = DATA_DIR / 'essential_genome.json'
OTHER_GENOME = DATA_DIR / 'barebones_genome.json'
INJECTIONS = DATA_DIR / 'conformance' / 'essential_genome.inject.jsonl'
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.sampled_from([0, -1, 10**400, 1e300, float('nan'), float('inf'), float('-inf'), 0.5,
                     '', '1', 'x', [], {}, [1, 2]]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))


def assert_one_line(message: str, prefix: str) -> str:
    """One line starting with `prefix` (the file), then a reason; return the reason."""
    assert '\n' not in message and '\r' not in message, message
    assert 'Traceback' not in message, message
    assert message.startswith(prefix), message
    reason = message[len(prefix):]
    assert len(reason) >= 8 and any(c.isalpha() for c in reason), message
    assert len(message) < 1500, message
    return reason


# ---------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope='module')
def brain(tmp_path_factory):
    """The essential brain, an engine, a checkpoint of it 2 bursts ago, foreign files."""
    folder = tmp_path_factory.mktemp('checkpoints')
    connectome = load_brain(GENOME, cache=False)
    engine = BurstEngine(connectome)
    rng = np.random.default_rng(1)
    for _ in range(5):
        engine.inject_indices(rng.integers(0, connectome.n_neurons, 200), 5.0)
        engine.burst()
    engine.inject_indices(rng.integers(0, connectome.n_neurons, 50), 3.0)   # pending inputs
    path = folder / 'state.npz'
    engine.checkpoint(path)
    other = BurstEngine(load_brain(OTHER_GENOME, cache=False))
    other.burst()
    other.checkpoint(folder / 'other.npz')
    fhc = folder / 'brain.fhc'
    connectome.save(fhc)
    foreign = {'another brain': (folder / 'other.npz').read_bytes(),
               'a genome': GENOME.read_bytes()[:4000], 'a connectome': fhc.read_bytes(),
               'an injection file': INJECTIONS.read_bytes()[:2000],
               'an .npy array': _npy_bytes(np.arange(10)), 'an empty file': b''}
    engine.burst()      # the engine now holds a state other than the checkpoint's, so that
    engine.burst()      # a restore that fails half-way shows in the fields it did write
    return Fixture({'engine': engine, 'state': engine.state, 'bytes': path.read_bytes(),
                    'foreign': foreign})


class Fixture(dict):
    """A dict with a short repr (hypothesis prints the arguments of a failing example)."""

    def __repr__(self) -> str:
        return f'<{", ".join(sorted(self))}>'


def _npy_bytes(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _npz_bytes(fields) -> bytes:
    out = io.BytesIO()
    np.savez(out, **fields)
    return out.getvalue()


def _fields(raw: bytes):
    with np.load(io.BytesIO(raw)) as data:
        return {name: data[name] for name in data.files}


def _same_state(a, b) -> bool:
    return a.burst_count == b.burst_count and all(
        np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True)
        for name in ('potential', 'refractory_countdown', 'consecutive_fires', 'fired',
                     'fired_potential', 'pending_indices', 'pending_input'))


def restore_or_refuse(brain, raw: bytes) -> str:
    """Restore a checkpoint's bytes into the engine: 'restored' (and bursts) or 'refused'."""
    engine, before = brain['engine'], brain['state']
    engine.state = before
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'mutant.npz')
        with open(path, 'wb') as out:
            out.write(raw)
        try:
            engine.restore(path)
        except CheckpointError as exc:
            assert_one_line(str(exc), f'checkpoint {path}: ')
            assert _same_state(engine.state, before), 'a refused checkpoint changed the state'
            return 'refused'
    restored = engine.state
    assert restored.burst_count >= 0
    for _ in range(2):
        fired = engine.burst()
        assert fired.size == 0 or 0 <= fired.min() <= fired.max() < engine.n_neurons
    return 'restored'


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_truncated_corrupted_and_foreign_checkpoints_restore_or_are_refused(brain, data):
    raw = brain['bytes']
    what = data.draw(st.sampled_from(['truncate', 'flip', 'append', 'foreign', 'garbage']))
    if what == 'truncate':
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), label='cut at')]
    elif what == 'flip':
        raw = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8), label='flips')):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(raw)
    elif what == 'append':
        raw += data.draw(st.binary(min_size=1, max_size=64))
    elif what == 'foreign':
        raw = brain['foreign'][data.draw(st.sampled_from(sorted(brain['foreign'])))]
    else:
        raw = data.draw(st.binary(max_size=256))
    event(restore_or_refuse(brain, raw))


ARRAY_FIELDS = ('potential', 'refractory_countdown', 'consecutive_fires', 'fired',
                'fired_potential', 'pending_indices', 'pending_input')
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.int8, np.uint16,
                          np.uint64, np.bool_, np.complex64, np.dtype('<U3'), np.dtype('S2'),
                          np.dtype('>f4')])


def _odd_array(data, like: np.ndarray) -> np.ndarray:
    """An array of the field's size or another, any dtype, with NaN, negatives, huge values."""
    size = like.shape[0] if like.ndim else 1
    shape = data.draw(st.sampled_from([like.shape, (0,), (1,), (size + 1,), (max(size, 1), 2),
                                       (size, 1), ()]), label='shape')
    dtype = data.draw(DTYPES, label='dtype')
    if np.prod(shape) > 64:      # a whole-brain field: a few odd elements in real values
        array = np.resize(np.array(like, copy=True), shape).astype(dtype)
        for _ in range(data.draw(st.integers(1, 3), label='odd elements')):
            at = data.draw(st.integers(0, array.size - 1), label='at')
            value = data.draw(st.sampled_from([-1, 0, 1, 2**16, 2**40, np.nan, np.inf, -np.inf]))
            with np.errstate(all='ignore'), warnings.catch_warnings(), \
                    contextlib.suppress(ValueError, OverflowError, TypeError):
                warnings.simplefilter('ignore')     # numpy 1.26: out-of-bound integers
                array.reshape(-1)[at] = value
        return array
    return data.draw(hnp.arrays(dtype, shape), label='array')


@FUZZ
@given(data=st.data())
def test_checkpoint_fields_of_wrong_dtype_shape_or_value_restore_or_are_refused(brain, data):
    fields = _fields(brain['bytes'])
    meta = json.loads(bytes(fields['meta']).decode())
    what = data.draw(st.sampled_from(['array', 'array', 'pair', 'drop', 'meta',
                                      'meta field']))
    if what == 'array':
        name = data.draw(st.sampled_from(ARRAY_FIELDS), label='field')
        fields[name] = _odd_array(data, fields[name])
    elif what == 'pair':     # indices and values changed alike: their lengths still agree
        index, value = data.draw(st.sampled_from([('fired', 'fired_potential'),
                                                  ('pending_indices', 'pending_input')]))
        size = fields[index].size
        shape = data.draw(st.sampled_from([(size, 1), (1, size), (size, 2), (size + 1,),
                                           (0,), (0, 3)]), label='pair shape')
        fields[index] = np.resize(fields[index], shape).astype(data.draw(st.sampled_from(
            [np.int64, np.int32, np.uint16, np.float64]), label='index dtype'))
        fields[value] = np.resize(fields[value], shape).astype(data.draw(DTYPES,
                                                                         label='value dtype'))
    elif what == 'drop':
        del fields[data.draw(st.sampled_from(sorted(fields)), label='dropped')]
    elif what == 'meta':
        text = data.draw(st.one_of(ODD.map(lambda v: json.dumps(v)), st.text(max_size=20)))
        fields['meta'] = np.frombuffer(text.encode('utf-8', 'surrogatepass'), np.uint8)
    else:
        key = data.draw(st.sampled_from(sorted(meta) + ['extra']), label='meta key')
        if data.draw(st.booleans(), label='delete'):
            meta.pop(key, None)
        else:
            meta[key] = data.draw(ODD, label='meta value')
        fields['meta'] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    event(restore_or_refuse(brain, _npz_bytes(fields)))


def test_pickled_and_archive_tricks_are_refused(brain):
    fields = _fields(brain['bytes'])
    tricks = {
        'object array': dict(fields, potential=np.array([{'a': 1}] * 3, dtype=object)),
        'no meta': {k: v for k, v in fields.items() if k != 'meta'},
        'meta not utf-8': dict(fields, meta=np.frombuffer(b'\xff\xfe{', np.uint8)),
        'meta 2-d': dict(fields, meta=np.zeros((2, 2), np.uint8)),
    }
    outcomes = set()
    for name, trick in tricks.items():
        out = io.BytesIO()
        np.savez(out, **trick) if name != 'object array' else \
            np.savez(out, allow_pickle=True, **trick)
        outcomes.add(restore_or_refuse(brain, out.getvalue()))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, 'w') as archive:
        archive.writestr('potential.npy', b'not an array')
        archive.writestr('meta.npy', b'\x93NUMPY junk')
    outcomes.add(restore_or_refuse(brain, zipped.getvalue()))
    assert outcomes == {'refused'}
    assert restore_or_refuse(brain, brain['bytes']) == 'restored'


def test_run_restore_of_a_broken_checkpoint_is_one_error_line(brain, tmp_path):
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(brain['bytes'][:len(brain['bytes']) // 2])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(['run', '--genome', str(GENOME), '--no-cache', '--bursts', '2',
                         '--restore', str(broken)])
    lines = stderr.getvalue().splitlines()
    assert code == 1 and len(lines) == 1, stderr.getvalue()
    assert_one_line(lines[0], f'feagi-hailo run: error: checkpoint {broken}: ')


# ---------------------------------------------------------------------------- injections
@pytest.fixture(scope='module')
def injection_lines():
    """The first 300 lines of the essential genome's conformance injections."""
    return Lines(INJECTIONS.read_text(encoding='utf-8').splitlines()[:300])


class Lines(tuple):
    """Lines of a file with a short repr (hypothesis prints a failing example's arguments)."""

    def __repr__(self) -> str:
        return f'<{len(self)} lines>'


def load_or_refuse_injections(brain, raw: bytes) -> str:
    """Read an injection file: 'loaded' (and injected, burst) or 'refused' in one line."""
    engine = brain['engine']
    engine.state = brain['state']
    layout = engine.model.layout
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'mutant.jsonl')
        with open(path, 'wb') as out:
            out.write(raw)
        try:
            injections = read_injections(path, layout)
        except ValueError as exc:
            assert_one_line(str(exc), path)
            return 'refused'
    for burst, (indices, potentials) in sorted(injections.items()):
        assert isinstance(burst, int) and burst >= 0
        assert indices.shape == potentials.shape and indices.dtype == np.int64
        assert indices.size == 0 or 0 <= indices.min() <= indices.max() < engine.n_neurons
        assert np.all(np.isfinite(potentials)), potentials
    for burst, (indices, potentials) in sorted(injections.items())[:3]:
        engine.inject_indices(indices, potentials)
        engine.burst()
    return 'loaded'


COORDINATES = st.one_of(st.integers(-2, 4), st.sampled_from(
    [2.0, 1.5, '2', ' 1 ', 300, 2**63, -2**63 - 1, 10**30, 1e20, float('nan'), float('inf')]),
    ODD)
INJECTION_VALUES = {
    'burst': st.one_of(st.integers(-2, 5), st.sampled_from([2**62, 2**63, 1e300, '3', 1.0]),
                       COORDINATES),
    'area': st.one_of(st.sampled_from(['iic000', 'iic100', 'omot00', 'iic400', '_power',
                                       'nope', '', 'IIC000']), ODD),
    'x': COORDINATES, 'y': COORDINATES, 'z': COORDINATES,
    'p': st.one_of(st.sampled_from([float('nan'), float('inf'), float('-inf'), 1e39, -1e39]),
                   st.sampled_from([3e38, 0.0, -5.0, 1e20, '1.5', 'nan', None, True]),
                   st.floats(allow_nan=True, allow_infinity=True), ODD)}


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_malformed_injection_files_load_or_are_refused_in_one_line(brain, injection_lines,
                                                                   data):
    lines = list(injection_lines)
    for _ in range(data.draw(st.integers(1, 2), label='mutations')):
        at = data.draw(st.integers(0, len(lines) - 1), label='line')
        what = data.draw(st.sampled_from(['value', 'value', 'value', 'drop key', 'odd line',
                                          'junk']))
        if what in ('value', 'drop key'):
            try:
                item = json.loads(lines[at])
            except ValueError:
                continue
            if not isinstance(item, dict):
                continue
            key = data.draw(st.sampled_from(['burst', 'area', 'x', 'y', 'z', 'p']))
            if what == 'drop key':
                item.pop(key, None)
            else:
                item[key] = data.draw(INJECTION_VALUES[key], label=f'{key} value')
            lines[at] = json.dumps(item)
        elif what == 'odd line':
            lines[at] = data.draw(st.one_of(ODD.map(json.dumps), st.sampled_from(
                ['{', '}', '[]', 'null', '{"burst": 0}', ' ', '\x00', '{"burst": 0,,}'])))
        else:
            lines.insert(at, data.draw(st.text(max_size=30), label='junk'))
    raw = '\n'.join(lines).encode('utf-8', 'surrogatepass')
    if data.draw(st.integers(0, 3), label='byte damage') == 0:
        raw = raw[:data.draw(st.integers(0, len(raw)), label='cut at')] + \
            data.draw(st.binary(max_size=8), label='tail')
    event(load_or_refuse_injections(brain, raw))


def test_injection_faults_are_refused_with_file_and_line(brain, injection_lines):
    good = json.loads(injection_lines[0])
    for bad, words in ((dict(good, p=float('nan')), 'finite'), (dict(good, p=1e400), 'finite'),
                       (dict(good, burst=float('inf')), 'burst'), (dict(good, x=10**30), 'x'),
                       (dict(good, area='nope'), 'nope'), (dict(good, burst=-1), 'burst')):
        text = injection_lines[0] + '\n' + json.dumps(bad) + '\n'
        assert load_or_refuse_injections(brain, text.encode()) == 'refused'
        with tempfile.NamedTemporaryFile('w', suffix='.jsonl') as handle:
            handle.write(text)
            handle.flush()
            with pytest.raises(ValueError) as info:
                read_injections(handle.name, brain['engine'].model.layout)
            assert f'{handle.name}:2: ' in str(info.value) and words in str(info.value), \
                str(info.value)
    assert load_or_refuse_injections(brain, '\n'.join(injection_lines).encode()) == 'loaded'
    assert load_or_refuse_injections(brain, b'\xff\xfe\x00garbage') == 'refused'


# ---------------------------------------------------------------------------- params files
ROS = importlib.util.find_spec('rclpy') is not None
needs_ros = pytest.mark.skipif(not ROS, reason='the node process needs ROS 2 (rclpy)')
DEFAULT_PARAMS = (ROOT / 'config' / 'default.yaml').read_text(encoding='utf-8')
RCL_LOG = re.compile(r'^\[ERROR\] \[[\d.]+\] \[rcl\]: ')   # rcl's own line before ours
NODE_TIMEOUT_S = 30.0


def params_with(values) -> str:
    """config/default.yaml with `name: literal` lines replaced (or added), autostart off."""
    text = DEFAULT_PARAMS
    for name, literal in dict({'autostart': 'false'}, **values).items():
        line = f'    {name}: {literal}'
        text, found = re.subn(rf'^    {name}:.*$', lambda _: line, text, flags=re.M)
        if not found:
            text += line + '\n'
    return text


def run_node(folder, content, *ros_args):
    """Start the node process on a params file; return (file, completed process)."""
    path = Path(folder) / 'params.yaml'
    path.write_bytes(content if isinstance(content, bytes) else content.encode('utf-8'))
    command = [sys.executable, '-m', 'feagi_hailo_ros.ros.node', '--ros-args',
               '--params-file', str(path), *ros_args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT),
                            timeout=NODE_TIMEOUT_S, env=dict(os.environ, PYTHONUNBUFFERED='1'))
    return path, result


def assert_refused(path, result, *words) -> str:
    """Exit code 2 and one error line naming the file (or -p) and the words; no traceback."""
    output = result.stdout + result.stderr
    assert 'Traceback' not in output, output
    lines = [line for line in output.splitlines() if line.strip() and not RCL_LOG.match(line)]
    assert result.returncode == 2 and len(lines) == 1, output
    assert_one_line(lines[0], 'feagi_hailo: error: ')
    assert str(path) in lines[0] or '(-p ' in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _bad_literals(spec):
    """YAML literals of the wrong type, out of range, NaN or infinite for one parameter."""
    default = spec.default
    if isinstance(default, bool):
        return ['5', '1.5', '"text"', '[true]']
    if isinstance(default, list):
        return ['5', '"text"', '[1, 2]', '[]', '[1.5, "a"]']
    if isinstance(default, str):
        return ['5', '1.5', 'true', '[a, b]'] + (['"gpu"'] if spec.choices else [])
    low, high = spec.value_range
    if isinstance(default, int):
        return ['"text"', '1.5', 'true', '[1, 2]', str(int(high) + 1), str(int(low) - 1)]
    return ['"text"', 'true', '[1.0]', '5', '.nan', '.inf', '-.inf', repr(high * 2 + 1.0),
            repr(low - 1.0 - abs(low))]


@needs_ros
@settings(FUZZ, max_examples=12)
@given(data=st.data())
def test_a_bad_parameter_value_ends_the_node_with_one_error_line(data):
    from feagi_hailo_ros.runtime.settings import PARAMETERS
    spec = data.draw(st.sampled_from([s for s in PARAMETERS if s.name != 'autostart']),
                     label='parameter')
    literal = data.draw(st.sampled_from(_bad_literals(spec)), label='value')
    with tempfile.TemporaryDirectory() as folder:
        path, result = run_node(folder, params_with({spec.name: literal}))
        line = assert_refused(path, result)
    # the parameter, or the line of the file where rcl's parser stopped ([1.5, "a"])
    assert spec.name in line or re.search(r'line(_num)? \d+', line), line


@needs_ros
@pytest.mark.parametrize('values, words', [
    ({'vision_change_min': '200', 'vision_change_max': '10'}, ('vision_change_min',)),
    ({'proximity_min_m': '5.0', 'proximity_max_m': '1.0'}, ('proximity_max_m',)),
    ({'joint_position_min': '1.0', 'joint_position_max': '1.0'}, ('joint_position_max',)),
    ({'device': 'gpu'}, ('device', 'gpu')),
    ({'joint_names': '[]'}, ('joint_names', "['']")),
])
def test_values_refused_only_together_or_by_choice_end_the_node(tmp_path, values, words):
    path, result = run_node(tmp_path, params_with(values))
    assert_refused(path, result, *words)


@needs_ros
@pytest.mark.parametrize('content, words', [
    ('/**/feagi_hailo:\n  ros__parameters:\n    burst_rate_hz: [1, 2\n', ('line 4', 'YAML')),
    ('/**/feagi_hailo:\n  ros__parameters:\n\tburst_rate_hz: 5.0\n', ('line 3',)),
    (b'\x00\xff\xfe garbage', ('UTF-8',)),
    ('just text\n', ('top level',)),
    ('- a\n- b\n', ('top level',)),
    ('/**/feagi_hailo:\n  burst_rate_hz: 5.0\n', ('ros__parameters',)),
    ('/**/feagi_hailo:\n  ros__parameters: [1, 2]\n', ('ros__parameters',)),
])
def test_a_malformed_params_file_ends_the_node_with_one_error_line(tmp_path, content, words):
    path, result = run_node(tmp_path, content)
    assert_refused(path, result, *words)


@needs_ros
def test_missing_params_file_and_a_bad_command_line_value(tmp_path):
    path = tmp_path / 'missing.yaml'
    command = [sys.executable, '-m', 'feagi_hailo_ros.ros.node', '--ros-args',
               '--params-file', str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
    assert_refused(path, result, 'cannot read')
    path, result = run_node(tmp_path, params_with({}), '-p', 'burst_rate_hz:=fast')
    assert_refused(path, result, '(-p burst_rate_hz:=fast)', "'fast'")


@needs_ros
def test_sigterm_stops_a_node_that_waits_for_configure(tmp_path):
    """Autostart off: no timer runs, yet SIGTERM (and Ctrl-C) end the process at once."""
    path = tmp_path / 'params.yaml'
    path.write_text(params_with({}))
    process = subprocess.Popen(
        [sys.executable, '-m', 'feagi_hailo_ros.ros.node', '--ros-args', '--params-file',
         str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    try:
        line = process.stdout.readline()          # the node says it waits for configure
        assert 'autostart is off' in line, line
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5.0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(
    lambda t: t.encode('utf-8', 'surrogatepass')), st.sampled_from([
        b'a: [1, 2', b'- 1\n- 2\n', b'"x"\n', b'5\n', b'{}', b'', b'a:\n\tb: 1\n'])))
def test_params_file_check_names_the_file_or_lets_rcl_decide(raw):
    from feagi_hailo_ros.runtime.params_file import params_file_problem
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'params.yaml')
        with open(path, 'wb') as out:
            out.write(raw)
        problem = params_file_problem(path)
    if problem is not None:
        assert_one_line(problem, f'params file {path}: ')
