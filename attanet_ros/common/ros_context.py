"""A node in an rclpy context of its own, for the tools that join a ROS graph beside other rclpy users in one
process (the viewer's topic source, the demo's camera player, a discovery probe)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def private_node(name: str, domain_id: int | None = None) -> Iterator[Any]:
    """``with private_node("attanet_viewer", 42) as node``: a node without parameter services in a context of
    its own (``node.context``), initialised without ROS arguments, in ``domain_id`` (None: ROS_DOMAIN_ID, else
    0); glibc is tuned for receiving frames first (``malloc_tuning``). On exit the node is destroyed and its
    context shut down, whatever happened inside."""
    import rclpy
    from rclpy.context import Context

    from .malloc_tuning import tune_for_frames

    tune_for_frames()  # the frames it receives: reused heap blocks, not fresh pages each frame
    context = Context()
    rclpy.init(context=context, args=[], **({} if domain_id is None else {"domain_id": domain_id}))
    try:
        node = rclpy.create_node(name, context=context, start_parameter_services=False)
        try:
            yield node
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


__all__ = ["private_node"]
