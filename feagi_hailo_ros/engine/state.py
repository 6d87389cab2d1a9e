"""Neuron state in struct-of-arrays form, its checkpoint file and the brain's fingerprint."""

from dataclasses import dataclass, field, fields
import json
import os
from pathlib import Path
from typing import Dict, Union
import zipfile
import zlib

from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.params import NeuronParams
import numpy as np

CHECKPOINT_FORMAT = 'feagi-hailo-engine-state/1'


class CheckpointError(ValueError):
    """A checkpoint file that cannot be restored; the message names the file and the reason."""


@dataclass
class NeuronState:
    """Everything that changes from burst to burst; with the brain it resumes a run exactly.

    `fired` / `fired_potential` are the last burst's fired neurons (ascending) and their
    potentials at firing (they propagate in the next burst). `pending_indices` /
    `pending_input` are the fire-candidate inputs queued for the next burst (injections).
    """

    potential: np.ndarray               # float32[N]
    refractory_countdown: np.ndarray    # uint16[N]
    consecutive_fires: np.ndarray       # uint16[N]
    fired: np.ndarray                   # int64[F] (the engine holds them as int32)
    fired_potential: np.ndarray         # float32[F]
    pending_indices: np.ndarray         # int64[P]
    pending_input: np.ndarray           # float32[P]
    burst_count: int = 0
    # learning state of plastic pairs (engine.plastic.PlasticState.arrays), else empty
    plastic: Dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def zeros(cls, n_neurons: int) -> 'NeuronState':
        """Return the state of a brain that has not run: everything at rest."""
        return cls(np.zeros(n_neurons, np.float32), np.zeros(n_neurons, np.uint16),
                   np.zeros(n_neurons, np.uint16), np.zeros(0, np.int64),
                   np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32), 0)

    def copy(self) -> 'NeuronState':
        """Return a deep copy."""
        arrays = {f.name: getattr(self, f.name).copy() for f in fields(self)
                  if f.name not in _NOT_ARRAYS}
        return NeuronState(**arrays, burst_count=self.burst_count,
                           plastic={k: v.copy() for k, v in self.plastic.items()})

    def validate(self, n_neurons: int) -> None:
        """Raise ValueError naming the field when the state does not fit a brain of N.

        Kinds are checked too (numbers, integer counters and indices, counters >= 0), so a
        state that passes can be copied into the engine's arrays without a failure half-way.
        """
        for name in ('potential', 'refractory_countdown', 'consecutive_fires', 'fired',
                     'fired_potential', 'pending_indices', 'pending_input'):
            array = getattr(self, name)
            kinds = 'fiu' if name in ('potential', 'fired_potential', 'pending_input') else 'iu'
            if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds:
                raise ValueError(f'state field {name!r} holds {_dtype_of(array)}, not '
                                 f"{'numbers' if 'f' in kinds else 'integers'}")
            if array.ndim != 1:
                raise ValueError(f'state field {name!r} has shape {array.shape}, not a list')
        for name in ('potential', 'refractory_countdown', 'consecutive_fires'):
            if getattr(self, name).shape != (n_neurons,):
                raise ValueError(f'state field {name!r} has shape {getattr(self, name).shape}, '
                                 f'the brain has {n_neurons} neurons')
        for name in ('refractory_countdown', 'consecutive_fires'):
            array = getattr(self, name)
            if array.size and (array.min() < 0 or array.max() > np.iinfo(np.uint16).max):
                raise ValueError(f'state field {name!r} holds counts outside 0..65535')
        for idx, val in (('fired', 'fired_potential'), ('pending_indices', 'pending_input')):
            a, b = getattr(self, idx), getattr(self, val)
            if a.shape != b.shape:
                raise ValueError(f'state fields {idx!r} and {val!r} differ in length')
            if a.size and (a.min() < 0 or a.max() >= n_neurons):
                raise ValueError(f'state field {idx!r} holds a neuron index outside '
                                 f'0..{n_neurons - 1}')
        if self.fired.size > 1 and np.any(np.diff(self.fired) <= 0):
            raise ValueError("state field 'fired' must be strictly ascending")

    def save(self, path: Union[str, Path], fingerprint: dict) -> None:
        """Write the state and the brain's fingerprint to one .npz file (atomically)."""
        path = Path(path)
        tmp = path.with_name(path.name + '.tmp')
        meta = dict(fingerprint, format=CHECKPOINT_FORMAT, burst_count=int(self.burst_count))
        arrays = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in _NOT_ARRAYS}
        arrays.update(self.plastic)
        with open(tmp, 'wb') as handle:
            np.savez(handle, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Union[str, Path], fingerprint: dict) -> 'NeuronState':
        """Read a checkpoint; CheckpointError (naming the file) when it cannot be restored.

        Unreadable, truncated or foreign files and checkpoints written for another brain are
        refused; the state's fit to a brain is checked by `validate`.
        """
        try:
            loaded = np.load(Path(path), allow_pickle=False)
            if not hasattr(loaded, 'files'):    # an .npy: one array, not an archive
                raise CheckpointError(f'checkpoint {path}: not an engine state file (one '
                                      'array, not an .npz archive of the state fields)')
            with loaded as data:
                meta = _read_meta(path, data)
                if meta.get('plastic_pairs') and 'plastic_pairs' not in fingerprint:
                    raise CheckpointError(
                        f'checkpoint {path}: written for a brain with plastic pairs '
                        f"{_shown(meta['plastic_pairs'])}, this brain has none; restore it "
                        'into the brain it came from')
                for key, value in fingerprint.items():
                    if meta.get(key) != value:
                        raise CheckpointError(
                            f'checkpoint {path}: written for another brain ({key} is '
                            f'{_shown(meta.get(key))}, this brain has {_shown(value)}); restore '
                            'it into the brain it came from')
                missing = [f.name for f in fields(cls)
                           if f.name not in _NOT_ARRAYS and f.name not in data.files]
                if missing:
                    raise CheckpointError(f'checkpoint {path}: fields {", ".join(missing)} are '
                                          'missing (truncated or not an engine state file?)')
                kwargs = {f.name: data[f.name].copy() for f in fields(cls)
                          if f.name not in _NOT_ARRAYS}
                kwargs['plastic'] = {k: data[k].copy() for k in data.files
                                     if k.startswith('plastic_')}
        except CheckpointError:
            raise
        except OSError as exc:
            if not os.path.exists(path):
                raise CheckpointError(f'checkpoint {path}: cannot read the file '
                                      f'({exc.strerror or exc})') from None
            raise CheckpointError(f'checkpoint {path}: not a readable engine state file '
                                  f'({_one_line(exc)})') from None
        except (ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise CheckpointError(f'checkpoint {path}: not a readable engine state file '
                                  f'({type(exc).__name__}: {_one_line(exc)})') from None
        count = meta.get('burst_count')
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise CheckpointError(f'checkpoint {path}: burst_count {_shown(count)} is not a '
                                  'count of bursts')
        return cls(burst_count=count, **kwargs)


_NOT_ARRAYS = ('burst_count', 'plastic')


def _read_meta(path, data) -> dict:
    """The JSON object stored in a checkpoint's 'meta' field, or CheckpointError."""
    if 'meta' not in data.files:
        raise CheckpointError(f'checkpoint {path}: not an engine state file (no meta field)')
    try:
        meta = json.loads(data['meta'].tobytes().decode('utf-8'))
    except ValueError as exc:    # JSON and UTF-8 errors
        raise CheckpointError(f'checkpoint {path}: its meta field is not JSON '
                              f'({_one_line(exc)})') from None
    if not isinstance(meta, dict) or meta.get('format') != CHECKPOINT_FORMAT:
        found = meta.get('format') if isinstance(meta, dict) else meta
        raise CheckpointError(f'checkpoint {path}: not an engine state file (format '
                              f'{_shown(found)}, expected {CHECKPOINT_FORMAT!r})')
    return meta


def _dtype_of(array) -> str:
    return f'{array.dtype} values' if isinstance(array, np.ndarray) else type(array).__name__


def _one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split())[:200]


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def array_checksum(*arrays, chunk: int = 1 << 20) -> int:
    """Return a CRC32 over arrays' bytes (a brain fingerprint for checkpoints).

    An item may be `(array, dtype)`: the bytes of the array converted to dtype, converted
    `chunk` elements at a time (no full copy).
    """
    crc = 0
    for item in arrays:
        arr, dtype = item if isinstance(item, tuple) else (item, None)
        arr = np.ascontiguousarray(arr).reshape(-1)
        if dtype is None or arr.dtype == dtype:
            crc = zlib.crc32(arr.view(np.uint8), crc)
            continue
        for at in range(0, arr.size, chunk):
            crc = zlib.crc32(arr[at:at + chunk].astype(dtype).view(np.uint8), crc)
    return crc


