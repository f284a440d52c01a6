"""The ``attanet`` ROS 2 node: camera images in, semantic labels out.

A thin shell. Parameters come from ``params.py``, QoS from ``qos.py``, the per-frame work from
``frame_pipeline.py``, counters from ``stats.py``. Callbacks only store messages; one worker
thread decodes, segments and publishes, so a slow network never blocks the executor.

Run: ``ros2 run attanet_ros attanet_node --ros-args --params-file config/attanet.yaml``
(or ``attanet_node`` / ``python -m attanet_ros.node`` with the same arguments).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy._rclpy_pybind11 import RCLError
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from attanet_model import IGNORE_INDEX

from .dds_env import transport_setting, use_shipped_profile
from .diagnostics import diagnostic_report
from .frame_pipeline import FrameOptions, FramePipeline, decode_frame, make_segmenter, scale_camera_info
from .frame_queue import FrameQueue
from .graph_checks import GraphWatch
from .image_codec import ImageDecodeError, array_to_image_msg
from .malloc_tuning import fix_mmap_threshold
from .params import PARAMETERS, ParamError, settings_from_values, update_problem
from .qos import input_qos, latched_qos, output_qos
from .ros_args import preflight, rcl_error_line
from .stats import FrameStats, RateLimitedLog

NODE_NAME = "attanet"
ENCODINGS = {"labels": "mono8", "color": "rgb8", "overlay": "rgb8", "confidence": "mono8", "attention": "mono8"}


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the message says what to change."""


class AttanetNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.settings = self._declare_parameters()
        s = self.settings
        try:
            segmenter = make_segmenter(
                s.model_path,
                s.backend,
                s.device,
                s.precision,
                s.output_resolution,
                s.network_scale,
                s.network_size,
                cuda_graphs=s.cuda_graphs,
                compile_mode=s.torch_compile,
            )
        except (ValueError, OSError, RuntimeError) as exc:
            raise StartupError(f"cannot load the model: {exc}") from exc
        self.pipeline = FramePipeline(segmenter, s.output_resolution, s.network_scale or None, s.network_size)
        if s.warmup:
            import numpy as np

            segmenter.segment(np.zeros(s.warmup_shape, np.uint8))
        self.options = self._frame_options()
        self.stats = FrameStats()
        self.queue = FrameQueue(s.mode, s.replay_queue)
        self._log_bad = RateLimitedLog(self.get_logger().warning, s.log_throttle_period, time.monotonic)
        self._camera_info: CameraInfo | None = None
        self._last_snapshot: dict | None = None
        self._outputs_active = ""  # which outputs had subscribers at the last frame (shows laziness)
        self.info = {
            "backend": segmenter.backend,
            "device": segmenter.device,
            "precision": segmenter.precision,
            "provider": segmenter.provider,
            "frame_path": segmenter.frame_path,
            "model": str(segmenter.model_path),
            "arch": segmenter.meta.arch,
            "mode": s.mode,
            "output_resolution": s.output_resolution,
        }

        self.image_pubs = {name: self.create_publisher(Image, f"~/{name}", output_qos(s.mode)) for name in s.outputs}
        self.camera_info_pub = self.create_publisher(CameraInfo, "~/camera_info", output_qos(s.mode))
        self.class_info_pub = self.create_publisher(String, "~/class_info", latched_qos())
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.class_info_pub.publish(String(data=self.class_info_json()))

        images = MutuallyExclusiveCallbackGroup()  # may block in replay mode; keep it off the timer's thread
        qos = input_qos(s.mode, s.input_reliability, s.input_depth)
        self.create_subscription(Image, "image", lambda m: self._on_image(m, False), qos, callback_group=images)
        if s.subscribe_compressed:
            # image_transport's convention: <image topic>/compressed, so remapping `image` moves both
            compressed = self.resolve_topic_name("image") + "/compressed"
            self.create_subscription(
                CompressedImage, compressed, lambda m: self._on_image(m, True), qos, callback_group=images
            )
        self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, 5, callback_group=MutuallyExclusiveCallbackGroup()
        )
        image_topics = [self.resolve_topic_name("image")]
        image_topics += [image_topics[0] + "/compressed"] if s.subscribe_compressed else []
        self._graph = GraphWatch(self, image_topics, self.get_logger().warning, s.mode == "replay")
        self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="attanet-worker", daemon=True)
        self._worker.start()
        topic = self.resolve_topic_name("image")
        self.get_logger().info(
            f"segmenting {topic} with {self.info['arch']} ({segmenter.provider}), mode {s.mode}, "
            f"outputs {', '.join(s.outputs)}"
        )

    # -- parameters ---------------------------------------------------------------------------

    def _declare_parameters(self):
        values = {}
        for spec in PARAMETERS:
            # dynamic_typing: our own check says "overlay_alpha must be in [0, 1]", and accepts 1 for 1.0
            descriptor = ParameterDescriptor(
                description=spec.description, read_only=not spec.dynamic, dynamic_typing=True
            )
            values[spec.name] = self.declare_parameter(spec.name, spec.default, descriptor).value
        try:
            return settings_from_values(values)
        except ParamError as exc:
            raise StartupError(str(exc)) from exc

    def _check_parameters(self, parameters) -> SetParametersResult:
        for p in parameters:
            reason = update_problem(p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters) -> None:
        for p in parameters:
            self.settings = self.settings.with_update(p.name, p.value)
        self.options = self._frame_options()  # one atomic swap; the worker reads it once per frame
        self.get_logger().info("set " + ", ".join(f"{p.name}={p.value}" for p in parameters))

    def _frame_options(self) -> FrameOptions:
        s = self.settings
        return FrameOptions(s.overlay_alpha, s.confidence_threshold, s.attention_column, s.attention_row)

    def class_info_json(self) -> str:
        classes = [c.to_dict() for c in self.pipeline.classes]
        return json.dumps({"classes": classes, "ignore_index": IGNORE_INDEX, "arch": self.info["arch"]})

    # -- callbacks: store and return ----------------------------------------------------------

    def _on_image(self, msg, compressed: bool) -> None:
        self.stats.on_received()
        dropped = self.queue.put((msg, compressed, time.perf_counter()))
        if dropped:
            self.stats.on_dropped(dropped)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    # -- worker -------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get(timeout=0.1)
            if item is None:
                continue
            try:
                self._process(*item)
            except Exception as exc:  # never let one frame kill the worker; say what happened
                self.stats.on_error("internal")
                self._log_bad("internal", f"processing a frame failed: {type(exc).__name__}: {exc}")

    def _process(self, msg, compressed: bool, received_at: float) -> None:
        wanted = {name for name, pub in self.image_pubs.items() if pub.get_subscription_count() > 0}
        info = self._camera_info
        want_info = info is not None and self.camera_info_pub.get_subscription_count() > 0
        self._outputs_active = ",".join(sorted(wanted | ({"camera_info"} if want_info else set())))
        if not wanted and not want_info:
            self.stats.on_skipped()
            return
        t0 = time.perf_counter()
        try:
            image = decode_frame(msg, compressed)
        except ImageDecodeError as exc:
            self.stats.on_error(exc.kind)
            topic = "image/compressed" if compressed else "image"
            self._log_bad(exc.kind, f"skipped a frame on {self.resolve_topic_name(topic)}: {exc}")
            return
        timings = {"decode": (time.perf_counter() - t0) * 1e3}
        size = self.pipeline.output_size(*image.shape[:2])
        outputs = None
        if wanted:
            outputs = self.pipeline.run(image, frozenset(wanted), self.options)
            timings.update(outputs.timings_ms)
        t1 = time.perf_counter()
        header = msg.header
        if outputs is not None:
            for name in wanted:
                array = getattr(outputs, name)
                if array is not None:
                    self.image_pubs[name].publish(array_to_image_msg(Image(), array, ENCODINGS[name], header))
        if want_info:
            self.camera_info_pub.publish(self._scaled_camera_info(info, image.shape[:2], size, header))
        done = time.perf_counter()
        timings["publish"] = (done - t1) * 1e3
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        latency = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6 if stamp_ns > 0 else None
        self.stats.on_processed(latency, (done - received_at) * 1e3, timings)

    @staticmethod
    def _scaled_camera_info(info: CameraInfo, image_hw, size, header) -> CameraInfo:
        out = CameraInfo()
        out.header = header
        out.distortion_model, out.d, out.r = info.distortion_model, info.d, info.r
        out.binning_x, out.binning_y, out.roi = info.binning_x, info.binning_y, info.roi
        fields = {"k": list(info.k), "p": list(info.p), "height": image_hw[0], "width": image_hw[1]}
        if tuple(size) != tuple(image_hw):
            fields = scale_camera_info(fields, tuple(image_hw), tuple(size))
        out.k, out.p, out.height, out.width = fields["k"], fields["p"], int(fields["height"]), int(fields["width"])
        return out

    # -- diagnostics --------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        snapshot = self.stats.snapshot()
        problems, graph_values = self._graph.check(snapshot["received"], len(self.queue))  # same name, silent pubs
        info = {**self.info, "outputs_active": self._outputs_active, **graph_values}
        level, message, values = diagnostic_report(
            snapshot, self._last_snapshot, info, self.settings.diagnostics_period, problems
        )
        self._last_snapshot = snapshot
        status = DiagnosticStatus(
            level=bytes([level]),
            name=f"{self.get_fully_qualified_name()}: segmentation",
            message=message,
            hardware_id=self.info["provider"],
            values=[KeyValue(key=k, value=v) for k, v in values],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)

    def stop(self) -> None:
        """Stop the worker (a frame in flight finishes first)."""
        self._stop.set()
        self.queue.close()
        self._worker.join(timeout=10)


def main(args: list[str] | None = None) -> int:
    early_exit = preflight(sys.argv if args is None else args, NODE_NAME)  # --help, params-file checks
    if early_exit is not None:
        return early_exit
    profile = use_shipped_profile()  # Fast DDS reads it at the first participant: before rclpy.init
    fix_mmap_threshold()  # frame-sized buffers back to the OS, not a slowly growing heap
    try:
        rclpy.init(args=args)
    except RCLError as exc:  # what preflight cannot see, e.g. a YAML list of mixed types
        print(f"attanet_node: cannot start: {rcl_error_line(exc)}", file=sys.stderr)
        return 2
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
    shipped = " (the shipped default: none was set)" if profile else ""
    node.get_logger().info(f"Fast DDS transports: {transport_setting()}{shipped}")
    executor = MultiThreadedExecutor(num_threads=3)
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
