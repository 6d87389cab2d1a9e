"""The node's parameter files and start-up errors, without rclpy: one clear line each.

rcl parses `--params-file` files itself; these helpers find the files on a command line,
check them first (unreadable, not YAML, a top level that is not a mapping of node names,
which rcl accepts silently), say which file set a refused parameter, and make any error one
line.
"""

import re
from typing import Any, List, Optional, Sequence

_RCL_SOURCE = re.compile(r',? at /\S+:\d+')   # rcl's ", at /project/src/parse.c:776"


def params_files(argv: Sequence[str]) -> List[str]:
    """Return the files named by `--params-file FILE` in a ROS command line, in order."""
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == '--params-file']


def _load(path: str) -> Any:
    """The YAML content of a file, or None when it cannot be read or parsed."""
    try:
        return _parse(path)
    except (ImportError, OSError, ValueError):
        return None


def _parse(path: str) -> Any:
    """The YAML content of a file; OSError, ValueError (not UTF-8 or not YAML), ImportError."""
    import yaml
    with open(path, 'rb') as handle:
        text = handle.read().decode('utf-8')
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f'line {mark.line + 1}, column {mark.column + 1}: ' if mark else ''
        raise ValueError(one_line(f'{where}{getattr(exc, "problem", None) or exc}')) \
            from None


def params_file_problem(path: str) -> Optional[str]:
    """Why a params file cannot hold node parameters, or None.

    Checked before rcl reads the file (rcl logs its own line first, and accepts a file whose
    top level is a plain value or a list silently: the node would run on its defaults).
    """
    try:
        content = _parse(path)
    except ImportError:
        return None      # no PyYAML: rcl still checks the syntax
    except OSError as exc:
        return f'params file {path}: cannot read the file ({exc.strerror or exc})'
    except UnicodeDecodeError as exc:
        return f'params file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})'
    except ValueError as exc:
        return f'params file {path}: not valid YAML ({exc})'
    if content is None or isinstance(content, dict):
        return None
    return (f'params file {path}: the top level is {type(content).__name__} '
            f'{_shown(content)}, not a mapping of node names to ros__parameters')


def parameter_source(name: str, argv: Sequence[str]) -> str:
    """Where a parameter's value came from: a `-p` override (they win), or the last file."""
    for i, arg in enumerate(argv[:-1]):
        if arg in ('-p', '--param') and argv[i + 1].split(':=', 1)[0].split(':')[-1] == name:
            return f'the command line (-p {argv[i + 1]})'
    source = 'the command line'
    for path in params_files(argv):
        if _sets(_load(path), name):
            source = f'params file {path}'
    return source


def _sets(node: Any, name: str) -> bool:
    if not isinstance(node, dict):
        return False
    parameters = node.get('ros__parameters')
    if isinstance(parameters, dict) and name in parameters:
        return True
    return any(_sets(child, name) for key, child in node.items() if key != 'ros__parameters')


def one_line(text: Any) -> str:
    """Return an error text on one line, without rcl's source-file locations."""
    return ' '.join(_RCL_SOURCE.sub('', str(text)).split())


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'
