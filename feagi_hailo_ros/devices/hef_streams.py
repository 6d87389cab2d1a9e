"""A compiled HEF's streams against the export's manifest: names, shapes and quantisation.

devices.hailo reads the HEF through HailoRT and hands plain data here (no `hailo_platform`).
A HEF names its streams after its own layers (`<net>/input_layer1`, `<net>/conv5`); the
ONNX names the manifest records are the streams' original names. Streams are paired with
manifest tensors only through those names, never by order or shape (two same-shaped outputs
would swap silently). The quantisation a matched stream reports must be what the manifest
asks of the compile, or what a compile report recorded of the HEF (`hef_quant`).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from feagi_hailo_ros.devices.base import DeviceUnavailable

SCALE_RTOL = 1e-3          # relative tolerance of qp_scale (a float32 in the HEF)
ZP_ATOL = 1e-2             # absolute tolerance of qp_zp (an integer held as a float)
RECOMPILE = ('export and compile again (compile.sh: model.alls and calib.npz from the same '
             'export), or record the compiled quantisation in the manifest with the compile '
             'report (hef_quant)')


@dataclass(frozen=True)
class HefStream:
    """One vstream of a HEF as HailoRT describes it."""

    name: str                       # '<net>/input_layer1', '<net>/conv5', ...
    direction: str                  # 'input' or 'output'
    shape: Tuple[int, ...]          # NHWC without the batch: (X, Y, Z) for the host
    qp_scale: float
    qp_zp: float
    originals: Tuple[str, ...]      # HEF.get_original_names_from_vstream_name(name)


def match_streams(manifest: dict, streams: List[HefStream], stream_of: Dict[str, Optional[str]],
                  device: str) -> List[Tuple[dict, HefStream]]:
    """Pair every manifest tensor with exactly one stream and every stream with one tensor.

    `stream_of[name]` is HEF.get_vstream_name_from_original_name(name) (None: not found); a
    pair needs it to name a stream of the tensor's direction whose original names hold the
    name. Anything unmatched is refused (DeviceUnavailable naming every such name).
    """
    pairs, problems = [], []
    for what in ('input', 'output'):
        specs = manifest[f'{what}s']
        mine = {s.name: s for s in streams if s.direction == what}
        wanted = {spec['name'] for spec in specs}
        for spec in specs:
            name = spec['name']
            found = stream_of.get(name)
            stream = mine.get(found) if found else None
            if stream is None:
                where = f' (it names {found}, not an {what} stream)' if found else ''
                problems.append(f'manifest {what} {name} has no {what} stream{where}')
            elif name not in stream.originals:
                problems.append(f'manifest {what} {name}: the HEF maps it to {stream.name}, '
                                f'whose original names are {list(stream.originals)}')
            else:
                pairs.append((spec, stream))
        for stream in mine.values():
            claimed = [n for n in stream.originals if n in wanted]
            if not claimed:
                problems.append(f'{what} stream {stream.name} (original names '
                                f'{list(stream.originals)}) is no manifest {what}')
            elif len(claimed) > 1:
                problems.append(f'{what} stream {stream.name} stands for several manifest '
                                f'{what}s: {claimed}')
    if problems:
        raise DeviceUnavailable(
            f'{device}: the HEF does not fit this export (compiled from another export?): '
            + '; '.join(problems) + '. Export and compile again (compile.sh), one model.hef '
            "in each partition's folder.",
            reason=f'HEF streams do not match the manifest: {problems[0]}')
    return pairs


def expected_quant(spec: dict, manifest: dict, stream: str) -> Tuple[float, float, str]:
    """(qp_scale, qp_zp, source) the HEF must report for a manifest tensor.

    A compile report's `hef_quant` entry (keyed by tensor or stream name, with qp_scale and
    qp_zp) wins; else the manifest's scale, with the zero point its model script forces:
    mid-range for signed currents, 0 for inputs and reach (`zero_point` overrides).
    """
    recorded = manifest.get('hef_quant') or {}
    entry = recorded.get(spec['name']) or recorded.get(stream)
    if entry:
        scale = entry.get('qp_scale', entry.get('scale'))
        zero = entry.get('qp_zp', entry.get('zero_point', 0.0))
        return float(scale), float(zero), 'compile report'
    zero = spec.get('zero_point')
    if zero is None:
        zero = 2 ** (int(spec['bits']) - 1) if spec.get('kind') == 'current' else 0
    return float(spec['scale']), float(zero), 'manifest'


def check_quantisation(pairs: List[Tuple[dict, HefStream]], manifest: dict,
                       device: str) -> None:
    """Refuse a matched stream whose shape or quant_info is not what the manifest expects."""
    problems = []
    for spec, stream in pairs:
        what = stream.direction
        want_shape = tuple(int(d) for d in spec['hef_shape'])
        if stream.shape != want_shape:
            problems.append(f'{what} {spec["name"]} (stream {stream.name}): shape '
                            f'{stream.shape}, expected {want_shape}')
            continue
        scale, zero, source = expected_quant(spec, manifest, stream.name)
        scale_ok = abs(stream.qp_scale - scale) <= SCALE_RTOL * max(abs(scale), 1e-30)
        if not scale_ok or abs(stream.qp_zp - zero) > ZP_ATOL:
            problems.append(f'{what} {spec["name"]} (stream {stream.name}): qp_scale '
                            f'{stream.qp_scale:g}, qp_zp {stream.qp_zp:g}; expected ({source}) '
                            f'qp_scale {scale:g}, qp_zp {zero:g}')
    if problems:
        raise DeviceUnavailable(
            f'{device}: the HEF is not quantised as the manifest expects: '
            + '; '.join(problems) + f'. {RECOMPILE[0].upper()}{RECOMPILE[1:]}.',
            reason=f'HEF quantisation differs from the manifest: {problems[0]}')


def describe_pairs(pairs: List[Tuple[dict, HefStream]]) -> str:
    """'in_3=<net>/input_layer1, ...' for health notes."""
    return ', '.join(f'{spec["name"]}={stream.name}' for spec, stream in pairs)
