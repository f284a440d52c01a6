"""The segmentation engine both node shells drive: model, cameras, worker, publishers, diagnostics.

``AttanetNode`` (``node.py``) runs every step at construction; ``AttanetLifecycleNode``
(``lifecycle_node.py``) runs them on the lifecycle transitions:

    load()  (configure)  model loaded and warmed up; publishers, ~/class_info, /diagnostics timer
    start() (activate)   input subscriptions and the worker thread
    stop()  (deactivate) subscriptions destroyed, worker stopped; counters kept
    unload() (cleanup)   publishers and timer destroyed, model freed

Callbacks only store messages (one newest-frame slot or one ordered queue per camera); one
worker takes the frames waiting at that moment from every camera, runs them through the model
(one batched forward for same-size frames on the GPU path, see ``FramePipeline.run_many``) and
publishes each camera's outputs with that camera's header.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from attanet_model import IGNORE_INDEX, AutoSettings, Segmenter
from attanet_ros.common.frame_pipeline import FrameOptions, FramePipeline, decode_frame
from attanet_ros.common.image_codec import ImageDecodeError
from attanet_ros.common.malloc_tuning import TRIM_INTERVAL_S, trim_heap, trims_heap, tune_for_frames
from attanet_ros.common.qos import (
    camera_info_qos,
    diagnostics_qos,
    input_qos,
    latched_qos,
    output_qos,
    overridable,
    publisher,
)

from .camera_channel import CameraChannel, CameraInfoMismatch, scaled_camera_info
from .diagnostics import diagnostic_report, sim_clock_report, stale_report, summary_report
from .frame_queue import FrameQueues
from .graph_checks import GraphWatch
from .inference_thread import InferenceThread
from .label_info import create_label_info
from .node_parameters import StartupError
from .output_publishing import OutputPublishing
from .params import NodeSettings
from .ros_args import ROS_OWNED_PREFIXES
from .stats import RateLimitedLog


@dataclass
class _Frame:
    channel: CameraChannel
    msg: Any
    received_at: float
    image: np.ndarray
    wanted: frozenset[str]
    want_info: bool
    timings: dict[str, float]


class SegmentationEngine:
    """One model, one or several cameras, one worker thread; created by a node shell."""

    def __init__(self, node: Node, settings: NodeSettings) -> None:
        self.node = node
        self.settings = settings
        self.options = self._frame_options()
        names = settings.cameras or ("",)
        self.channels = {name: CameraChannel(name) for name in names}
        self.pipeline: FramePipeline | None = None
        self.info: dict[str, str] = {}
        self.active = False
        self._batch_sizes: Counter[int] = Counter()
        self._batch_lock = threading.Lock()
        self._queues: FrameQueues | None = None
        self._graph: GraphWatch | None = None
        self._worker: Future | None = None
        self._inference: InferenceThread | None = None
        self._stop = threading.Event()
        self._publishers: list = []
        self._timer = None
        self._applying_parameters = False
        self._trim_heap = False
        self._trimmed_at = 0.0

    @property
    def executor_threads(self) -> int:
        """A blocked replay callback per camera, plus the timer, services and camera_info."""
        return len(self.channels) + 3

    # -- configure / cleanup -------------------------------------------------------------------

    def load(self) -> None:
        """Load and warm up the model, create the publishers; StartupError says what is wrong."""
        s = self.settings
        if self._inference is None:
            self._inference = InferenceThread()
        segmenter = self._inference.call(self._load_model)  # torch's thread state lives on that thread
        # outputs in kept arrays: each frame is published (copied into its CDR) before the next is made
        self.pipeline = FramePipeline(segmenter, s.output_resolution, keep_buffers=True)
        self.info = {
            "backend": segmenter.backend,
            "device": segmenter.device,
            "precision": segmenter.precision,
            "provider": segmenter.provider,
            "providers": ",".join(segmenter.providers),  # every ONNX Runtime provider the session runs
            "frame_path": segmenter.frame_path,
            "model": str(segmenter.model_path),
            "arch": segmenter.meta.arch,
            "mode": s.mode,
            "output_resolution": s.output_resolution,
            "inference_thread": self._inference.describe(),
            "malloc": tune_for_frames(),  # frame-sized buffers reused, not faulted in again each frame
            # what backend/precision auto measured and why it picked this one (or that they were given)
            "engine_choice": segmenter.auto_decision.reason if segmenter.auto_decision else "given explicitly",
        }
        if segmenter.auto_decision is not None:
            self.node.get_logger().info(f"backend/precision {segmenter.auto_decision.reason}")
        self._trim_heap = trims_heap()
        node = self.node
        for channel in self.channels.values():
            prefix = channel.output_prefix
            channel.image_pubs = {
                name: publisher(node, Image, f"{prefix}{name}", output_qos(s.mode)) for name in s.outputs
            }
            channel.camera_info_pub = publisher(node, CameraInfo, f"{prefix}camera_info", output_qos(s.mode))
            channel.log_bad = RateLimitedLog(node.get_logger().warning, s.log_throttle_period, time.monotonic)
            self._publishers += [*channel.image_pubs.values(), channel.camera_info_pub]
            channel.label_info = create_label_info(node, f"{prefix}label_info", self.pipeline.classes, s)
            self._publishers += [channel.label_info.publisher] if channel.label_info else []
        class_info_pub = publisher(node, String, "~/class_info", latched_qos())
        self.diagnostics_pub = publisher(node, DiagnosticArray, "/diagnostics", diagnostics_qos())
        self._publishers += [class_info_pub, self.diagnostics_pub]
        class_info_pub.publish(String(data=self.class_info_json()))
        # a steady timer: on ROS time (use_sim_time without /clock) it would never fire, and say nothing
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = node.create_timer(s.diagnostics_period, self.publish_diagnostics, clock=steady)
        if not self._applying_parameters:
            node.add_post_set_parameters_callback(self._apply_parameters)
            self._applying_parameters = True

    def _load_model(self) -> Segmenter:
        """The model, warmed up (run on the inference thread)."""
        s = self.settings
        backend = s.backend
        if backend == "auto" and "attention" in s.outputs:  # SAM's maps come from the torch network only
            backend = "torch"
            self.node.get_logger().info("backend auto with output 'attention': running torch (attention needs it)")
        try:
            segmenter = Segmenter(
                s.model_path or None,
                backend=backend,
                device=s.device,
                precision=s.precision,
                input_scale=s.network_scale or None,
                input_size=s.network_size,
                # on the CPU the pipeline resizes each output once, at the end (frame_pipeline.py);
                # the GPU frame path resizes on the device
                output="network" if s.device == "cpu" else s.output_resolution,
                cuda_graphs=s.cuda_graphs,
                compile_mode=s.torch_compile or None,
                trt_cache=s.trt_cache or None,
                allow_fallback=s.allow_fallback,
                # auto decides at the camera's size when the warm-up is given it (else a 1024x2048 frame's)
                auto=AutoSettings(frame_hw=s.camera_hw),
            )
        except (ValueError, OSError, RuntimeError) as exc:
            raise StartupError(f"cannot load the model: {exc}") from exc
        if s.warmup:
            try:
                segmenter.segment(np.zeros(s.warmup_shape, np.uint8))
                if len(self.channels) > 1 and segmenter.batches_frames:
                    # every camera's frame at once: the batched forward's CUDA graph is made now too
                    segmenter.segment_batch([np.zeros(s.warmup_shape, np.uint8)] * len(self.channels))
            except Exception as exc:  # e.g. out of GPU memory at the camera's size, a TensorRT build error
                raise StartupError(
                    f"the warm-up frame ({s.warmup_shape[1]}x{s.warmup_shape[0]}) failed: {type(exc).__name__}: {exc}"
                ) from exc
        return segmenter

    def unload(self) -> None:
        """Destroy publishers and timer and free the model (GPU memory included)."""
        self.stop()
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        if self._applying_parameters:
            self.node.remove_post_set_parameters_callback(self._apply_parameters)
            self._applying_parameters = False
        for pub in self._publishers:
            self.node.destroy_publisher(pub)
        self._publishers.clear()
        for channel in self.channels.values():
            channel.image_pubs, channel.camera_info_pub, channel.label_info = {}, None, None
        device = self.info.get("device")
        self.pipeline = None
        if self._inference is not None:
            self._inference.close()
            self._inference = None
        gc.collect()
        if device == "cuda":
            import torch

            torch.cuda.empty_cache()

    # -- activate / deactivate -----------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to every camera and start the worker."""
        s, node = self.settings, self.node
        self._queues = FrameQueues(list(self.channels), s.mode, s.replay_queue)
        self._stop.clear()
        self.active = True  # before subscribing: a frame arriving meanwhile is queued, not ignored
        # a profile of its own for each subscription: rclpy writes a topic's qos_overrides into the one it is given
        qos = partial(input_qos, s.mode, s.input_reliability, s.input_depth)
        infos = MutuallyExclusiveCallbackGroup()
        for channel in self.channels.values():
            # its own group per camera: a camera blocked in replay mode must not hold up the others
            images = MutuallyExclusiveCallbackGroup()
            image_topic = f"{channel.input_prefix}image"
            streams = [(Image, image_topic, False)]
            if s.subscribe_compressed:
                # image_transport's convention: <image topic>/compressed, so remapping `image` moves both
                streams.append((CompressedImage, node.resolve_topic_name(image_topic) + "/compressed", True))
            subs = [
                node.create_subscription(
                    kind,
                    topic,
                    lambda m, c=channel, z=compressed: self._on_image(c, m, z),
                    qos(),
                    callback_group=images,
                    qos_overriding_options=overridable(),
                )
                for kind, topic, compressed in streams
            ]
            subs.append(
                node.create_subscription(
                    CameraInfo,
                    f"{channel.input_prefix}camera_info",
                    lambda m, c=channel: setattr(c, "camera_info", m),
                    camera_info_qos(),
                    callback_group=infos,
                    qos_overriding_options=overridable(),
                )
            )
            channel.subscriptions = subs
        image_topics = [node.resolve_topic_name(f"{c.input_prefix}image") for c in self.channels.values()]
        image_topics += [t + "/compressed" for t in image_topics] if s.subscribe_compressed else []
        # a node of the same name, publishers whose frames never arrive: said in the log and diagnostics
        self._graph = GraphWatch(node, image_topics, node.get_logger().warning, s.mode == "replay")
        self._worker = self._inference.submit(self._work)  # the thread that loaded the model
        topics = ", ".join(node.resolve_topic_name(f"{c.input_prefix}image") for c in self.channels.values())
        node.get_logger().info(
            f"segmenting {topics} with {self.info['arch']} ({self.info['providers']}), mode {s.mode}, "
            f"outputs {', '.join(s.outputs)}"
        )

    def stop(self) -> None:
        """Stop taking frames and stop the worker (a frame in flight is published first)."""
        if not self.active:
            return
        self.active = False
        self._graph = None  # not subscribed: silent camera publishers are no news while inactive
        self._stop.set()
        if self._queues is not None:
            self._queues.close()  # wakes a callback blocked in replay mode
        for channel in self.channels.values():
            for sub in channel.subscriptions:
                self.node.destroy_subscription(sub)
            channel.subscriptions = []
        if self._worker is not None:
            try:
                self._worker.result(timeout=30)
            except Exception as exc:  # a loop that cannot end or died: said, the node still stops
                self.node.get_logger().error(f"the inference worker did not end cleanly: {type(exc).__name__}: {exc}")
            self._worker = None

    # -- parameters ----------------------------------------------------------------------------

    def _apply_parameters(self, parameters) -> None:
        parameters = [p for p in parameters if not p.name.startswith(ROS_OWNED_PREFIXES)]  # declared by rclpy
        if not parameters:
            return
        for p in parameters:
            self.settings = self.settings.with_update(p.name, p.value)
        self.options = self._frame_options()  # one atomic swap; the worker reads it once per frame
        self.node.get_logger().info("set " + ", ".join(f"{p.name}={p.value}" for p in parameters))

    def _frame_options(self) -> FrameOptions:
        s = self.settings
        return FrameOptions(s.overlay_alpha, s.confidence_threshold, s.attention_column, s.attention_row)

    def class_info_json(self) -> str:
        classes = [c.to_dict() for c in self.pipeline.classes]
        return json.dumps({"classes": classes, "ignore_index": IGNORE_INDEX, "arch": self.info["arch"]})

    # -- callbacks: store and return -----------------------------------------------------------

    def _on_image(self, channel: CameraChannel, msg, compressed: bool) -> None:
        if not self.active:
            return
        channel.stats.on_received()
        channel.last_frame_at = time.monotonic()
        dropped = self._queues.put(channel.name, (msg, compressed, time.perf_counter()))
        if dropped:
            channel.stats.on_dropped(dropped)

    # -- worker --------------------------------------------------------------------------------

    def _work(self) -> None:
        queues = self._queues
        while not self._stop.is_set():
            items = queues.take(timeout=0.1)
            frames = []
            for name, (msg, compressed, received_at) in items:
                channel = self.channels[name]
                try:
                    frame = self._decode(channel, msg, compressed, received_at)
                except Exception as exc:  # never let one frame kill the worker; say what happened
                    self._internal_error(channel, exc)
                    continue
                if frame is not None:
                    frames.append(frame)
            if frames:
                self._segment_and_publish(frames)

    def _internal_error(self, channel: CameraChannel, exc: Exception) -> None:
        channel.stats.on_error("internal")
        channel.log_bad("internal", f"processing a frame failed: {type(exc).__name__}: {exc}")

    def _decode(self, channel: CameraChannel, msg, compressed: bool, received_at: float) -> _Frame | None:
        wanted = frozenset(name for name, pub in channel.image_pubs.items() if pub.get_subscription_count() > 0)
        want_info = channel.camera_info is not None and channel.camera_info_pub.get_subscription_count() > 0
        channel.outputs_active = ",".join(sorted(wanted | ({"camera_info"} if want_info else set())))
        if not wanted and not want_info:
            channel.stats.on_skipped()
            return None
        t0 = time.perf_counter()
        try:
            image = decode_frame(msg, compressed)
        except ImageDecodeError as exc:
            channel.stats.on_error(exc.kind)
            # the compressed topic follows `image`'s remapping (see start()): name the one subscribed
            topic = self.node.resolve_topic_name(f"{channel.input_prefix}image") + ("/compressed" if compressed else "")
            channel.log_bad(exc.kind, f"skipped a frame on {topic}: {exc}")
            return None
        timings = {"decode": (time.perf_counter() - t0) * 1e3}
        return _Frame(channel, msg, received_at, image, wanted, want_info, timings)

    def _segment_and_publish(self, frames: list[_Frame]) -> None:
        """Segment the frames and publish each output the moment it is made (labels first: a consumer of the
        labels does not wait for the colour, overlay and confidence images), then camera_info and the counts."""
        options = self.options  # one frame, one set of options (parameters may change meanwhile)
        for frame in list(frames):
            try:
                self._follow_label_info(frame, options)
            except Exception as exc:
                self._internal_error(frame.channel, exc)
                frames.remove(frame)
        segmented = [f for f in frames if f.wanted]
        publishing = [OutputPublishing(f) for f in segmented]
        try:
            outputs, batches = self.pipeline.run_many(
                [(f.image, f.wanted) for f in segmented], options, lambda i, name, array: publishing[i](name, array)
            )
        except Exception as exc:
            for f in segmented:
                self._internal_error(f.channel, exc)
            frames = [f for f in frames if not f.wanted]
            outputs, batches, publishing = [], [], []
        with self._batch_lock:
            self._batch_sizes.update(batches)
        by_frame = {id(p.frame): (out, p) for out, p in zip(outputs, publishing, strict=False)}
        for frame in frames:
            out, streamed = by_frame.get(id(frame), (None, None))
            try:
                if streamed is not None and streamed.failed is not None:
                    raise streamed.failed  # one frame's failed publish, counted for it alone
                self._publish(frame, out, streamed)
            except Exception as exc:
                self._internal_error(frame.channel, exc)

    @staticmethod
    def _follow_label_info(frame: _Frame, options: FrameOptions) -> None:
        """The camera's frame_id (and a new confidence threshold) on ~/label_info before its labels."""
        if frame.channel.label_info is not None:
            frame.channel.label_info.follow(options.confidence_threshold, frame.msg.header)

    def _publish(self, frame: _Frame, outputs, streamed: OutputPublishing | None) -> None:
        """camera_info and the frame's counts (its images went out as they were made: ``streamed``)."""
        channel, header = frame.channel, frame.msg.header
        timings = dict(frame.timings)
        t1 = time.perf_counter()
        if outputs is not None:
            timings.update(outputs.timings_ms)
        if frame.want_info:
            self._publish_camera_info(channel, frame.image.shape[:2], header)
        done = time.perf_counter()
        timings["publish"] = (streamed.seconds if streamed is not None else 0.0) * 1e3 + (done - t1) * 1e3
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        now_ns = self.node.get_clock().now().nanoseconds  # 0 on sim time before the first /clock
        latency = (now_ns - stamp_ns) / 1e6 if stamp_ns > 0 and now_ns > 0 else None
        channel.stats.on_processed(latency, (done - frame.received_at) * 1e3, timings)

    def _publish_camera_info(self, channel: CameraChannel, image_hw, header) -> None:
        """~/camera_info for this frame, or, when the camera_info cannot describe it, a count and a warning."""
        size = self.pipeline.output_size(*image_hw)
        try:
            info = scaled_camera_info(channel.camera_info, image_hw, size, header)
        except CameraInfoMismatch as exc:
            channel.stats.on_camera_info_mismatch(str(exc))
            topic = self.node.resolve_topic_name(f"{channel.input_prefix}camera_info")
            channel.log_bad("camera_info", f"{topic}: {exc}")
            return
        channel.camera_info_pub.publish(info)

    # -- diagnostics ---------------------------------------------------------------------------

    def batch_sizes(self) -> str:
        """Forward batch sizes used so far, e.g. '1:40,3:12' (size:count)."""
        with self._batch_lock:
            return ",".join(f"{size}:{count}" for size, count in sorted(self._batch_sizes.items()))

    def publish_diagnostics(self) -> None:
        s, now = self.settings, time.monotonic()
        if self._trim_heap and now - self._trimmed_at >= TRIM_INTERVAL_S:
            trim_heap()  # the kept heap's free pages back to the OS now and then, so it cannot creep
            self._trimmed_at = now
        name = f"{self.node.get_fully_qualified_name()}: segmentation"
        statuses = []
        snapshots = {name: channel.stats.snapshot() for name, channel in self.channels.items()}
        problems, graph_values = [], {}
        if self._graph is not None:
            received = sum(snapshot["received"] for snapshot in snapshots.values())
            waiting = len(self._queues) if self._queues is not None else 0
            problems, graph_values = self._graph.check(received, waiting)
        clock = self.node.get_clock()
        clock_problems, clock_values = sim_clock_report(clock.ros_time_is_active, clock.now().nanoseconds)
        problems, graph_values = clock_problems + problems, {**graph_values, **clock_values}
        for key, channel in self.channels.items():
            snapshot = snapshots[key]
            info = {"outputs_active": channel.outputs_active}
            if channel.name:
                info["image_topic"] = self.node.resolve_topic_name(f"{channel.input_prefix}image")
            else:
                info = {**self.info, **info, "batch_sizes": self.batch_sizes(), **graph_values}
            level, message, values = diagnostic_report(
                snapshot, channel.last_snapshot, info, s.diagnostics_period, () if channel.name else problems
            )
            channel.last_snapshot = snapshot
            age = None if channel.last_frame_at is None else now - channel.last_frame_at
            level, message, values = stale_report(level, message, values, age, s.camera_stale_after)
            if not self.active:
                message = "inactive: not taking frames (lifecycle state)"
            status_name = f"{self.node.get_fully_qualified_name()}: camera {channel.name}" if channel.name else name
            statuses.append((status_name, level, message, values))
        if self.settings.cameras:
            per_camera = [(c.name, st[1], st[2]) for c, st in zip(self.channels.values(), statuses, strict=True)]
            level, message, values = summary_report(
                per_camera, {**self.info, "batch_sizes": self.batch_sizes(), **graph_values}
            )
            if problems:  # the graph's findings belong to the node, not to one camera
                level = max(level, *(lvl for lvl, _ in problems))
                message = "; ".join([text for _, text in problems] + [message])
            if not self.active:
                message = "inactive: not taking frames (lifecycle state)"
            statuses.insert(0, (name, level, message, values))
        array = DiagnosticArray(
            status=[
                DiagnosticStatus(
                    level=bytes([level]),
                    name=status_name,
                    message=message,
                    hardware_id=self.info.get("provider", ""),
                    values=[KeyValue(key=k, value=v) for k, v in values],
                )
                for status_name, level, message, values in statuses
            ]
        )
        array.header.stamp = self.node.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)
