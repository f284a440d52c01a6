"""The measuring tools' side of the node: the node in its own process (as deployed), and a client in
this one that publishes the camera and hears its outputs and ``/diagnostics`` over DDS.

``latency_bench.measure`` and ``soak.run_soak`` both open one with ``bench_client``, wait for
the node with ``wait_until_connected`` and get it stopped, its log closed and the client's
context shut down on every way out.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, Any

from attanet_ros.common.malloc_tuning import tune_for_frames

CAMERA_TOPIC = "/bench/camera"


@dataclass
class BenchClient:
    """The node's process and log, the client node, its executor, the camera publisher, the
    reliable QoS the outputs are heard with, and the ``/diagnostics`` arrays received so far."""

    node: subprocess.Popen
    log: IO[str]
    client: Any  # rclpy.node.Node
    executor: Any  # rclpy.executors.SingleThreadedExecutor
    publisher: Any  # the camera's sensor_msgs/Image publisher
    reliable: Any  # rclpy.qos.QoSProfile
    diagnostics: list

    def node_log(self) -> str:
        """What the node has written to stdout and stderr so far."""
        self.log.seek(0)
        return self.log.read()

    def wait_until_connected(self, topics: list[str], timeout_s: float = 120.0) -> None:
        """Spin until the node subscribes to the camera and publishes every one of ``topics``;
        ``RuntimeError`` with the node's log when it exits or ``timeout_s`` passes first."""
        deadline = time.monotonic() + timeout_s
        while self.publisher.get_subscription_count() == 0 or any(self.client.count_publishers(t) == 0 for t in topics):
            self.executor.spin_once(timeout_sec=0.05)
            if self.node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not come up:\n{self.node_log()}")
        self.executor.spin_once(timeout_sec=1.0)  # let the node see our subscriptions too


def stop_node(node: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """SIGTERM, then wait; a node still running after ``timeout_s`` is killed — never left behind to
    load the CPU of every later measurement — and ``RuntimeError`` says so (a node that ignores SIGTERM
    is a fault of its own)."""
    from attanet_ros.tools.dds_check import terminate_or_kill

    if terminate_or_kill(node, timeout_s):
        raise RuntimeError(f"the node (pid {node.pid}) did not stop within {timeout_s:g} s of SIGTERM and was killed")


@contextmanager
def bench_client(
    command: list[str], env: dict[str, str], domain_id: int, name: str, stop_timeout_s: float = 30.0
) -> Iterator[BenchClient]:
    """Start the node with ``command`` in ``env`` and a client node ``name`` on ``domain_id``;
    on the way out the node is stopped (``stop_node``), its log closed, the client shut down."""
    import rclpy
    import rclpy.executors
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    with ExitStack() as stack:
        log = stack.enter_context(tempfile.TemporaryFile("w+"))
        node = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(stop_node, node, stop_timeout_s)
        tune_for_frames()  # receive the outputs as any tuned consumer would (the node does the same)
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain_id)
        stack.callback(rclpy.try_shutdown, context=context)
        client = rclpy.create_node(name, context=context)
        stack.callback(client.destroy_node)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        stack.callback(executor.shutdown)
        executor.add_node(client)
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        diagnostics: list = []
        client.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
        publisher = client.create_publisher(Image, CAMERA_TOPIC, reliable)
        yield BenchClient(node, log, client, executor, publisher, reliable, diagnostics)
