"""The ``attanet`` ROS 2 node: camera images in, semantic labels out.

A thin shell around ``engine.SegmentationEngine`` (parameters from ``params.py``, QoS from
``qos.py``, the per-frame work in ``frame_pipeline.py``, counters in ``stats.py``). Callbacks
only store messages; one worker thread decodes, segments and publishes, so a slow network
never blocks the executor. The managed variant is ``lifecycle_node.py``.

Run: ``ros2 run attanet_ros attanet_node --ros-args --params-file config/attanet.yaml``
(or ``attanet_node`` / ``python -m attanet_ros.node`` with the same arguments).
"""

from __future__ import annotations

import sys
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from .engine import ENCODINGS, SegmentationEngine, StartupError, declare_parameters, read_settings
from .params import NodeSettings

__all__ = ["ENCODINGS", "NODE_NAME", "AttanetNode", "StartupError", "main"]

NODE_NAME = "attanet"


class AttanetNode(Node):
    """The plain node: configures and activates its engine at construction (``StartupError`` if it cannot)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        declare_parameters(self)
        self.engine = SegmentationEngine(self, read_settings(self))
        self.engine.load()
        self.engine.start()

    @property
    def settings(self) -> NodeSettings:
        return self.engine.settings

    def stop(self) -> None:
        """Stop the worker (a frame in flight finishes first)."""
        self.engine.stop()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = AttanetNode()
    except StartupError as exc:
        print(f"attanet_node: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except Exception as exc:  # rclpy rejects e.g. a malformed --params-file before our checks run
        print(f"attanet_node: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = MultiThreadedExecutor(num_threads=node.engine.executor_threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
