"""``attanet ros``: the two ``ros2`` commands a pip install lacks, as thin clients of the standard services.

    attanet ros param-set NODE NAME VALUE      like `ros2 param set NODE NAME VALUE`
    attanet ros lifecycle NODE TRANSITION|get  like `ros2 lifecycle set NODE TRANSITION` / `ros2 lifecycle get NODE`

VALUE is read as YAML, as ``ros2 param set`` reads it (``0.7`` a double, ``true`` a bool, ``[a, b]`` a
list, ``"7"`` a string). A transition is one the node offers in its current state, found by label through
``~/get_available_transitions`` as ``ros2 lifecycle set`` does (``shutdown`` from any state).
Exit status: 0 done, 1 refused by the node (its reason is printed), 2 the node did not answer.
The ROS domain is ``ROS_DOMAIN_ID`` unless ``--domain-id`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import yaml

from attanet_model.cli_args import command_parser

__all__ = ["TRANSITIONS", "NodeNotAnswering", "change_state", "get_state", "main", "set_parameter"]

ANSWER_RETRY_S = 2.0  # an idempotent request without an answer after this long is asked again
TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


class NodeNotAnswering(RuntimeError):
    """The node's service did not appear, or did not answer, within the timeout."""


class _Session:
    """An rclpy context of its own with one client node, closed on exit."""

    def __init__(self, domain_id: int | None, timeout: float) -> None:
        import rclpy
        import rclpy.executors

        self.rclpy, self.timeout = rclpy, timeout
        self.context = rclpy.Context()
        rclpy.init(context=self.context, **({} if domain_id is None else {"domain_id": domain_id}))
        self.node = rclpy.create_node("attanet_ros_tool", context=self.context, start_parameter_services=False)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._clients: dict[str, Any] = {}

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        for client in self._clients.values():
            self.node.destroy_client(client)
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)

    def call(self, srv_type: Any, service: str, request: Any, idempotent: bool = False) -> Any:
        """``request`` on ``service``, its answer. An ``idempotent`` request is asked again every
        ``ANSWER_RETRY_S`` until an answer arrives: Fast DDS drops an answer sent before the node has matched
        this client's response reader ("failed to send response (timeout)" in the node's log), although the
        service was ready. A request that changes the node (a transition) is asked once."""
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self.node.create_client(srv_type, service)
            if not client.wait_for_service(timeout_sec=self.timeout):
                raise NodeNotAnswering(
                    f"no answer on {service} within {self.timeout:g} s: is the node running, under that name, "
                    "in this ROS_DOMAIN_ID (or --domain-id)?"
                )
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            future = client.call_async(request)
            wait = min(ANSWER_RETRY_S, remaining) if idempotent else remaining
            self.executor.spin_until_future_complete(future, timeout_sec=wait)
            if future.done():
                return future.result()
            if not idempotent or time.monotonic() >= deadline:
                raise NodeNotAnswering(f"{service} did not answer within {self.timeout:g} s")


def _service(node_name: str, name: str) -> str:
    return f"{node_name.rstrip('/')}/{name}" if node_name.startswith("/") else f"/{node_name.rstrip('/')}/{name}"


def set_parameter(session: _Session, node_name: str, name: str, text: str) -> str | None:
    """Set ``name`` on ``node_name`` from ``text`` (YAML); None when accepted, else the node's reason."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if value is None:
        value = text  # an empty value or `null` stays the string the user typed
    try:
        parameter = Parameter(name, value=value)
    except TypeError as exc:
        return f"{text!r} is not a parameter value ({exc})"
    request = SetParameters.Request(parameters=[parameter.to_parameter_msg()])
    result = session.call(SetParameters, _service(node_name, "set_parameters"), request, idempotent=True).results[0]
    return None if result.successful else (result.reason or "refused (no reason given)")


def get_state(session: _Session, node_name: str) -> tuple[str, int]:
    """The lifecycle node's current state: (label, id)."""
    from lifecycle_msgs.srv import GetState

    state = session.call(GetState, _service(node_name, "get_state"), GetState.Request(), idempotent=True).current_state
    return state.label, state.id


def change_state(session: _Session, node_name: str, transition: str) -> tuple[bool, str]:
    """Trigger ``transition`` (a label) if the node offers it now; (succeeded, the state it is in after)."""
    from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions

    offered = session.call(
        GetAvailableTransitions,
        _service(node_name, "get_available_transitions"),
        GetAvailableTransitions.Request(),
        idempotent=True,
    ).available_transitions
    matches = [t.transition for t in offered if t.transition.label == transition]
    if not matches:
        label, _ = get_state(session, node_name)
        possible = sorted({t.transition.label for t in offered})
        return False, f"{label} (from {label} the node offers: {', '.join(possible) or 'nothing'})"
    request = ChangeState.Request(transition=matches[0])
    success = session.call(ChangeState, _service(node_name, "change_state"), request).success
    return bool(success), get_state(session, node_name)[0]


def _parser() -> argparse.ArgumentParser:
    """Set a parameter or drive a lifecycle node without the ros2 command line (docs/ROS.md)."""
    p = command_parser("ros", _parser.__doc__)
    p.add_argument("--domain-id", type=int, default=None, help="ROS domain (default: ROS_DOMAIN_ID, else 0)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the node to answer (default 10)")
    sub = p.add_subparsers(dest="tool", required=True)
    ps = sub.add_parser("param-set", help="set one parameter (like `ros2 param set`)")
    ps.add_argument("node", help="node name, e.g. /attanet")
    ps.add_argument("name", help="parameter name, e.g. overlay_alpha")
    ps.add_argument("value", help="value as YAML: 0.7, true, [a, b], text")
    lc = sub.add_parser("lifecycle", help="trigger a transition or print the state (like `ros2 lifecycle`)")
    lc.add_argument("node", help="lifecycle node name, e.g. /attanet")
    lc.add_argument("action", choices=(*TRANSITIONS, "get"), help="a transition, or get: print the current state")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.timeout <= 0:
        print(f"attanet ros: --timeout must be > 0, got {args.timeout:g}", file=sys.stderr)
        return 2
    try:
        with _Session(args.domain_id, args.timeout) as session:
            if args.tool == "param-set":
                reason = set_parameter(session, args.node, args.name, args.value)
                if reason:
                    print(f"attanet ros param-set: {args.name} not set: {reason}", file=sys.stderr)
                    return 1
                print(f"set {args.name} on {args.node}")
                return 0
            if args.action == "get":
                label, state_id = get_state(session, args.node)
                print(f"{label} [{state_id}]")
                return 0
            success, state = change_state(session, args.node, args.action)
            if not success:
                print(f"attanet ros lifecycle: {args.action} failed; the node is {state}", file=sys.stderr)
                return 1
            print(f"{args.action}: done, {args.node} is {state}")
            return 0
    except NodeNotAnswering as exc:
        print(f"attanet ros: {exc}", file=sys.stderr)
        return 2
