"""The brain as the node sees it: an engine with the encoders and decoders of its areas.

Sensor values are encoded into injections between bursts and injected at once, by neuron
index, when the burst runs; fired sets are decoded into motor values and gaze, and into
points for the brain view. No ROS here (runtime.loading builds it from the settings).
"""

import math
import time
from typing import Any, Dict, List, Optional, Set, Tuple

from feagi_hailo_ros.io import image as io_image
from feagi_hailo_ros.io import motors as io_motors
from feagi_hailo_ros.io import scalars as io_scalars
from feagi_hailo_ros.io import vision
from feagi_hailo_ros.io.areas import find_gaze_area, find_motor_areas
from feagi_hailo_ros.io.injections import Injections
from feagi_hailo_ros.runtime.learning import carry_over, LearnedState, PlasticWeights, \
    WeightsView
from feagi_hailo_ros.runtime.sensors import IMU_AXES, input_areas
import numpy as np

WARM_UP_POTENTIAL = 1000.0   # injected at warm-up into every area, enough to fire


def host_temperature_c(zone: str = '/sys/class/thermal/thermal_zone0/temp') -> Optional[float]:
    """Return the host's SoC/CPU temperature where Linux exposes it (a Pi 5 does), else None."""
    try:
        with open(zone, encoding='ascii') as source:
            return int(source.read().strip()) / 1000.0
    except (OSError, ValueError):
        return None


