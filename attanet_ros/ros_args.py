"""What the command line gives the node, read before ``rclpy.init``; ROS-free.

rclpy silently ignores a parameter nobody declares (``confidence_treshold: 0.5`` in a params
file just does nothing) and answers a missing or malformed ``--params-file`` with a traceback.
``command_line_problems`` reads the ``--ros-args`` the way rcl does (``--params-file``, ``-p``,
the ``__ns`` / ``__node`` remaps that make the node's fully-qualified name) and says in words
what is wrong: files it cannot read, YAML it cannot parse, keys for this node that no parameter
of the table has (with a "did you mean"). Sections for other nodes are left alone.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Parameters rclpy itself declares on every node, and its QoS-override namespace.
ROS_OWNED = ("use_sim_time", "start_type_description_service")
ROS_OWNED_PREFIXES = ("qos_overrides.",)
_WITH_VALUE = {"-p", "--param", "-r", "--remap", "--params-file", "-e", "--enclave", "--log-level", "--log-file-name"}
_WITH_VALUE |= {"--log-config-file"}


@dataclass
class RosArgs:
    """The parts of ``--ros-args`` that decide which parameters reach the node."""

    params_files: list[str] = field(default_factory=list)
    params: list[tuple[str, str, str]] = field(default_factory=list)  # (node prefix or "", name, the raw arg)
    remaps: list[str] = field(default_factory=list)


def split_ros_args(argv: Iterable[str]) -> tuple[list[str], RosArgs]:
    """(the user's own arguments, the ROS arguments) of a command line, as rcl splits them:
    everything between ``--ros-args`` and ``--`` (or the end) is ROS's."""
    user: list[str] = []
    ros = RosArgs()
    tokens = iter(argv)
    in_ros = False
    for token in tokens:
        if token == "--ros-args":
            in_ros = True
        elif in_ros and token == "--":
            in_ros = False
        elif not in_ros:
            user.append(token)
        elif token in _WITH_VALUE:
            value = next(tokens, "")
            if token == "--params-file":
                ros.params_files.append(value)
            elif token in ("-p", "--param"):
                ros.params.append((*_split_param(value), f"-p {value}"))
            elif token in ("-r", "--remap"):
                ros.remaps.append(value)
    return user, ros


def _split_param(arg: str) -> tuple[str, str]:
    lhs = arg.split(":=", 1)[0]
    prefix, _, name = lhs.rpartition(":")
    return prefix, name


def fully_qualified_name(ros: RosArgs, default_name: str) -> str:
    """The node's name after ``__ns``/``__node`` remaps (global, or addressed to ``default_name``);
    as in rcl, the first rule that applies wins."""
    namespace, name = None, None
    for remap in ros.remaps:
        lhs, sep, rhs = remap.partition(":=")
        if not sep:
            continue
        target, _, key = lhs.rpartition(":")
        if target and target != default_name:
            continue
        if key == "__ns" and namespace is None:
            namespace = rhs if rhs.startswith("/") else "/" + rhs
        elif key in ("__node", "__name") and name is None:
            name = rhs
    return (namespace or "/").rstrip("/") + "/" + (name or default_name)


def node_pattern_matches(pattern: str, fqn: str) -> bool:
    """Whether a params-file node key (``/**``, ``attanet``, ``/t/*``, ``/**/attanet``) addresses ``fqn``."""
    pattern = pattern if pattern.startswith("/") else "/" + pattern
    regex = ""
    for part in pattern.split("/")[1:]:
        if part == "**":
            regex += r"(/[^/]+)*"
        else:
            regex += "/" + ".*".join(re.escape(p).replace(r"\*", "[^/]*") for p in part.split("**"))
    return re.fullmatch(regex or "/", fqn) is not None


class ParamsFileError(ValueError):
    """A ``--params-file`` that cannot be used; the message names the file and what is wrong."""


def params_file_sections(path: str) -> dict[str, dict[str, Any]]:
    """``{node key: {dotted parameter name: value}}`` of a ROS 2 parameter file, or ParamsFileError."""
    file = Path(path)
    if not path:
        raise ParamsFileError("--params-file needs a file name")
    if not file.is_file():
        raise ParamsFileError(f"params file {path} does not exist" + (" (it is a folder)" if file.is_dir() else ""))
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise ParamsFileError(f"params file {path} cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsFileError(f"params file {path} is not valid YAML{line}: {reason}") from exc
    if not isinstance(data, dict) or not data:
        raise ParamsFileError(
            f"params file {path} holds no node sections; expected e.g. '/**:\\n  ros__parameters:\\n    mode: live'"
        )
    sections: dict[str, dict[str, Any]] = {}
    for node_key, params in _node_sections(data, ""):
        if not isinstance(params, dict):
            raise ParamsFileError(f"params file {path}: {node_key}: ros__parameters must be a mapping of names")
        sections[node_key] = dict(_flatten(params, ""))
    if not sections:
        raise ParamsFileError(f"params file {path} has no 'ros__parameters' section (see config/attanet.yaml)")
    return sections


def _node_sections(data: dict, prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if key == "ros__parameters":
            yield prefix or "/", value
        elif isinstance(value, dict):
            yield from _node_sections(value, prefix + "/" + str(key).strip("/"))


def _flatten(params: dict, prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in params.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _is_known(name: str, known: Iterable[str]) -> bool:
    return name in known or name in ROS_OWNED or name.startswith(ROS_OWNED_PREFIXES)


def _unknown(name: str, where: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"{name!r} ({where})" + (f", did you mean {close[0]!r}?" if close else "")


def command_line_problems(argv: Iterable[str], default_name: str, known: Iterable[str]) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the command line for the node called ``default_name``.

    Problems stop the node (each a sentence); warnings are said and the node starts.
    """
    known = list(known)
    _, ros = split_ros_args(argv)
    fqn = fully_qualified_name(ros, default_name)
    problems, unknown, warnings = [], [], []
    for path in ros.params_files:
        try:
            sections = params_file_sections(path)
        except ParamsFileError as exc:
            problems.append(str(exc))
            continue
        mine = [key for key in sections if node_pattern_matches(key, fqn)]
        if not mine:
            warnings.append(
                f"params file {path} has no section for this node ({fqn}); its sections {sorted(sections)} are "
                f"ignored. Use '/**:' or '{fqn}:' above 'ros__parameters:'"
            )
        for key in mine:
            unknown += [_unknown(name, f"{path}, {key}", known) for name in sections[key] if not _is_known(name, known)]
    for prefix, name, raw in ros.params:
        if prefix and prefix not in (default_name, fqn, fqn.rsplit("/", 1)[-1]):
            continue
        if not _is_known(name, known):
            unknown.append(_unknown(name, raw, known))
    if unknown:
        problems.append(
            f"unknown parameter(s) for {fqn}: {'; '.join(unknown)} (`attanet_node --help` lists the parameters)"
        )
    return problems, warnings


def preflight(argv: list[str], node_name: str) -> int | None:
    """Before ``rclpy.init``: ``--help`` (prints the parameter table, returns 0) or a command line that
    cannot work (prints one line, returns 2); None when the node should start. Warnings go to stderr."""
    from .params import PARAMETERS, parameters_help

    user, _ = split_ros_args(argv)
    if "-h" in user or "--help" in user:
        print(parameters_help(node_name))
        return 0
    problems, warnings = command_line_problems(argv, node_name, (spec.name for spec in PARAMETERS))
    for warning in warnings:
        print(f"attanet_node: warning: {warning}", file=sys.stderr)
    if problems:
        print(f"attanet_node: {'; '.join(problems)}", file=sys.stderr)
        return 2
    return None


def rcl_error_line(exc: Exception) -> str:
    """rcl's init error in one line, without its C source locations ('at /project/src/parser.c:271')."""
    text = " ".join(str(exc).split())
    return re.sub(r",? at \S+\.c:\d+", "", text)
