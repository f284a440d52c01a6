"""The managed ``attanet`` node: the same engine and parameters, driven by lifecycle transitions.

    configure   parameters checked, model loaded and warmed up, publishers and /diagnostics up;
                a bad parameter or model fails the transition with the reason in the log, and
                the node stays unconfigured
    activate    camera subscriptions created, frames processed and published
    deactivate  subscriptions destroyed, worker stopped (nothing published); counters kept
    cleanup     publishers destroyed, model freed
    shutdown    from any state

Driven through the standard services (``~/change_state``, ``~/get_state``) by
``ros2 lifecycle set /attanet configure`` or launch_ros's ``LifecycleNode`` (launch/).

Run: ``ros2 run attanet_ros attanet_lifecycle_node --ros-args --params-file config/attanet.yaml``
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from .engine import SegmentationEngine
from .node_parameters import StartupError, declare_parameters, parameter_value, read_settings
from .ros_node import NODE_NAME, run_node

__all__ = ["AttanetLifecycleNode", "main"]


class AttanetLifecycleNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.engine: SegmentationEngine | None = None
        declare_parameters(self)  # checked at configure, where a managed node reports failures

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            settings = read_settings(self)  # the values now: dynamic ones may have been set meanwhile
        except StartupError as exc:
            return self._fail("configure", str(exc))
        engine = SegmentationEngine(self, settings)
        try:
            engine.load()
        except StartupError as exc:
            engine.unload()
            return self._fail("configure", str(exc))
        self.engine = engine
        self.get_logger().info(f"configured: {engine.info['arch']} on {engine.info['provider']}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.engine.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.engine.stop()
        self.get_logger().info("deactivated: not taking frames")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self.get_logger().info("cleaned up: model freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured; configure may be tried again

    def release(self) -> None:
        """Stop and free the engine, whatever state the node is in."""
        if self.engine is not None:
            self.engine.unload()
            self.engine = None

    def _fail(self, transition: str, reason: str) -> TransitionCallbackReturn:
        self.get_logger().error(f"{transition} failed: {reason}")
        return TransitionCallbackReturn.FAILURE

    def executor_threads(self) -> int:
        """As ``SegmentationEngine.executor_threads``: a blocked replay callback per camera, plus three."""
        return max(len(parameter_value(self, "cameras")), 1) + 3


def main(args: list[str] | None = None) -> int:
    return run_node(
        args,
        "attanet_lifecycle_node",
        AttanetLifecycleNode,
        AttanetLifecycleNode.executor_threads,
        AttanetLifecycleNode.release,
    )


if __name__ == "__main__":
    sys.exit(main())
