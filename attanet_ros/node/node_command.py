"""How the node is started as a process: the one command line that the demo, ``attanet ros-bench``
and the test harness build (``python -m attanet_ros.node --ros-args ...``, no console script on
PATH needed)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

NODE_MODULE = "attanet_ros.node"


def ros_value(value: Any) -> str:
    """A parameter value as ``-p name:=value`` writes it (YAML: true/false, [a,b])."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def node_command(
    *,
    params: Mapping[str, Any] | None = None,
    params_file: str | Path | None = None,
    remaps: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    module: str = NODE_MODULE,
    faulthandler: bool = False,
) -> list[str]:
    """``python -m <module> --ros-args`` with ``remaps`` (``-r from:=to``, e.g. ``__ns`` or ``image``),
    then ``params_file``, then ``params`` (``-p``, which override the file), then ``extra_args``.
    ``faulthandler``: a crash leaves the node's thread stacks in its output (tests)."""
    command = [sys.executable, *(["-X", "faulthandler"] if faulthandler else []), "-m", module, "--ros-args"]
    for source, target in (remaps or {}).items():
        command += ["-r", f"{source}:={target}"]
    if params_file is not None:
        command += ["--params-file", str(params_file)]
    for name, value in (params or {}).items():
        command += ["-p", f"{name}:={ros_value(value)}"]
    return command + list(extra_args)
