"""What a real rclpy node gets from its command line's ``--params-file`` and ``-p`` values.

    python rcl_params_probe.py < scenarios.json

Reads a JSON list of ``{"args": [...ros args...], "names": [...]}`` and prints one JSON list: for each
scenario, ``{name: value}`` of a node called ``attanet`` started with those arguments (a name rcl left
unset reads null), or ``{"rcl_error": "..."}`` when rcl refuses the arguments. One process, one rclpy
context per scenario.
"""

from __future__ import annotations

import json
import sys

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node


def values(args: list[str], names: list[str]) -> dict:
    context = rclpy.Context()
    try:
        rclpy.init(args=["probe", "--ros-args", *args], context=context)
    except RCLError as exc:
        return {"rcl_error": str(exc)}
    node = Node("attanet", context=context)
    try:
        out = {}
        for name in names:  # dynamic typing: whatever type the override has is taken as it is
            node.declare_parameter(name, None, ParameterDescriptor(dynamic_typing=True))
            value = node.get_parameter(name).value
            out[name] = value if isinstance(value, bool | int | float | str | None) else list(value)
        return out
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def main() -> int:
    scenarios = json.load(sys.stdin)
    print(json.dumps([values(s["args"], s["names"]) for s in scenarios]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