def compact_state(params: NeuronParams) -> NeuronState:
    """Return the rest state with the smallest counters the brain's genes allow."""
    n = params.n_neurons
    longest = int((params.refractory.astype(np.int64) + params.snooze).max(initial=0))
    countdown = np.uint8 if longest <= np.iinfo(np.uint8).max else np.uint16
    limited = bool(np.any(params.consecutive_limit > 0))
    state = NeuronState.zeros(0)
    state.potential = np.zeros(n, np.float32)
    state.refractory_countdown = np.zeros(n, countdown)
    state.consecutive_fires = np.zeros(n if limited else 0, np.uint16)
    return state


def brain_fingerprint(model: EngineModel) -> dict:
    """Return what identifies a brain in a checkpoint.

    Sizes, area ids, the plastic pairs with their parameters, and a checksum.
    """
    p, syn = model.params, model.synapses
    index = np.int32 if model.n_neurons < 2 ** 31 else np.int64
    extra = () if model.plastic is None else (
        (model.plastic.indptr, np.int64), (model.plastic.target, index),
        model.plastic.initial, model.plastic.negative)
    out = {'n_neurons': model.n_neurons, 'n_synapses': model.n_synapses,
           'areas': list(model.layout.ids)}
    if model.plastic is not None:     # compared before the checksum: the reason is named
        out['plastic_pairs'] = model.plastic.describe()
    out.update({
        # indptr and targets as int64 / int32 whatever their dtype in memory, so a
        # checkpoint's fingerprint does not depend on how the CSR is stored
        'checksum': array_checksum(
            *p.arrays().values(), (syn.indptr, np.int64), (syn.target, index), syn.weight,
            *extra)})
    return out
