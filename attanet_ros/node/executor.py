"""The node's executor: rclpy's ``MultiThreadedExecutor`` without its busy loop.

rclpy's ``MultiThreadedExecutor`` (9.x, kilted) hands each ready callback to its thread pool and at
once looks for more work; a callback queued in the pool but not yet started still counts as work
to hand out, so the spinning thread hands it out again, and again, without ever waiting
(ros2/rclpy#1452, fixed upstream by ros2/rclpy#1547). While it does, it holds the GIL, which the
pool thread needs to start the callback and the node's inference thread needs for every Python
step: measured in the node, the camera callback ran 5 ms after the frame's stamp most of the time
and 50-1500 ms after it for one frame in four, thousands of hand-outs for 40 frames (docs/SPEED.md).

``NodeExecutor`` hands a callback to the pool and waits until a pool thread has started it before
it looks for more work: the spinning thread then sleeps in the wait set between frames, as a
single-threaded executor does, and callbacks still run side by side (a replay-mode camera callback
that blocks does not hold up diagnostics or parameter services).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rclpy.executors import (
    ConditionReachedException,
    ExternalShutdownException,
    MultiThreadedExecutor,
    ShutdownException,
    TimeoutException,
)

STARTED_POLL_S = 0.1  # how often a wait for the pool re-checks for shutdown


class NodeExecutor(MultiThreadedExecutor):
    """A ``MultiThreadedExecutor`` that waits for each callback it hands to its pool to start."""

    def __init__(self, num_threads: int | None = None, **kwargs) -> None:
        super().__init__(num_threads=num_threads, **kwargs)
        self.handed_out = 0  # callbacks handed to the pool (each exactly once)

    def _spin_once_impl(self, timeout_sec=None, wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            handler, _entity, _node = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException, ConditionReachedException):
            return
        started = threading.Event()

        def run() -> None:
            started.set()
            handler()

        self._executor.submit(run)
        self.handed_out += 1
        self._futures.append(handler)
        # the pool thread sets `started` a few bytecodes before the task marks itself executing; until
        # then the task may be handed out once more, which is harmless (a started task returns at once)
        while not started.wait(STARTED_POLL_S):
            if self._is_shutdown or not self._context.ok():
                break
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                future.result()  # a callback's exception is raised here, as rclpy's executor does
