"""The live source: the camera topic and the AttaNet node's outputs, paired by header stamp.

rclpy is imported here only, inside the worker thread, so the viewer on files never needs ROS.
The node's ``~/labels`` and ``~/confidence`` carry the camera frame's header, so a frame is
complete when the camera image and both outputs with one stamp have arrived. The worker runs
its own rclpy context and executor and never touches Qt; frames reach the UI through the slot.

The node does not answer per-click attention queries, so clicks are answered by a local
``Segmenter`` (built on the worker thread on the first click) on the camera image shown.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from attanet_model import CITYSCAPES_CLASSES, ClassInfo, Segmenter
from attanet_ros.common.ros_context import private_node

from .frames import Frame
from .sources import FrameSource

log = logging.getLogger(__name__)

MAX_PENDING = 30  # stamps waiting for their partners (viewer); older ones are given up
WALL_CLOCK_SLACK_NS = 60 * 1_000_000_000  # a stamp this close to now is wall-clock time: latency is meaningful


def mono8_array(msg) -> np.ndarray:
    """HxW uint8 pixels of a mono8 sensor_msgs/Image (labels, confidence), ``step`` padding removed."""
    if msg.encoding.lower() not in ("mono8", "8uc1"):
        raise ValueError(f"expected a mono8 image, got encoding {msg.encoding!r}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(msg.data, np.uint8)
    if step < width or data.size < step * height:
        raise ValueError(f"mono8 image {height}x{width} (HxW) with step {step} does not fit its {data.size} bytes")
    return data[: step * height].reshape(height, step)[:, :width].copy()


def parse_class_info(text: str) -> tuple[ClassInfo, ...]:
    """The node's ``~/class_info`` JSON (``{"classes": [{"id", "name", "color"}, ...]}``)."""
    try:
        return tuple(ClassInfo.from_dict(c) for c in json.loads(text)["classes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"class_info is not the node's JSON ({exc}): {text[:80]!r}") from exc


class StampPairer:
    """Collects messages by stamp until one stamp has every part; keeps at most ``MAX_PENDING`` stamps."""

    def __init__(self, parts: tuple[str, ...], max_pending: int = MAX_PENDING) -> None:
        self.parts = parts
        self.max_pending = max_pending
        self._pending: OrderedDict[int, dict] = OrderedDict()
        self.given_up = 0

    def add(self, stamp: int, part: str, value) -> dict | None:
        entry = self._pending.setdefault(stamp, {})
        entry[part] = value
        if all(p in entry for p in self.parts):
            del self._pending[stamp]
            # Anything older than a completed stamp will not complete any more (DDS keeps order per topic).
            for old in [s for s in self._pending if s < stamp]:
                del self._pending[old]
                self.given_up += 1
            return entry
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
            self.given_up += 1
        return None


class RosTopicSource(FrameSource):
    """Subscribes to ``camera_topic`` and the node's outputs under ``outputs_ns`` (e.g. /attanet).

    ``attention_factory`` builds the local model that answers clicks (None: clicks are ignored
    and the status line says so). ``domain_id`` None uses ROS_DOMAIN_ID as rclpy does.

    For the viewer (``every_frame`` False) subscriptions are best effort and shallow and frames
    go to the newest-only slot. For evaluation (``every_frame`` True, the headless demo) they
    are reliable and deep, and every complete frame goes to ``sink`` in arrival order.

    ``Frame.latency_ms`` is camera stamp -> labels received when the stamp is wall-clock time,
    else (a replayed bag's recorded stamps) camera image received -> labels received by this
    process; both are in ``timings_ms`` when known.
    """

    name = "ROS topics"

    def __init__(
        self,
        camera_topic: str,
        outputs_ns: str = "/attanet",
        attention_factory: Callable[[], Segmenter] | None = None,
        domain_id: int | None = None,
        spin_timeout_s: float = 0.05,
        every_frame: bool = False,
        sink: Callable[[Frame], None] | None = None,
        with_confidence: bool = True,
    ) -> None:
        super().__init__()
        # Without confidence (the headless demo scores labels only) the node is not asked for it: with
        # no subscriber it does not compute or publish it.
        self._parts = ("camera", "labels", "confidence") if with_confidence else ("camera", "labels")
        self.every_frame = every_frame
        self.sink = sink if sink is not None else self.slot.put
        self.camera_topic = camera_topic
        self.outputs_ns = "/" + outputs_ns.strip("/")
        self.attention_factory = attention_factory
        self.domain_id = domain_id
        self.spin_timeout_s = spin_timeout_s
        self.classes: tuple[ClassInfo, ...] = CITYSCAPES_CLASSES
        self.class_info_received = False
        # The node's labels and confidence publishers are known to this source's graph: frames the node
        # segments from now on reach it (before that, reliable outputs published too early are lost).
        self.outputs_discovered = threading.Event()
        self.messages_received = 0
        self.ready = threading.Event()
        # Evaluation waits for a slow node: the camera may run many frames ahead of the labels.
        self._pairer = StampPairer(self._parts, 10 * MAX_PENDING if every_frame else MAX_PENDING)
        self._index = -1
        self._last: Frame | None = None
        self._segmenter: Segmenter | None = None

    def describe(self) -> str:
        return f"{self.camera_topic} and {self.outputs_ns}/labels (is the node running?)"

    @property
    def topics(self) -> dict[str, str]:
        ns = self.outputs_ns
        return {
            "camera": self.camera_topic,
            "labels": f"{ns}/labels",
            "confidence": f"{ns}/confidence",
            "class_info": f"{ns}/class_info",
        }

    def run(self) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from attanet_ros.common.image_codec import ImageDecodeError, image_from_msg

        with private_node("attanet_viewer", self.domain_id) as node:
            # Best effort matches both reliable and best-effort publishers; depth 5 absorbs a slow spin.
            if self.every_frame:
                images = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
            else:
                images = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
            latched = QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
            )
            topics = self.topics

            def on_camera(msg: Image) -> None:
                try:
                    image = image_from_msg(msg, use_cv_bridge=False)
                except ImageDecodeError as exc:
                    stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                    self.skip(f"{topics['camera']}@{stamp}", str(exc))
                    return
                self._add(msg.header, "camera", image)

            def on_mono(part: str) -> Callable[[Image], None]:
                def callback(msg: Image) -> None:
                    try:
                        self._add(msg.header, part, mono8_array(msg))
                    except ValueError as exc:
                        self.notice = f"{topics[part]} skipped: {exc}"

                return callback

            def on_class_info(msg: String) -> None:
                try:
                    self.classes = parse_class_info(msg.data)
                    self.class_info_received = True
                except ValueError as exc:
                    self.notice = str(exc)

            node.create_subscription(Image, topics["camera"], on_camera, images)
            node.create_subscription(Image, topics["labels"], on_mono("labels"), images)
            if "confidence" in self._parts:
                node.create_subscription(Image, topics["confidence"], on_mono("confidence"), images)
            node.create_subscription(String, topics["class_info"], on_class_info, latched)
            executor = SingleThreadedExecutor(context=node.context)
            executor.add_node(node)
            self.ready.set()
            while not self._stop.is_set():
                executor.spin_once(timeout_sec=self.spin_timeout_s)
                if not self.outputs_discovered.is_set() and all(
                    node.count_publishers(topics[part]) > 0 for part in self._parts[1:]
                ):
                    self.outputs_discovered.set()
                if self._query_changed:
                    self._query_changed = False
                    if self._last is not None:
                        self._emit(self._last, recompute_attention=True)
            executor.shutdown()

    def _add(self, header, part: str, value: np.ndarray) -> None:
        self.messages_received += 1
        stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        entry = self._pairer.add(stamp, part, (value, time.monotonic()))
        if entry is None:
            return
        (image, camera_at), (labels, labels_at) = entry["camera"], entry["labels"]
        confidence = entry["confidence"][0] if "confidence" in entry else None
        timings = {"camera_to_labels": (labels_at - camera_at) * 1e3}
        now = time.time_ns()
        if abs(now - stamp) < WALL_CLOCK_SLACK_NS:
            timings["stamp_to_labels"] = (now - stamp) / 1e6 - (time.monotonic() - labels_at) * 1e3
        h, w = image.shape[:2]
        if labels.shape != (h, w):  # the node may publish at network size (output_resolution parameter)
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        if confidence is not None and confidence.shape != (h, w):
            confidence = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
        self.frames_processed += 1
        self._index += 1
        frame = Frame(
            index=self._index,
            name=f"{self.camera_topic}@{stamp}",
            stamp_ns=stamp,
            image_bgr=image,
            labels=labels,
            classes=self.classes,
            confidence=None if confidence is None else confidence.astype(np.float32) / 255.0,
            latency_ms=timings.get("stamp_to_labels", timings["camera_to_labels"]),
            timings_ms=timings,
        )
        if not self._take_turn():
            return
        self._emit(frame, recompute_attention=self._query is not None)

    def _take_turn(self) -> bool:
        """Paused: frames keep arriving but only a single-step lets one through to the display."""
        with self._wake:
            if not self._paused:
                return True
            if self._steps > 0:
                self._steps -= 1
                return True
            return False

    def _emit(self, frame: Frame, recompute_attention: bool) -> None:
        query = self._query
        if recompute_attention and query is not None:
            attention = self._attention(frame, query)
            frame = replace(frame, attention=attention, attention_query=query if attention is not None else None)
        elif query is None and frame.attention is not None:
            frame = replace(frame, attention=None, attention_query=None)
        self._last = frame
        self.sink(frame)

    def _attention(self, frame: Frame, query) -> np.ndarray | None:
        if self.attention_factory is None:
            self.notice = "clicks need a local model for attention (start the viewer with --model or the default)"
            return None
        try:
            if self._segmenter is None:
                self._segmenter = self.attention_factory()
            return self._segmenter.segment(frame.image_bgr, query).attention
        except ValueError as exc:
            self.notice = f"no attention map: {exc}"
            return None
