"""What the launch file's arguments become for the node (shared by the launch file and tests).

Arguments left empty keep the params file's value, so `device:=hailo` overrides the file
while a plain launch uses it unchanged. No `launch` import here: tests run without it.
"""

from typing import Any, Dict, List, Sequence, Tuple

# Launch arguments that override one node parameter each, and how to parse their text.
OVERRIDE_ARGUMENTS = {'genome': str, 'device': str, 'burst_rate_hz': float}


def parameter_overrides(arguments: Dict[str, str]) -> Dict[str, Any]:
    """Return {parameter: value} for the override arguments that were given (non-empty)."""
    overrides: Dict[str, Any] = {}
    for name, parse in OVERRIDE_ARGUMENTS.items():
        text = str(arguments.get(name, '') or '').strip()
        if text:
            try:
                overrides[name] = parse(text)
            except ValueError:
                raise ValueError(f"launch argument {name}:='{text}' is not a "
                                 f'{parse.__name__}') from None
    return overrides


def remappings(arguments: Dict[str, str]) -> List[Tuple[str, str]]:
    """Return (from, to) topic remappings for the image_topic and cmd_vel_topic arguments.

    The compressed stream follows image_transport's naming: `<image_topic>/compressed`.
    """
    pairs: List[Tuple[str, str]] = []
    image = str(arguments.get('image_topic', '') or '').strip()
    if image:
        pairs += [('image_raw', image), ('image_raw/compressed', image + '/compressed')]
    cmd_vel = str(arguments.get('cmd_vel_topic', '') or '').strip()
    if cmd_vel:
        pairs.append(('cmd_vel', cmd_vel))
    return pairs


def ros_arguments(params_file: str, namespace: str, overrides: Dict[str, Any],
                  remaps: Sequence[Tuple[str, str]] = ()) -> List[str]:
    """Return the `--ros-args ...` command line the launch file's Node action amounts to."""
    args = ['--ros-args', '-r', '__node:=feagi_hailo']
    for source, target in remaps:
        args += ['-r', f'{source}:={target}']
    if namespace:
        args += ['-r', f"__ns:={namespace if namespace.startswith('/') else '/' + namespace}"]
    if params_file:
        args += ['--params-file', params_file]
    for name, value in overrides.items():
        text = value if not isinstance(value, str) else (value or "''")
        args += ['-p', f'{name}:={text}']
    return args
