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
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from attanet_ros.common.dds_env import transport_setting, use_shipped_profile
from attanet_ros.common.malloc_tuning import tune_for_frames

from .engine import SegmentationEngine
from .executor import NodeExecutor
from .label_info import LABEL_INFO_MISSING, label_info_available
from .node_parameters import StartupError, declare_parameters, read_settings
from .output_publishing import ENCODINGS
from .params import NodeSettings
from .ros_args import preflight, rcl_error_line

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


def start_ros(args: list[str] | None, program: str) -> tuple[int | None, bool]:
    """What both node executables do before a node exists: ``--help`` and the params-file checks,
    the shipped DDS profile when none is set (Fast DDS reads it at the first participant), the
    malloc threshold, then ``rclpy.init``. Returns (exit code or None to go on, profile was set)."""
    early_exit = preflight(sys.argv if args is None else args, NODE_NAME)
    if early_exit is not None:
        return early_exit, False
    profile = use_shipped_profile()
    tune_for_frames()  # before rmw allocates: frame-sized buffers reused, not faulted in each frame
    try:
        rclpy.init(args=args)
    except RCLError as exc:  # what preflight cannot see, e.g. a YAML list of mixed types
        print(f"{program}: cannot start: {rcl_error_line(exc)}", file=sys.stderr)
        return 2, profile
    return None, profile


def log_start(node: Node, profile_was_set: bool) -> None:
    """What both node executables say once at start-up: the DDS transports, and a missing vision_msgs."""
    shipped = " (the shipped default: none was set)" if profile_was_set else ""
    node.get_logger().info(f"Fast DDS transports: {transport_setting()}{shipped}")
    if not label_info_available():
        node.get_logger().warning(LABEL_INFO_MISSING)


def main(args: list[str] | None = None) -> int:
    return run_node(args, "attanet_node", AttanetNode, lambda node: node.engine.executor_threads, AttanetNode.stop)


def run_node(
    args: list[str] | None,
    program: str,
    make: Callable[[], Node],
    threads: Callable[[Any], int],
    release: Callable[[Any], None],
) -> int:
    """The ``main`` of both node executables: start ROS, ``make`` the node (a ``StartupError`` or whatever rclpy
    raises, e.g. on a malformed --params-file before our checks run: one line on stderr, exit 2), say the
    transports, then spin on ``threads(node)`` threads until Ctrl-C / shutdown and ``release(node)``."""
    early_exit, profile = start_ros(args, program)
    if early_exit is not None:
        return early_exit
    try:
        node = make()
    except StartupError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except Exception as exc:
        print(f"{program}: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    log_start(node, profile)
    return spin(node, threads(node), lambda: release(node))


def spin(node: Node, threads: int, release: Callable[[], None]) -> int:
    """Spin until Ctrl-C / shutdown, then ``release`` (stop the worker, free the model) and close ROS."""
    executor = NodeExecutor(num_threads=threads)  # rclpy's MultiThreadedExecutor, without its busy loop
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        release()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
