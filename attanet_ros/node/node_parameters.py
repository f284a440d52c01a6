"""The node's parameters on an rclpy node: declared from ``params.PARAMETERS``, read and checked as one
``NodeSettings``, and run-time changes refused with the table's reason. Both node shells use them."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from .params import PARAMETERS, SPECS, NodeSettings, ParamError, settings_from_values, update_problem
from .ros_args import ROS_OWNED_PREFIXES


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the message says what to change."""


def declare_parameters(node: Node) -> None:
    """Declare every parameter of ``params.PARAMETERS`` on ``node``, and refuse bad run-time changes."""
    for spec in PARAMETERS:
        descriptor = ParameterDescriptor(description=spec.description, read_only=not spec.dynamic)
        if spec.default == []:
            # an empty list has no ROS type (rclpy would take it for a byte array); declare it as a
            # string array, unset ([] in YAML and on the command line also read as unset)
            node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, descriptor)
        else:
            # dynamic_typing: our own check says "overlay_alpha must be in [0, 1]", and accepts 1 for 1.0
            descriptor.dynamic_typing = True
            node.declare_parameter(spec.name, spec.default, descriptor)
    node.add_on_set_parameters_callback(check_parameter_updates)


def read_settings(node: Node) -> NodeSettings:
    """The node's current parameter values, every one checked at once (StartupError lists the problems)."""
    values = {spec.name: parameter_value(node, spec.name) for spec in PARAMETERS}
    try:
        return settings_from_values(values)
    except ParamError as exc:
        raise StartupError(str(exc)) from exc


def parameter_value(node: Node, name: str) -> Any:
    """A declared parameter's value; the table's default for a string array left unset."""
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:
        return SPECS[name].default


def check_parameter_updates(parameters) -> SetParametersResult:
    """Refuse a run-time change the table does not allow (read-only, out of range), with the reason."""
    for p in parameters:
        if p.name.startswith(ROS_OWNED_PREFIXES):
            continue  # qos_overrides.*: declared read-only by rclpy as each publisher/subscription is created
        reason = update_problem(p.name, p.value)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
    return SetParametersResult(successful=True)
