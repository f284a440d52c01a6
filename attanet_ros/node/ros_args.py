"""What the command line gives the node, read before ``rclpy.init``; ROS-free.

rclpy silently ignores a parameter nobody declares (``confidence_treshold: 0.5`` in a params
file just does nothing) and answers a missing or malformed ``--params-file`` with a traceback.
``command_line_problems`` reads the ``--ros-args`` the way rcl does (``--params-file``, ``-p``,
the ``__ns`` / ``__node`` remaps that make the node's fully-qualified name) and says in words
what is wrong: files it cannot read, YAML it cannot parse (``params_yaml``: rcl's typing, no
aliases, no repeated keys), keys for this node that no parameter of the table has (with a "did you
mean"), values the table refuses in *any* file or ``-p`` (rcl would otherwise keep a first file's
value of another type without a word), and the merged result (``param_layers``: rcl's merge).
Sections for other nodes are left alone.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .param_layers import ParamSource, merge
from .params import SPECS, ParamError, settings_from_values, value_problem
from .params_yaml import ParamsFileError, parse_param_value, read_params_file

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
    layers: list[tuple[str, str]] = field(default_factory=list)  # ("file", path) / ("param", arg), in order


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
                ros.layers.append(("file", value))
            elif token in ("-p", "--param"):
                ros.params.append((*_split_param(value)[:2], f"-p {value}"))
                ros.layers.append(("param", value))
            elif token in ("-r", "--remap"):
                ros.remaps.append(value)
    return user, ros


def _split_param(arg: str) -> tuple[str, str, str]:
    """(node prefix or "", name, value text) of ``-p [node:]name:=value``."""
    lhs, _, value = arg.partition(":=")
    prefix, _, name = lhs.rpartition(":")
    return prefix, name, value


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


def params_file_sections(path: str) -> dict[str, dict[str, Any]]:
    """``{node key: {dotted parameter name: value}}`` of a ROS 2 parameter file (values typed as rcl
    types them), or ParamsFileError."""
    sections: dict[str, dict[str, Any]] = {}
    for entry in read_params_file(path):
        sections.setdefault(entry.node_key, {})[entry.name] = entry.value
    return sections


def command_line_sources(ros: RosArgs, fqn: str) -> tuple[list[ParamSource], list[str], list[str]]:
    """(every value of every ``--params-file`` and ``-p``, in command-line order; problems; warnings).

    Problems are files that cannot be read and values rcl cannot parse; warnings are files and
    ``-p`` prefixes that address no section of this node."""
    sources: list[ParamSource] = []
    problems, warnings = [], []
    for order, (kind, arg) in enumerate(ros.layers):
        try:
            if kind == "file":
                entries = read_params_file(arg)
            else:
                prefix, name, text = _split_param(arg)
                value = parse_param_value(text, f"-p {arg}")
        except ParamsFileError as exc:
            problems.append(str(exc))
            continue
        if kind == "param":
            sources.append(ParamSource(prefix or "/**", name, value, f"-p {arg}", order))
            if prefix and not node_pattern_matches(prefix, fqn) and prefix == fqn.rsplit("/", 1)[-1]:
                warnings.append(
                    f"-p {arg} addresses node /{prefix}, not this node ({fqn}), so rcl does not apply it; "
                    f"leave out '{prefix}:'"
                )
            continue
        keys = list(dict.fromkeys(e.node_key for e in entries))
        if not any(node_pattern_matches(key, fqn) for key in keys):
            warnings.append(
                f"params file {arg} has no section for this node ({fqn}); its sections {sorted(keys)} are "
                f"ignored. Use '/**:' or '{fqn}:' above 'ros__parameters:'"
            )
        sources += [
            ParamSource(e.node_key, e.name, e.value, f"{arg} line {e.line}, {e.node_key}", order) for e in entries
        ]
    return sources, problems, warnings


def _is_known(name: str, known: Iterable[str]) -> bool:
    return name in known or name in ROS_OWNED or name.startswith(ROS_OWNED_PREFIXES)


def _unknown(name: str, where: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"{name!r} ({where})" + (f", did you mean {close[0]!r}?" if close else "")


def command_line_problems(
    argv: Iterable[str], default_name: str, known: Iterable[str] | None = None
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the command line for the node called ``default_name``.

    Problems stop the node (each a sentence): unreadable files, unknown names, a value of any file
    or ``-p`` that the parameter table refuses (named with its file and line), a later value rcl
    would not let win (``param_layers``), and the rules between parameters checked on the merged
    result. Warnings are said and the node starts. ``known``: the parameter names (the table's).
    """
    known = list(SPECS if known is None else known)
    _, ros = split_ros_args(argv)
    fqn = fully_qualified_name(ros, default_name)
    sources, problems, warnings = command_line_sources(ros, fqn)
    mine = [s for s in sources if node_pattern_matches(s.node_key, fqn)]
    unknown = [_unknown(s.name, s.where, known) for s in mine if not _is_known(s.name, known)]
    if unknown:
        problems.append(
            f"unknown parameter(s) for {fqn}: {'; '.join(unknown)} (`attanet_node --help` lists the parameters)"
        )
    checked = [s for s in mine if s.name in SPECS and s.name in known]
    bad_values = [
        f"parameter {s.name}={s.value!r} {reason} ({s.where})"
        for s in checked
        if s.value != [] and (reason := value_problem(s.name, s.value))
    ]
    problems += bad_values
    if problems:
        return problems, warnings
    merged = merge(checked, lambda key: node_pattern_matches(key, fqn))
    problems += merged.problems
    warnings += merged.warnings
    if not problems:
        values = {name: source.value for name, source in merged.values.items() if source is not None}
        try:
            settings_from_values(values)
        except ParamError as exc:
            problems.append(f"{exc} (all params files and -p merged)")
    return problems, warnings


def preflight(argv: list[str], node_name: str) -> int | None:
    """Before ``rclpy.init``: ``--help`` (prints the parameter table, returns 0) or a command line that
    cannot work (prints one line, returns 2); None when the node should start. Warnings go to stderr."""
    from .params import parameters_help

    user, _ = split_ros_args(argv)
    if "-h" in user or "--help" in user:
        print(parameters_help(node_name))
        return 0
    problems, warnings = command_line_problems(argv, node_name)
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
