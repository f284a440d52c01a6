"""Publishing a rosbag2's messages through rclpy with their recorded timing.

For machines with pip-installed rclpy but no ``ros2 bag play`` (the demo uses it). Messages go
out exactly as recorded: the raw CDR bytes are published, so nothing is decoded or re-encoded
and any message type whose Python package is importable can be played.

With bag_record, the only modules of the bag tools that import rclpy; ``bag-make`` and ``bag-eval``
run without ROS.
"""

from __future__ import annotations

import importlib
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bag_io import CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, BagError, BagReader, header_stamp_ns

HEADER_FIRST = (IMAGE, COMPRESSED_IMAGE, CAMERA_INFO)  # types --restamp rewrites
SETTLE_S = 0.3  # after the first subscriber matches, time for its other subscriptions to match


@dataclass
class PlayConfig:
    bag: Path
    topics: list[str] | None = None  # None: every topic whose message type is importable
    rate: float = 1.0
    loop: bool = False
    wait_subscribers_s: float = 0.0  # wait up to this long for subscribers before the first message
    min_subscribers: int = 1  # ... until the played topics have this many subscriptions in total
    restamp: bool = False  # header stamps := wall clock at publishing (a live camera)
    reliability: str = "reliable"
    depth: int = 100
    ros_args: list[str] = field(default_factory=list)
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"--rate must be > 0 (1.0 = recorded speed), got {self.rate}")
        if self.reliability not in ("reliable", "best_effort"):
            raise ValueError(f"--qos must be reliable or best_effort, got {self.reliability!r}")
        if self.depth < 1:
            raise ValueError(f"--depth must be >= 1, got {self.depth}")
        if self.min_subscribers < 1:
            raise ValueError(f"--min-subscribers must be >= 1, got {self.min_subscribers}")


@dataclass
class PlaySummary:
    bag: str
    published: dict[str, int]
    loops: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bag": self.bag,
            "published": self.published,
            "messages": sum(self.published.values()),
            "loops": self.loops,
            "wall_s": self.wall_s,
            "interrupted": self.interrupted,
            "warnings": self.warnings,
            "errors": self.errors,
        }


def message_class(msgtype: str) -> Any:
    """The rclpy message class for 'pkg/msg/Name', or ImportError."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def select_topics(reader: BagReader, wanted: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    """{topic: message class} to play, and warnings for topics skipped (type not importable)."""
    if wanted:
        for topic in wanted:
            if topic not in reader.topics:
                raise BagError(
                    f"topic {topic!r} is not in bag {reader.path}\ntopics in the bag:\n{reader.describe_topics()}"
                )
    names = wanted or list(reader.topics)
    classes, skipped = {}, []
    for topic in names:
        msgtype = reader.topics[topic].msgtype
        try:
            classes[topic] = message_class(msgtype)
        except (ImportError, AttributeError, ValueError):
            skipped.append(f"{topic} [{msgtype}]")
    warnings = [f"not playing {', '.join(skipped)}: no Python package for the message type"] if skipped else []
    if wanted and skipped:
        raise BagError(
            f"cannot play {', '.join(skipped)}: its message package is not installed (pip install ros-kilted-...)"
        )
    if not classes:
        raise BagError(
            f"bag {reader.path} has no topic whose message type rclpy can import\n{reader.describe_topics()}"
        )
    return classes, warnings


def play(config: PlayConfig, log: Callable[[str], None] = print) -> PlaySummary:
    """Publish the bag (once, or until interrupted with ``loop``); Ctrl-C/SIGTERM stop it cleanly."""
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions

    with BagReader(config.bag) as reader:
        classes, warnings = select_topics(reader, config.topics)
        summary = PlaySummary(str(reader.path), dict.fromkeys(classes, 0), warnings=reader.warnings + warnings)
        # rclpy's own handlers would shut the context down under us; a plain KeyboardInterrupt lets
        # the loop stop between messages and tear down in order.
        rclpy.init(
            args=["--ros-args", *config.ros_args] if config.ros_args else None,
            signal_handler_options=SignalHandlerOptions.NO,
        )
        previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        node = rclpy.create_node("attanet_bag_play")
        try:
            reliability = (
                ReliabilityPolicy.RELIABLE if config.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
            )
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=config.depth, reliability=reliability)
            publishers = {topic: node.create_publisher(cls, topic, qos) for topic, cls in classes.items()}
            _wait_for_subscribers(publishers, config, summary, log)
            start = time.monotonic()
            try:
                while True:
                    _play_once(reader, publishers, config, summary)
                    summary.loops += 1
                    if reader.damage:
                        summary.errors.append(f"{reader.damage}; published the messages before it")
                        break
                    if not config.loop:
                        break
                if config.reliability == "reliable":
                    for pub in publishers.values():  # let reliable readers receive the tail before we leave
                        pub.wait_for_all_acked(rclpy.duration.Duration(seconds=2.0))
            except KeyboardInterrupt:
                summary.interrupted = True
            summary.wall_s = time.monotonic() - start
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
            signal.signal(signal.SIGTERM, previous_term)
    return summary


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _wait_for_subscribers(publishers: dict[str, Any], config: PlayConfig, summary: PlaySummary, log) -> None:
    """Discovery takes a moment; without a wait the first frames go to nobody.

    Starts once the played topics have ``min_subscribers`` subscriptions in total (a bag holds
    topics nobody listens to, such as ground truth, so not every topic is waited for), after a
    short settle so the same subscribers' other topics match too.
    """
    if config.wait_subscribers_s <= 0:
        return
    deadline = time.monotonic() + config.wait_subscribers_s
    while time.monotonic() < deadline:
        if sum(p.get_subscription_count() for p in publishers.values()) >= config.min_subscribers:
            time.sleep(SETTLE_S)
            return
        time.sleep(0.05)
    summary.warnings.append(
        f"fewer than {config.min_subscribers} subscription(s) after {config.wait_subscribers_s:g} s on "
        f"{', '.join(publishers)}; playing anyway"
    )
    log(summary.warnings[-1])


def restamp(raw: bytes, stamp_ns: int) -> bytes:
    """A serialized message whose first field is a std_msgs/Header, with its stamp replaced
    (the bytes ``bag_io.header_stamp_ns`` reads)."""
    out = bytearray(raw)
    order = "<" if raw[1] & 1 else ">"
    struct.pack_into(order + "iI", out, 4, stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)
    return bytes(out)


def _play_once(reader: BagReader, publishers: dict[str, Any], config: PlayConfig, summary: PlaySummary) -> None:
    """One pass over the bag, sleeping so messages leave at (log time - first log time) / rate."""
    from tqdm import tqdm

    total = sum(reader.topics[t].count for t in publishers)
    bar = tqdm(total=total, unit="msg", desc=f"bag-play {reader.path.name}", disable=not config.progress, leave=False)
    first_log: int | None = None
    stamps: dict[int, int] = {}  # recorded stamp -> new stamp (--restamp)
    start = time.monotonic()
    try:
        for msg in reader.messages(list(publishers)):
            if first_log is None:
                first_log = msg.log_time
            due = start + (msg.log_time - first_log) / 1e9 / config.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            raw = msg.raw
            if config.restamp and msg.msgtype in HEADER_FIRST:
                # one new stamp per recorded stamp, so a frame, its ground truth and camera_info still agree
                old = header_stamp_ns(raw)
                raw = restamp(raw, stamps.setdefault(old, time.time_ns()))
            publishers[msg.topic].publish(raw)
            summary.published[msg.topic] += 1
            bar.update(1)
    finally:
        bar.close()
