"""A ROS 2 parameter file read the way rcl reads it (``rcl_yaml_param_parser``), ROS-free.

PyYAML's loader and rcl's parser disagree in ways that change what a node runs with, so the checks
before ``rclpy.init`` read the file as rcl does:

- scalars are typed by rcl's rules: ``y``/``on``/``off`` are booleans, ``010`` is octal 8, ``1e3``
  is a float, ``1_000`` and ``null`` are strings; quoted or ``!!str`` scalars stay strings;
- a repeated key is refused with both lines (PyYAML keeps the last silently; rcl keeps a value of
  the *first* one's type, so ``a: 1`` then ``a: 0.5`` runs with 1);
- an alias (``*name``) is refused at once, as rcl refuses it, which also makes an alias bomb
  ("billion laughs") cost nothing; nesting is capped so a hostile file cannot exhaust the stack;
- lists must hold one type and no lists (rcl refuses both), an empty value is refused ("No value").

``[]`` sets nothing in rcl (the parameter stays unset): such entries carry ``value=[]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 32  # namespaces + ros__parameters + parameter groups; real files use fewer than 10
_TRUE = {"Y", "y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"N", "n", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_SPECIAL_FLOATS = {".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
_SPECIAL_FLOATS |= {s: math.inf for s in (".inf", ".Inf", ".INF")}
_SPECIAL_FLOATS |= {s: -math.inf for s in ("-.inf", "-.Inf", "-.INF")}
_C_LONG = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")  # strtol(value, &end, 0), whole string
_C_DOUBLE = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf(inity)?|nan)", re.IGNORECASE)
_C_HEX_DOUBLE = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?\d+)?")


class ParamsFileError(ValueError):
    """A ``--params-file`` (or ``-p`` value) that cannot be used; the message names it and what is wrong."""


@dataclass(frozen=True)
class ParamEntry:
    """One parameter value of a params file: the node key it sits under, its dotted name, where."""

    node_key: str  # "/**", "/t/attanet", ... as the file writes it (namespaces joined by "/")
    name: str  # dotted for parameter groups: "qos_overrides./image.reliability"
    value: Any  # bool, int, float, str, or a list of one of those; [] sets nothing in rcl
    line: int


def rcl_scalar(text: str, quoted: bool = False) -> bool | int | float | str:
    """A YAML scalar typed as rcl types it: bool, then C ``strtol`` (base 0), then ``strtod``, else a string."""
    if quoted:
        return text
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    if _C_LONG.fullmatch(text):
        sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
        base = 16 if digits[:2].lower() == "0x" else 8 if len(digits) > 1 and digits[0] == "0" else 10
        value = sign * int(digits, base)
        if -(2**63) <= value < 2**63:  # strtol's range; beyond it (ERANGE) rcl tries strtod
            return value
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    number = _c_double(text)
    return text if number is None else number


def _c_double(text: str) -> float | None:
    if _C_HEX_DOUBLE.fullmatch(text):
        value = float.fromhex(text)
    elif _C_DOUBLE.fullmatch(text):
        value = float(text)
    else:
        return None
    literal_inf = "inf" in text.lower()
    return None if math.isinf(value) and not literal_inf else value  # overflow: strtod's ERANGE -> a string


@dataclass
class _Scalar:
    value: Any
    raw: str
    line: int


@dataclass
class _Seq:
    value: list[Any]
    line: int


@dataclass
class _Map:
    items: list[tuple[str, int, Any]]  # (key, key line, value node)
    line: int


class _Reader:
    """Turns PyYAML's event stream into plain nodes with rcl's scalar types, refusing what rcl refuses."""

    def __init__(self, events: Iterator[Any], where: str) -> None:
        self.events, self.where = events, where

    def documents(self) -> Iterator[Any]:
        for event in self.events:
            if isinstance(event, yaml.StreamStartEvent | yaml.StreamEndEvent | yaml.DocumentEndEvent):
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                continue
            yield self.node(event, 0)

    def fail(self, line: int, what: str) -> ParamsFileError:
        return ParamsFileError(f"{self.where} line {line}: {what}")

    def node(self, event: Any, depth: int) -> Any:
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise self.fail(
                line, f"uses the YAML alias *{event.anchor}; rcl refuses aliases: write the value out instead"
            )
        if depth > MAX_DEPTH:
            raise self.fail(line, f"nests deeper than {MAX_DEPTH} levels; a parameter file never needs that")
        if isinstance(event, yaml.ScalarEvent):
            quoted = event.style in ("'", '"') or (event.tag or "").endswith(":str")
            if event.value == "" and not quoted:
                raise self.fail(line, "a key has no value (rcl: 'No value'); write one, or '' for an empty string")
            return _Scalar(rcl_scalar(event.value, quoted), event.value, line)
        if isinstance(event, yaml.SequenceStartEvent):
            return self.sequence(line, depth)
        return self.mapping(line, depth)

    def children(self, end: type, depth: int) -> Iterator:
        """The nodes of a list or mapping, up to its ``end`` event (a mapping reads each value
        itself from ``self.events``, between two keys)."""
        for event in self.events:
            if isinstance(event, end):
                return
            yield self.node(event, depth + 1)

    def sequence(self, line: int, depth: int) -> _Seq:
        items = []
        for item in self.children(yaml.SequenceEndEvent, depth):
            if not isinstance(item, _Scalar):
                raise self.fail(item.line, "a list holds a list or a mapping; parameter lists hold plain values")
            items.append(item.value)
        kinds = sorted({_scalar_kind(v) for v in items})
        if len(kinds) > 1:
            raise self.fail(line, f"a list mixes {' and '.join(kinds)} values {items}; rcl needs one type per list")
        return _Seq(items, line)

    def mapping(self, line: int, depth: int) -> _Map:
        items: list[tuple[str, int, Any]] = []
        seen: dict[str, int] = {}
        for key in self.children(yaml.MappingEndEvent, depth):  # a key, its value read here
            if not isinstance(key, _Scalar):
                raise self.fail(key.line, "a key is a list or a mapping; keys are names")
            if key.raw in seen:
                raise self.fail(
                    key.line,
                    f"repeats key {key.raw!r} of line {seen[key.raw]} (rcl would not simply keep the last: of two "
                    "types it keeps the first); remove one of them",
                )
            seen[key.raw] = key.line
            items.append((key.raw, key.line, self.node(next(self.events), depth + 1)))
        return _Map(items, line)


def _scalar_kind(value: Any) -> str:
    return {bool: "bool", int: "integer", float: "double"}.get(type(value), "string")


def parse_params_yaml(text: str, where: str) -> list[ParamEntry]:
    """Every parameter value of a params file's text, in file order; ParamsFileError names ``where``."""
    try:
        documents = list(_Reader(yaml.parse(text, Loader=yaml.SafeLoader), where).documents())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsFileError(f"{where} is not valid YAML{line}: {reason}") from exc
    if not documents or not all(isinstance(d, _Map) and d.items for d in documents):
        raise ParamsFileError(
            f"{where} holds no node sections; expected e.g. '/**:\\n  ros__parameters:\\n    mode: live'"
        )
    entries: list[ParamEntry] = []
    sections = 0
    for document in documents:
        for node_key, params in _node_sections(document, ""):
            sections += 1
            if not isinstance(params, _Map):
                raise ParamsFileError(f"{where}: {node_key}: ros__parameters must be a mapping of names")
            entries += [ParamEntry(node_key, name, node.value, node.line) for name, node in _flatten(params, "")]
    if not sections:
        raise ParamsFileError(f"{where} has no 'ros__parameters' section (see config/attanet.yaml)")
    return entries


