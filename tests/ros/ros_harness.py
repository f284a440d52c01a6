"""Test harness: the node in its own process, a test-side rclpy client, both over real Fast DDS.

Each test module gets its own ROS domain (so helpers running tests at the same time do not
hear each other) and both ends load the shipped shared-memory profile, as users are told to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from attanet_ros.common.image_codec import array_to_image_msg
from attanet_ros.node.node_command import node_command

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "config" / "fastdds_shm.xml"
PARAMS_FILE = REPO / "config" / "attanet.yaml"
NAMESPACE = "/t"
NODE = f"{NAMESPACE}/attanet"
CAMERA = "/cam/image"

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# What Nav2's semantic segmentation layer subscribes to LabelInfo with (reliable, transient local, depth 5).
LAYER_LABELS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def model_classes() -> list[tuple[int, str]]:
    """(id, name) of the bundled model's class table, read from its file."""
    from attanet_model import default_model_path
    from attanet_model.checkpoint import read_checkpoint

    return [(c["id"], c["name"]) for c in read_checkpoint(default_model_path())["meta"]["classes"]]


def domain_for(offset: int) -> int:
    """A ROS domain per test module (``offset`` 0..4), shifted by the pytest process id so that
    concurrent test runs on one machine (other helpers, CI jobs) do not share a domain."""
    assert 0 <= offset < 5
    return 1 + (os.getpid() % 19) * 5 + offset


def ros_env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        FASTDDS_DEFAULT_PROFILES_FILE=str(PROFILE),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    return env


class NodeProcess:
    """``python -m attanet_ros.node --ros-args ...`` as a child process, its output kept in a file."""

    def __init__(
        self,
        domain_id: int,
        params: dict[str, Any] | None = None,
        params_file: Path | None = PARAMS_FILE,
        extra_args: list[str] | None = None,
        module: str = "attanet_ros.node",
        env: dict[str, str | None] | None = None,
    ) -> None:
        """``env``: changes to the node's environment (None removes a variable)."""
        args = node_command(
            module=module,
            remaps={"__ns": NAMESPACE, "image": CAMERA, "camera_info": "/cam/camera_info"},
            params_file=params_file,
            params=params,
            extra_args=extra_args or (),
            faulthandler=True,  # a crash of the node (e.g. at shutdown) leaves its thread stacks in the log
        )
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="attanet_node_")  # noqa: SIM115
        node_env = ros_env(domain_id)
        for key, value in (env or {}).items():
            node_env.pop(key, None) if value is None else node_env.__setitem__(key, value)
        self.proc = subprocess.Popen(args, env=node_env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def wait_for_output(self, text: str, timeout: float) -> bool:
        """Until ``text`` is in the node's output (True) or it exits / ``timeout`` passes (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        return text in self.output()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


class RosClient:
    """The test's side of DDS: its own rclpy context, publishers, collecting subscriptions."""

    def __init__(self, domain_id: int) -> None:
        for key, value in ros_env(domain_id).items():
            if key != "PYTHONUNBUFFERED":
                os.environ[key] = value
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("attanet_test_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._subs = []

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return
            self.executor.spin_once(timeout_sec=0.02)
        if not condition():
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def subscribe(self, msg_type, topic: str, qos: QoSProfile = RELIABLE) -> list:
        received: list = []
        self._subs.append(self.node.create_subscription(msg_type, topic, received.append, qos))
        return received

    def subscribe_timed(self, msg_type, topic: str, qos: QoSProfile = RELIABLE) -> tuple[list, dict[str, float]]:
        """Like ``subscribe``, plus each message's arrival time (wall clock, s) by its header's frame_id."""
        received: list = []
        arrivals: dict[str, float] = {}

        def on_message(msg) -> None:
            arrivals[msg.header.frame_id] = time.time()
            received.append(msg)

        self._subs.append(self.node.create_subscription(msg_type, topic, on_message, qos))
        return received, arrivals

    def unsubscribe_all(self) -> None:
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs.clear()

    def publisher(self, msg_type=Image, topic: str = CAMERA, qos: QoSProfile = RELIABLE):
        return self.node.create_publisher(msg_type, topic, qos)

    def wait_for_match(self, publisher, timeout: float = 30.0) -> None:
        self.wait_for(lambda: publisher.get_subscription_count() > 0, timeout, "the node to subscribe")

    def wait_for_node_subscribers(self, topic: str, count: int, timeout: float = 30.0) -> None:
        """Until the node sees ``count`` subscribers on ``topic`` (our subscriptions are discovered)."""
        self.wait_for(
            lambda: self.node.count_subscribers(topic) >= count and self.node.count_publishers(topic) > 0,
            timeout,
            f"discovery of {topic}",
        )

    def set_parameters(self, **values: Any):
        """Set parameters on the node; returns the SetParametersResult list."""
        client = AsyncParameterClient(self.node, NODE)
        self.wait_for(lambda: client.services_are_ready(), 30, "the node's parameter services")
        # an answer sent before the node matched this new client's response reader is lost (Fast DDS "failed to
        # send response (timeout)"): setting the same values again changes nothing, so ask until one arrives
        deadline = time.monotonic() + 30
        while True:
            future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
            self.executor.spin_until_future_complete(future, timeout_sec=5)
            if future.done():
                return future.result().results
            assert time.monotonic() < deadline, "set_parameters got no answer in 30 s"

    def image(
        self, bgr: np.ndarray, stamp_ns: int | None = None, frame_id: str = "camera", encoding: str = "bgr8"
    ) -> Image:
        msg = array_to_image_msg(Image(), bgr if encoding == "bgr8" else bgr[:, :, ::-1], encoding)
        msg.header.frame_id = frame_id
        stamp_ns = self.now_ns() if stamp_ns is None else stamp_ns
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        return msg

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds


def diagnostics_values(array: DiagnosticArray) -> dict[str, str]:
    status = [s for s in array.status if s.name.startswith(NODE)]
    assert status, f"no status from {NODE} in {[s.name for s in array.status]}"
    values = {kv.key: kv.value for kv in status[0].values}
    values["_message"] = status[0].message
    values["_level"] = status[0].level[0] if isinstance(status[0].level, bytes) else status[0].level
    return values


def class_info(msg) -> dict:
    return json.loads(msg.data)


def stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def to_array(msg: Image) -> np.ndarray:
    channels = {"mono8": 1, "rgb8": 3, "bgr8": 3}[msg.encoding]
    data = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return (
        data.reshape(msg.height, msg.width, channels).squeeze(-1)
        if channels == 1
        else data.reshape(msg.height, msg.width, channels)
    )


def street_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A small synthetic BGR street-like frame: sky, buildings, road, with noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    img[: height // 3] = (180, 130, 70)
    img[height // 3 : 2 * height // 3] = (70, 70, 70)
    img[2 * height // 3 :] = (128, 64, 128)
    noise = rng.integers(-20, 21, size=img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)
