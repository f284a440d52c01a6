"""The node's executor hands each callback to its pool once, however busy the interpreter is.

rclpy's MultiThreadedExecutor (kilted 9.x) hands a callback that is queued in its pool but not yet
started out again, without waiting (ros2/rclpy#1452): the more another Python thread competes for
the GIL (the node's inference thread does, between its C calls), the longer a queued callback waits
to start and the more hand-outs it gets. In the node that delayed one camera frame in four by
50-1500 ms. The condition is forced here: a thread runs Python code the whole time, and every
message and timer tick is counted against the hand-outs it took.
"""

from __future__ import annotations

import threading
import time

import pytest
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from attanet_ros.node.executor import NodeExecutor

MESSAGES = 40


def _hand_outs_per_callback(executor_class) -> tuple[int, int]:
    """Publish MESSAGES to a node spun by ``executor_class`` (4 threads, the subscription in a group of
    its own, a timer in the default group) while another thread keeps the GIL busy.
    Returns (callbacks run, callbacks handed to the pool)."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=91)
    node = rclpy.create_node("executor_probe", context=context)
    source = rclpy.create_node("executor_probe_source", context=context)
    executor = executor_class(num_threads=4, context=context)
    executor.add_node(node)
    ran: list[str] = []
    # every message kept and delivered, however late the subscription matches or slow the callbacks run
    qos = QoSProfile(
        depth=2 * MESSAGES, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    node.create_subscription(
        String, "probe", lambda m: ran.append(m.data), qos, callback_group=MutuallyExclusiveCallbackGroup()
    )
    node.create_timer(0.05, lambda: ran.append("tick"))
    publisher = source.create_publisher(String, "probe", qos)
    hand_outs = []
    submit = executor._executor.submit

    def counting_submit(fn, *args, **kwargs):
        hand_outs.append(fn)
        return submit(fn, *args, **kwargs)

    executor._executor.submit = counting_submit
    stop = threading.Event()

    def interpreter_busy():
        while not stop.is_set():
            sum(range(20_000))

    threads = [threading.Thread(target=f, daemon=True) for f in (executor.spin, interpreter_busy)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(MESSAGES):
            publisher.publish(String(data=str(i)))
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while sum(1 for r in ran if r != "tick") < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.01)
        executor._executor.submit = submit
        callbacks, count = len(ran), len(hand_outs)
    finally:
        stop.set()
        executor.shutdown()
        for thread in threads:
            thread.join(10)
        source.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert sum(1 for r in ran if r != "tick") == MESSAGES, "messages were lost"
    assert not threads[0].is_alive(), "the executor did not stop on shutdown"
    return callbacks, count


def test_each_callback_is_handed_to_the_pool_once():
    callbacks, hand_outs = _hand_outs_per_callback(NodeExecutor)
    # one hand-out per callback; at most one more each, in the instant between a task starting and executing
    assert hand_outs <= 2 * callbacks + 2, f"{hand_outs} hand-outs for {callbacks} callbacks: the executor spun"


def test_rclpys_executor_hands_callbacks_out_again_in_the_same_condition():
    """The forced condition is real: rclpy's own executor hands queued callbacks out several times each.
    When an rclpy release fixes it (ros2/rclpy#1547), this says so and NodeExecutor can go."""
    callbacks, hand_outs = _hand_outs_per_callback(MultiThreadedExecutor)
    if hand_outs <= 3 * callbacks:
        pytest.skip(f"rclpy's MultiThreadedExecutor handed {callbacks} callbacks out {hand_outs} times: fixed upstream")
    assert hand_outs > 3 * callbacks