class BrainRuntime:
    """A brain ready to burst, with the encoders and decoders of its input and output areas."""

    def __init__(self, connectome, engine, device_name: str, settings: Dict[str, Any],
                 logger=None):
        """Find the sensory and motor areas and build their encoders and decoders."""
        self.connectome = connectome
        self.engine = engine
        self.device_name = device_name
        self.areas = list(connectome.areas)
        self.area_ids = tuple(area.id for area in self.areas)
        self._positions = np.array([area.position for area in self.areas],
                                   dtype=np.float32).reshape(-1, 3)
        self._logger = logger
        self.vision = None
        self.inputs: Set[str] = set()
        self._scalar_area: Dict[str, int] = {}
        self._pending: List[Injections] = []
        self.warm_up_s = 0.0
        self.startup: Dict[str, Any] = {}
        if self._has_vision_areas():
            self.vision = vision.SegmentedVisionEncoder(
                self.areas, vision.Gaze(float(settings['gaze_x']), float(settings['gaze_y']),
                                        float(settings['gaze_modulation'])),
                (int(settings['vision_change_min']), int(settings['vision_change_max'])))
            self.inputs.add('vision')
        for kind, (units, parameter) in input_areas().items():
            index = self._find_input_area(str(settings.get(parameter, '')), units)
            if index is not None:
                self._scalar_area[kind] = index
                self.inputs.add(kind)
        self.motor_areas = find_motor_areas(self.areas)
        self._motor_slices: List[slice] = []
        count = 0
        for motor_area in self.motor_areas:
            size = len(io_motors.decode_area(motor_area.kind, [], [], motor_area.dims))
            self._motor_slices.append(slice(count, count + size))
            count += size
        self.motor_count = count
        self._gaze_area = find_gaze_area(self.areas)
        self._area_start = np.asarray(connectome.area_start, dtype=np.int64)
        self.learning = WeightsView(engine)

    # ---------------------------------------------------------------- areas
    def _has_vision_areas(self) -> bool:
        from feagi_hailo_ros.io.areas import find_vision_areas
        return bool(find_vision_areas(self.areas))

    def _find_input_area(self, wanted: str, units: Tuple[str, ...]) -> Optional[int]:
        """Index of the area named by a parameter ('' = first input area of the unit)."""
        if wanted == 'none':
            return None
        if wanted:
            if wanted not in self.area_ids:
                raise ValueError(f"area '{wanted}' is not in the genome; its areas are "
                                 f"{', '.join(self.area_ids)}")
            return self.area_ids.index(wanted)
        for index, area in enumerate(self.areas):
            if area.role == 'input' and area.unit in units:
                return index
        return None

    def channels(self, kind: str) -> int:
        """Return the column count (one column per channel) of the input area of `kind`."""
        index = self._scalar_area[kind]
        return int(self.areas[index].dims[0])

    def area_boxes(self) -> List[Tuple[str, Tuple[int, int, int], Tuple[int, int, int]]]:
        """(label, position, dims) of every area, for the cortical_areas markers."""
        out = []
        for area in self.areas:
            label = area.id if not area.name or area.name == area.id \
                else f'{area.name} ({area.id})'
            out.append((label, tuple(area.position), tuple(area.dims)))
        return out

    def summary(self) -> str:
        """One line about the brain: areas, neurons, synapses, inputs, motors, learning."""
        learning = self.learning.summary()
        return (f'{len(self.areas)} areas, {self.connectome.n_neurons} neurons, '
                f'{self.connectome.n_synapses} synapses, inputs: '
                f"{', '.join(sorted(self.inputs)) or 'none'}, motors: {self.motor_count}"
                + (f', {learning}' if learning else ''))

    # ---------------------------------------------------------------- learning
    def learned_state(self) -> Optional[LearnedState]:
        """A copy of what the brain learned (None: no plastic pairs), for `carry_learned`."""
        return LearnedState.take(self.engine)

    def carry_learned(self, learned: Optional[LearnedState], keep: bool) -> Tuple[str, str]:
        """Take over a previous runtime's learned state if `keep` and it fits this brain.

        Logs and returns (log level, message); ('', '') when there is nothing to say.
        """
        level, text = carry_over(learned, self.engine, keep)
        if self._logger is not None and level == 'warning':
            self._logger.warning(text)
        elif self._logger is not None and text:
            self._logger.info(text)
        return level, text

    def plastic_weights(self) -> Optional[PlasticWeights]:
        """The plastic pairs' current weights (between bursts); None without plastic pairs."""
        return self.learning.weights()

    # ---------------------------------------------------------------- inputs
    def set_vision(self, gaze_x: float, gaze_y: float, modulation: float, change_min: int,
                   change_max: int) -> None:
        """Move the gaze and set the change-detection range of the vision encoder."""
        if self.vision is None:
            return
        from feagi_hailo_ros.io.vision import Gaze
        self.vision.set_gaze(Gaze(float(gaze_x), float(gaze_y), float(modulation)))
        self.vision.set_change_range((int(change_min), int(change_max)))

    def encode_frame(self, rgb: np.ndarray) -> int:
        """Encode an RGB frame for the next burst; return the number of injections."""
        if self.vision is None:
            return 0
        injections = self.vision.encode(rgb)
        self._pending.append(injections)
        return len(injections)

    def encode_image(self, encoding: str, width: int, height: int, step: int,
                     is_bigendian: bool, data: io_image.Buffer) -> int:
        """Convert a raw ROS image's fields to RGB and encode it (ValueError if malformed)."""
        rgb = io_image.image_to_rgb(data, width, height, encoding, step, is_bigendian)
        return self.encode_frame(rgb)

    def encode_compressed(self, fmt: str, data: io_image.Buffer) -> int:
        """Decode a compressed ROS image (jpeg/png) and encode it."""
        return self.encode_frame(io_image.compressed_to_rgb(data, fmt))

    def encode_scalars(self, kind: str, values: np.ndarray, signed: bool) -> int:
        """Encode normalised values (0..1, or -1..1 when signed) into the area of `kind`."""
        index = self._scalar_area.get(kind)
        if index is None:
            return 0
        width, _, depth = self.areas[index].dims
        values = np.asarray(values, dtype=np.float64)
        if kind == 'imu':
            channels = max(1, min(len(values) // IMU_AXES, width // (2 * IMU_AXES)))
            x, z = io_scalars.encode_multi_axis(
                values[:channels * IMU_AXES].reshape(channels, IMU_AXES), depth, 'imu')
        elif signed:
            x, z = io_scalars.encode_signed(values[:max(1, width // 2)], depth, kind)
        else:
            x, z = io_scalars.encode_unsigned(values[:width], depth, kind)
        injections = io_scalars.scalar_injections(self.area_ids, index, x, z, width)
        self._pending.append(injections)
        return len(injections)

    # ---------------------------------------------------------------- burst
    def warm_up(self, bursts: int = 3) -> float:
        """Run bursts that compile the kernels (and wake devices), then rewind the state.

        The first bursts of a fresh process compile the numba kernels (seconds where the
        cache is cold); doing it at configure keeps it out of the timed loop. The first
        neuron of every area is injected, so that spikes are propagated (each kernel of a
        burst with input runs). The engine's state is restored exactly, so the brain's run
        is the same as without the warm-up. Returns the seconds it took.
        """
        started = time.perf_counter()
        saved = self.engine.state
        try:
            for _ in range(bursts):
                for area_id in self.area_ids:
                    self.engine.inject(area_id, 0, 0, 0, WARM_UP_POTENTIAL)
                self.engine.burst()
        finally:
            self.engine.state = saved
        return time.perf_counter() - started

    def startup_summary(self) -> str:
        """One line: how long start-up took and whether the kernel cache was warm."""
        s = self.startup
        if not s:
            return f'warm-up {self.warm_up_s:.2f} s'
        return (f"start-up: brain {s['brain_s']:.2f} s, engine and devices "
                f"{s['engine_s']:.2f} s, warm-up {s['warm_up_s']:.2f} s; numba kernel cache "
                f"{s['kernel_cache']} ({s['kernels_loaded']} loaded, "
                f"{s['kernels_compiled']} compiled)")

    def burst(self) -> np.ndarray:
        """Inject at once what was encoded since the last burst, then run a burst.

        Returns the fired indices. Injections are summed in the order they were encoded.
        """
        pending, self._pending = self._pending, []
        indices, potentials = [], []
        for injections in pending:
            for area_index, x, y, z, p in injections.by_area_index():
                indices.append(self.connectome.voxel_neuron(area_index, x, y, z))
                potentials.append(p)
        if indices:
            self.engine.inject_indices(np.concatenate(indices), np.concatenate(potentials))
        return self.engine.burst()

    def _area_fired(self, fired: np.ndarray, area_index: int):
        """(x, z) of the fired neurons of one area (fired is sorted ascending)."""
        lo, hi = np.searchsorted(fired, self._area_start[area_index:area_index + 2])
        _, x, _, z = self._coords(fired[lo:hi])
        return x, z

    def decode_motors(self, fired: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(values, fired mask) of every motor, areas in genome order; values of silent = 0.

        A gaze area that fired moves the vision encoder's gaze for the next frame.
        """
        fired = np.asarray(fired, dtype=np.int64)
        values = np.zeros(self.motor_count)
        spoke = np.zeros(self.motor_count, dtype=bool)
        for motor_area, part in zip(self.motor_areas, self._motor_slices):
            x, z = self._area_fired(fired, motor_area.area_index)
            if x.size:
                decoded = io_motors.decode_area(motor_area.kind, x, z, motor_area.dims,
                                                silent=math.nan)
                spoke[part] = ~np.isnan(decoded)
                values[part] = np.nan_to_num(decoded, nan=0.0)
        if self._gaze_area is not None and self.vision is not None:
            index, area = self._gaze_area
            x, z = self._area_fired(fired, index)
            if x.size:
                ex, ey, modulation = io_motors.decode_gaze(x, z, tuple(area.dims))
                gaze = self.vision.gaze
                self.vision.set_gaze(type(gaze)(
                    gaze.ex if ex is None else ex, gaze.ey if ey is None else ey,
                    gaze.modulation if modulation is None else modulation))
        return values, spoke

    def fired_points(self, indices: np.ndarray, scale_m: float
                     ) -> Tuple[np.ndarray, np.ndarray]:
        """Positions (metres, voxel centres placed at each area's genome position) and area."""
        area, x, y, z = self._coords(indices)
        xyz = np.stack([x, y, z], axis=1).astype(np.float32) + np.float32(0.5)
        xyz += self._positions[area]
        xyz *= np.float32(scale_m)
        return xyz, area.astype(np.float32)

    def _coords(self, indices: np.ndarray):
        """(area index, x, y, z) of neuron indices."""
        idx = np.asarray(indices, dtype=np.int64)
        area = np.asarray(self.connectome.neuron_area)[idx].astype(np.int64)
        x, y, z = self.connectome.coords(idx)
        return area, x, y, z

    # ---------------------------------------------------------------- health
    @property
    def fallbacks(self) -> int:
        """Device faults so far (each one sends its partition to the CPU for a while)."""
        return len(getattr(self.engine, 'faults', ()))

    def health(self) -> Dict[str, Any]:
        """Device health for diagnostics: mode, status, temperature... per device partition."""
        values: Dict[str, Any] = {'healthy': True, 'neurons': self.connectome.n_neurons,
                                  'synapses': self.connectome.n_synapses}
        describe = getattr(self.engine, 'describe', None)
        partitions = describe() if callable(describe) else []
        values['partitions'] = len(partitions)
        for number, part in enumerate(partitions):
            prefix = f'p{number}_'
            values[prefix + 'partition'] = part.get('partition', '')
            values[prefix + 'mode'] = part.get('mode', '')
            values[prefix + 'exact'] = part.get('exact', '')
            values[prefix + 'faults'] = part.get('faults', 0)
            for key in ('last_fault', 'failed_reopens', 'retry_in_bursts', 'startup_s'):
                if part.get(key) not in (None, ''):
                    values[prefix + key] = part[key]
            for key in ('name', 'status', 'temperature_c', 'utilization', 'power_w',
                        'emulated'):
                value = part.get('device', {}).get(key)
                if value is not None:
                    values[prefix + key] = value
        temperature = host_temperature_c()
        if temperature is not None:
            values['host_temperature_c'] = round(temperature, 1)
        faults = getattr(self.engine, 'faults', [])
        if faults:
            values['last_fault'] = str(faults[-1].get('reason', faults[-1]))
        return values

    def close(self) -> None:
        """Release the engine's threads and devices."""
        close = getattr(self.engine, 'close', None)
        if callable(close):
            close()
