"""``attanet camera``: a video file or a folder of unlabelled images played to the node as a camera.

Each decodable frame is published as ``sensor_msgs/Image`` (bgr8) on ``<prefix>/image_raw`` and a
``sensor_msgs/CameraInfo`` of its size on ``<prefix>/camera_info``, both with one header (stamp =
wall clock at publishing, as a live camera driver stamps, and ``--frame-id``), at ``--rate`` Hz
(default: the video's own rate, else 15). The intrinsics of a file are unknown, so the CameraInfo
matrices are left zero, which REP/sensor_msgs defines as "uncalibrated", rather than invented.
The process uses the shipped shared-memory Fast DDS profile unless the user chose their own
transports (the node's default too, ``dds_env``): with stock settings large frames are lost.
A file that cannot be decoded is counted and named; the rest still play.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attanet_model.cli_args import add_domain_id, add_json, command_parser
from attanet_ros.common.file_frames import SkippedImage, open_file_frames

DEFAULT_RATE_HZ = 15.0


@dataclass
class CameraConfig:
    source: Path
    rate_hz: float | None = None  # None: the video's own rate, else DEFAULT_RATE_HZ
    topic_prefix: str = "/camera"
    frame_id: str = "camera"
    loop: bool = False
    wait_subscribers_s: float = 0.0  # wait up to this long for a subscriber before the first frame
    depth: int = 10
    domain_id: int | None = None

    def __post_init__(self) -> None:
        if self.rate_hz is not None and not self.rate_hz > 0:
            raise ValueError(f"--rate must be > 0 Hz, got {self.rate_hz}")
        if not self.topic_prefix.startswith("/"):
            raise ValueError(f"--topic-prefix must be absolute (start with '/'), got {self.topic_prefix!r}")
        if self.wait_subscribers_s < 0:
            raise ValueError(f"--wait-subscribers must be >= 0 seconds, got {self.wait_subscribers_s}")
        if self.depth < 1:
            raise ValueError(f"--depth must be >= 1, got {self.depth}")


@dataclass
class CameraSummary:
    source: str
    image_topic: str
    rate_hz: float
    published: int = 0
    loops: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def play_camera(config: CameraConfig, log=lambda text: None) -> CameraSummary:
    """Publish ``config.source``'s frames until the end (or forever with ``loop``) or Ctrl-C / SIGTERM.

    Raises ValueError (one sentence) when the source cannot be opened.
    """
    frames = open_file_frames(config.source)
    rate = config.rate_hz or frames.fps or DEFAULT_RATE_HZ
    prefix = config.topic_prefix.rstrip("/")
    summary = CameraSummary(str(config.source), f"{prefix}/image_raw", rate)

    from attanet_ros.common.dds_env import transport_setting, use_shipped_profile
    from attanet_ros.common.malloc_tuning import tune_for_frames

    use_shipped_profile()
    tune_for_frames()
    log(f"Fast DDS transports: {transport_setting()}")
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import CameraInfo, Image

    from attanet_ros.common.image_codec import array_to_image_msg

    rclpy.init(domain_id=config.domain_id, signal_handler_options=SignalHandlerOptions.NO)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    node = rclpy.create_node("attanet_camera")
    start = time.monotonic()
    try:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=config.depth, reliability=ReliabilityPolicy.RELIABLE)
        image_pub = node.create_publisher(Image, summary.image_topic, qos)
        info_pub = node.create_publisher(CameraInfo, f"{prefix}/camera_info", qos)
        _wait_for_subscriber(image_pub, config.wait_subscribers_s, summary, log)
        period, next_at = 1.0 / rate, time.monotonic()
        while True:
            for frame in frames:
                if isinstance(frame, SkippedImage):
                    summary.skipped.append({"name": frame.name, "reason": frame.reason})
                    log(f"skipped {frame.name}: {frame.reason}")
                    continue
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at + period, time.monotonic() - period)  # never burst to catch up
                msg = array_to_image_msg(Image(), frame.image_bgr, "bgr8")
                msg.header.stamp = node.get_clock().now().to_msg()
                msg.header.frame_id = config.frame_id
                info = CameraInfo(header=msg.header, height=msg.height, width=msg.width)
                image_pub.publish(msg)
                info_pub.publish(info)
                summary.published += 1
            summary.loops += 1
            if not config.loop or summary.published == 0:
                break
        image_pub.wait_for_all_acked(rclpy.duration.Duration(seconds=2.0))  # reliable readers get the tail
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.wall_s = time.monotonic() - start
        node.destroy_node()
        rclpy.try_shutdown()
        signal.signal(signal.SIGTERM, previous_term)
    return summary


def _wait_for_subscriber(publisher, wait_s: float, summary: CameraSummary, log) -> None:
    """Discovery takes a moment: without a wait the first frames go to nobody."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if publisher.get_subscription_count() > 0:
            return
        time.sleep(0.05)
    if wait_s > 0:
        summary.warnings.append(f"no subscriber on {summary.image_topic} after {wait_s:g} s; playing anyway")
        log(summary.warnings[-1])


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    """Play a video file or a folder of images to the node as a camera: sensor_msgs/Image (bgr8) on <prefix>/image_raw
    and CameraInfo (size only: uncalibrated) on <prefix>/camera_info, stamped with the wall clock, over the shipped
    shared-memory Fast DDS profile.

    Example: attanet camera --source drive.mp4 --rate 15, then ros2 run attanet_ros attanet_node --ros-args -r
    image:=/camera/image_raw. Files that cannot be decoded are named and skipped. exit status: 0 played, 1 nothing
    could be played, 2 usage error, 130 interrupted."""
    p = command_parser("camera", build_parser.__doc__)
    p.add_argument("--source", type=Path, required=True, help="a video file (.mp4, .avi, ...) or a folder of images")
    p.add_argument(
        "--rate", type=float, help=f"frames per second (default: the video's rate, else {DEFAULT_RATE_HZ:g})"
    )
    p.add_argument("--topic-prefix", default="/camera", help="topic namespace (default: /camera)")
    p.add_argument("--frame-id", default="camera", help="header frame_id (default: camera)")
    p.add_argument("--loop", action="store_true", help="start over at the end until interrupted")
    p.add_argument(
        "--wait-subscribers",
        type=float,
        default=10.0,
        metavar="SEC",
        help="wait up to SEC seconds for a subscriber before the first frame (default 10; 0: do not wait)",
    )
    p.add_argument("--depth", type=int, default=10, help="publisher history depth, reliable QoS (default: 10)")
    add_domain_id(p)
    add_json(p)
    return p


def camera_main(argv: list[str]) -> int:
    """``attanet camera``."""
    args = build_parser().parse_args(argv)
    say = lambda text: print(f"attanet camera: {text}", file=sys.stderr)  # noqa: E731
    try:
        config = CameraConfig(
            source=args.source,
            rate_hz=args.rate,
            topic_prefix=args.topic_prefix,
            frame_id=args.frame_id,
            loop=args.loop,
            wait_subscribers_s=args.wait_subscribers,
            depth=args.depth,
            domain_id=args.domain_id,
        )
        summary = play_camera(config, log=say)
    except ValueError as exc:
        say(str(exc))
        return 2
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        state = "interrupted" if summary.interrupted else "done"
        print(
            f"{state}: published {summary.published} frames from {summary.source} on {summary.image_topic} at "
            f"{summary.rate_hz:g} Hz ({len(summary.skipped)} skipped) in {summary.wall_s:.1f} s"
        )
    if summary.interrupted:
        return 130
    return 0 if summary.published else 1


__all__ = ["CameraConfig", "CameraSummary", "camera_main", "play_camera"]
