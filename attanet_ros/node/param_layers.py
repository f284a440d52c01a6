"""How rcl merges ``--params-file`` and ``-p`` values into what a node runs with; ROS-free.

rcl parses every source on the command line, in order, into one table keyed by node key (``/**``,
``/t/attanet``, the ``-p`` prefix or ``/**``), and rclpy then applies the keys that match the node in
the order each key *first appeared* (checked against rclpy 2026 / ROS 2 Kilted):

- within one node key, a later value replaces an earlier one *of the same type*; a value of another
  type is kept beside it, and rclpy reads the first present in the order bool, integer, double,
  string, bool array, integer array, double array, string array. So ``replay_queue: 8`` in the
  shipped file and ``replay_queue: 2.5`` in a user's file run with 8, and ``[]`` clears nothing;
- across node keys, a key seen first wins less: ``/t/attanet`` from an earlier file beats ``/**``
  from a later one.

``merge`` reproduces both and says where the result differs from "the later source wins".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# rclpy's order when a parameter's rcl variant holds several types (_rclpy_pybind11's conversion)
READ_ORDER = ("bool", "integer", "double", "string", "bool_array", "integer_array", "double_array", "string_array")


@dataclass(frozen=True)
class ParamSource:
    """One value for one node key from the command line; ``where`` names it for messages."""

    node_key: str  # "/**" for a -p without a node prefix
    name: str
    value: Any  # [] sets nothing (rcl leaves the parameter unset)
    where: str  # "my.yaml line 4, /**" or "-p overlay_alpha:=0.3"
    order: int  # position on the command line


@dataclass(frozen=True)
class Merged:
    """The values the node gets (None: unset, the default applies), by name, with their sources."""

    values: dict[str, ParamSource | None]
    problems: list[str]  # a later value rcl does not let win: the node would silently run the earlier one
    warnings: list[str]  # a later value overridden by an earlier section (rcl's order of node keys)


def rcl_type(value: Any) -> str | None:
    """The rcl variant field a value fills ("integer", "string_array", ...); None for [] (none)."""
    kinds = {bool: "bool", int: "integer", float: "double", str: "string"}
    if isinstance(value, list):
        return f"{kinds[type(value[0])]}_array" if value else None
    return kinds[type(value)]


def _read(slots: dict[str, ParamSource]) -> ParamSource | None:
    return next((slots[kind] for kind in READ_ORDER if kind in slots), None)


def merge(sources: Iterable[ParamSource], matches: Callable[[str], bool]) -> Merged:
    """What rclpy gives the node from ``sources`` (command-line order) for node keys where ``matches``."""
    table: dict[str, dict[str, dict[str, ParamSource]]] = {}  # node key -> name -> rcl type -> latest
    latest: dict[tuple[str, str], ParamSource] = {}  # (node key, name) -> the last source written
    for source in sorted(sources, key=lambda s: s.order):
        slots = table.setdefault(source.node_key, {}).setdefault(source.name, {})
        kind = rcl_type(source.value)
        if kind is not None:
            slots[kind] = source
        latest[(source.node_key, source.name)] = source
    values: dict[str, ParamSource | None] = {}
    considered: dict[str, list[ParamSource]] = {}
    problems: list[str] = []
    for node_key, params in table.items():  # dicts keep first-appearance order, as rcl's table does
        if not matches(node_key):
            continue
        for name, slots in params.items():
            read, last = _read(slots), latest[(node_key, name)]
            if read is not None and read is not last:
                problems.append(_not_replaced(name, last, read))
            values[name] = read
            considered.setdefault(name, []).append(last)
    warnings = [
        _section_order(name, later, values[name])
        for name, sources_ in considered.items()
        if values[name] is not None
        for later in sources_
        if later.order > values[name].order and later.node_key != values[name].node_key
    ]
    return Merged(values, problems, warnings)


def _not_replaced(name: str, last: ParamSource, read: ParamSource) -> str:
    kinds = {rcl_type(read.value), rcl_type(last.value)}
    if last.value == []:
        why, fix = "an empty list [] clears nothing in rcl", "remove the earlier value instead"
    else:
        why = f"rcl keeps {_a(rcl_type(read.value))} beside a later {rcl_type(last.value)} and the node reads the first"
        fix = "write both with the same type" + (" (e.g. 1.0, not 1)" if kinds == {"integer", "double"} else "")
    return (
        f"{name}={last.value!r} ({last.where}) does not replace {name}={read.value!r} ({read.where}): {why}, so the "
        f"node would run with {read.value!r}; {fix}"
    )


def _a(kind: str | None) -> str:
    return f"an {kind}" if str(kind)[0] in "aeiou" else f"a {kind}"


def _section_order(name: str, later: ParamSource, used: ParamSource) -> str:
    return (
        f"{name}={later.value!r} ({later.where}) is overridden by {name}={used.value!r} ({used.where}): rcl applies "
        f"node sections in the order their keys first appear ({used.node_key} after {later.node_key}), "
        f"so the node runs with {used.value!r}"
    )


__all__ = ["READ_ORDER", "Merged", "ParamSource", "merge", "rcl_type"]