def _node_sections(node: _Map, prefix: str) -> Iterator[tuple[str, Any]]:
    for key, _, value in node.items:
        if key == "ros__parameters":
            yield prefix or "/", value
        elif isinstance(value, _Map):
            yield from _node_sections(value, prefix + "/" + key.strip("/"))


def _flatten(params: _Map, prefix: str) -> Iterator[tuple[str, _Scalar | _Seq]]:
    for key, _, value in params.items:
        if isinstance(value, _Map):
            yield from _flatten(value, prefix + key + ".")
        else:
            yield prefix + key, value


def read_params_file(path: str) -> list[ParamEntry]:
    """``parse_params_yaml`` of the file at ``path``; ParamsFileError when it is missing or unreadable."""
    file = Path(path)
    if not path:
        raise ParamsFileError("--params-file needs a file name")
    if not file.is_file():
        raise ParamsFileError(f"params file {path} does not exist" + (" (it is a folder)" if file.is_dir() else ""))
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsFileError(f"params file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from exc
    return parse_params_yaml(text, f"params file {path}")


def parse_param_value(text: str, where: str) -> Any:
    """The value of ``-p name:=VALUE`` as rcl types it (a scalar or a list of one type)."""
    try:
        documents = list(_Reader(yaml.parse(text, Loader=yaml.SafeLoader), where).documents())
    except yaml.YAMLError as exc:
        raise ParamsFileError(f"{where}: the value is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if len(documents) != 1 or isinstance(documents[0], _Map):
        raise ParamsFileError(f"{where}: the value must be one value or a list [a, b], not {text!r}")
    return documents[0].value


__all__ = ["ParamEntry", "ParamsFileError", "parse_param_value", "parse_params_yaml", "rcl_scalar", "read_params_file"]
