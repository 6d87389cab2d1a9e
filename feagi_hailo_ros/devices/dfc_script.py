"""The compile step of an exported partition: compile_hef.py for the Hailo DFC host.

compile_hef.py (the template `compile_hef.py` beside this module, copied unchanged) runs on
the DFC host, which has neither this package nor its dependencies: everything it needs is in
the partition folder (model.onnx, manifest.json, calib.npz). The manifest gains the ONNX node
that produces each output, since the DFC's end nodes and HN original_names are node names.
"""

from importlib import resources
import os
import stat
from typing import Dict, List

import onnx

SCRIPT_NAME = 'compile_hef.py'
SHELL_NAME = 'compile.sh'


def script_text() -> str:
    """The source of compile_hef.py."""
    return resources.files('feagi_hailo_ros.devices').joinpath(SCRIPT_NAME).read_text(
        encoding='utf-8')


def output_nodes(model: bytes) -> Dict[str, str]:
    """ONNX output tensor name -> the name of the node that produces it."""
    graph = onnx.load_from_string(model).graph
    outputs = {value.name for value in graph.output}
    found = {}
    for node in graph.node:
        for name in node.output:
            if name in outputs:
                found[name] = node.name or name
    missing = sorted(outputs - set(found))
    if missing:
        raise ValueError(f'ONNX graph {graph.name}: output {missing[0]} comes from no node')
    return found


def add_output_nodes(manifest: dict, model: bytes) -> dict:
    """A copy of the manifest whose outputs carry `onnx_node` (their producing node)."""
    nodes = output_nodes(model)
    out = dict(manifest)
    out['outputs'] = [{**spec, 'onnx_node': nodes[spec['name']]} for spec in manifest['outputs']]
    return out


def compile_commands(directory: str) -> List[str]:
    """The one command that turns the exported partition into model.hef (DFC venv active)."""
    return [f'python3 {os.path.join(directory, SCRIPT_NAME)}']


def write_compile_script(directory: str) -> str:
    """Write compile_hef.py and compile.sh (which runs it) into `directory`; return the script."""
    path = os.path.join(directory, SCRIPT_NAME)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(script_text())
    shell = os.path.join(directory, SHELL_NAME)
    with open(shell, 'w', encoding='utf-8') as handle:
        handle.write('#!/bin/sh\n# Hailo Dataflow Compiler 3.x (x86_64 Ubuntu), its virtual '
                     'environment active; target HailoRT 4.x\nset -e\n'
                     f'exec python3 "$(dirname "$0")/{SCRIPT_NAME}" "$@"\n')
    executable = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    for name in (path, shell):
        os.chmod(name, os.stat(name).st_mode | executable)
    return path
