"""Recording topics to a rosbag2 through rclpy, for machines without ``ros2 bag record``.

Messages are written exactly as they arrive: the subscriptions are raw (``raw=True``), so the
CDR bytes DDS delivered go into the bag untouched and an image comes back bit-exact. Each topic's
QoS is matched to its publishers, as rosbag2's recorder does, so a reliable stream is recorded
reliably and a latched topic such as the node's ``~/class_info`` (transient local) is received
even when the recorder starts after it was published.

A stop by Ctrl-C or SIGTERM is the normal end: it only sets a flag, the spin loop then takes
what DDS has already delivered and the bag is closed with its metadata, readable by rosbags,
``ros2 bag info`` and ``attanet bag-eval``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .play import message_class, summary_dict
from .storage import STORAGES, TYPESTORE, BagWriter

DEPTH = 100  # subscription history: samples DDS may hold while a write is in progress
GRAPH_POLL_S = 0.05  # how often topics without a publisher yet are looked for (stops once all are found)
DRAIN_IDLE_S = 0.1  # at the stop, keep taking delivered samples until none came for this long


@dataclass
class RecordConfig:
    out: Path
    topics: list[str]
    storage: str = "mcap"
    duration_s: float | None = None  # stop after this long (None: until Ctrl-C / SIGTERM)
    max_messages: int | None = None  # stop once this many messages are written, all topics together
    ros_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.topics:
            raise ValueError("--topics needs at least one topic")
        self.topics = list(dict.fromkeys(t if t.startswith("/") else f"/{t}" for t in self.topics))
        if self.storage not in STORAGES:
            raise ValueError(f"--storage must be one of {', '.join(STORAGES)}, got {self.storage!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"--duration must be > 0 seconds, got {self.duration_s}")
        if self.max_messages is not None and self.max_messages < 1:
            raise ValueError(f"--max-messages must be >= 1, got {self.max_messages}")
        if self.out.exists():
            raise ValueError(f"output bag {self.out} exists already; remove it or choose another OUT")


@dataclass
class RecordSummary:
    bag: str
    storage: str
    counts: dict[str, int]
    types: dict[str, str] = field(default_factory=dict)
    qos: dict[str, str] = field(default_factory=dict)  # topic -> "reliable, transient_local" as subscribed
    wall_s: float = 0.0
    stopped_by: str = ""  # "duration", "max-messages", "SIGINT", "SIGTERM"
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return summary_dict(self, self.counts)


def matched_qos(publisher_profiles: list[Any]) -> Any:
    """A subscription QoS that matches every publisher in ``publisher_profiles``.

    Reliable only if all publishers are (a reliable reader does not match a best-effort
    writer); transient local only if all are (a transient-local reader does not match a
    volatile writer), which is what delivers a latched message published before we started.
    """
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in publisher_profiles)
    latched = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publisher_profiles)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def bag_qos(profile: Any) -> Any:
    """A publisher's rclpy QoSProfile as the rosbags ``Qos`` that rosbag2 metadata stores."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    def span(duration: Any) -> QosTime:
        return QosTime(*divmod(duration.nanoseconds, 1_000_000_000))

    return Qos(
        history=QosHistory[profile.history.name.upper()],
        depth=profile.depth,
        reliability=QosReliability[profile.reliability.name.upper()],
        durability=QosDurability[profile.durability.name.upper()],
        deadline=span(profile.deadline),
        lifespan=span(profile.lifespan),
        liveliness=QosLiveliness[profile.liveliness.name.upper()],
        liveliness_lease_duration=span(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=profile.avoid_ros_namespace_conventions,
    )


def describe_qos(qos: Any) -> str:
    return f"{qos.reliability.name.lower()}, {qos.durability.name.lower()}"


class _Recorder:
    """The rclpy side: finds each topic's type and publishers, subscribes raw, writes as messages come."""

    def __init__(self, node: Any, writer: BagWriter, config: RecordConfig, summary: RecordSummary, log) -> None:
        self.node, self.writer, self.config, self.summary, self.log = node, writer, config, summary, log
        self.pending = list(config.topics)  # topics not subscribed yet (no publisher discovered)
        self.subscriptions: list[Any] = []
        self.unmatched: dict[str, Any] = {}  # subscribed topics whose reader has matched no publisher yet

    def subscribe_discovered(self) -> None:
        """Subscribe to each pending topic that now has a publisher; errors for unusable topics."""
        types = dict(self.node.get_topic_names_and_types())
        for topic in list(self.pending):
            publishers = self.node.get_publishers_info_by_topic(topic)
            if not publishers or topic not in types:
                continue
            self.pending.remove(topic)
            msgtypes = sorted(set(types[topic]))
            if len(msgtypes) != 1:
                self._refuse(topic, f"is published with several types ({', '.join(msgtypes)}); record one of them")
                continue
            msgtype = msgtypes[0]
            if msgtype not in TYPESTORE.types:
                self._refuse(topic, f"has type {msgtype}, which the rosbags type store does not know")
                continue
            try:
                cls = message_class(msgtype)
            except (ImportError, AttributeError, ValueError):
                package = "ros-kilted-" + msgtype.split("/")[0].replace("_", "-")
                self._refuse(
                    topic, f"has type {msgtype}, whose Python package is not installed (pip install {package})"
                )
                continue
            qos = matched_qos([p.qos_profile for p in publishers])
            self.writer.add_topic(topic, msgtype, [bag_qos(p.qos_profile) for p in publishers])
            subscription = self.node.create_subscription(cls, topic, self._writer_for(topic), qos, raw=True)
            self.subscriptions.append(subscription)
            self.unmatched[topic] = subscription
            self.summary.types[topic], self.summary.qos[topic] = msgtype, describe_qos(qos)
            self.log(f"recording {topic} [{msgtype}] ({describe_qos(qos)}, {len(publishers)} publisher(s))")

    def report_matched(self) -> None:
        """Say when each subscription has matched a publisher: from then on what is published on
        the topic is recorded (a script can wait for this line before it starts publishing)."""
        for topic, subscription in list(self.unmatched.items()):
            if (count := subscription.get_publisher_count()) > 0:
                del self.unmatched[topic]
                self.log(f"matched {topic} ({count} publisher(s))")

    def _refuse(self, topic: str, why: str) -> None:
        self.summary.errors.append(f"topic {topic} {why}; not recorded")
        self.log(self.summary.errors[-1])

    def _writer_for(self, topic: str) -> Callable[[bytes], None]:
        def write(raw: bytes) -> None:
            self.writer.write_raw(topic, time.time_ns(), raw)
            self.summary.counts[topic] += 1

        return write


def record(config: RecordConfig, log: Callable[[str], None] = print) -> RecordSummary:
    """Record ``config.topics`` to a new bag until the duration, the message limit or a signal.

    Raises BagError before anything is created if the bag cannot be written.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    config.out.parent.mkdir(parents=True, exist_ok=True)
    summary = RecordSummary(str(config.out), config.storage, dict.fromkeys(config.topics, 0))
    stop: list[str] = []  # the reason, set by a signal handler or a limit

    def on_signal(signum: int, frame: Any) -> None:
        stop.append(signal.Signals(signum).name)

    rclpy.init(
        args=["--ros-args", *config.ros_args] if config.ros_args else None,
        signal_handler_options=SignalHandlerOptions.NO,
    )
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    node = rclpy.create_node("attanet_bag_record")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        with BagWriter(config.out, config.storage, origin="attanet bag-record") as writer:
            recorder = _Recorder(node, writer, config, summary, log)
            start = time.monotonic()
            next_poll = start
            while not stop:
                now = time.monotonic()
                if recorder.pending and now >= next_poll:
                    recorder.subscribe_discovered()
                    next_poll = now + GRAPH_POLL_S
                if recorder.unmatched:
                    recorder.report_matched()
                executor.spin_once(timeout_sec=0.05)
                if config.max_messages is not None and sum(summary.counts.values()) >= config.max_messages:
                    stop.append("max-messages")
                elif config.duration_s is not None and time.monotonic() - start >= config.duration_s:
                    stop.append("duration")
            if stop[0] in ("SIGINT", "SIGTERM"):
                _drain(executor, summary)
            summary.wall_s = time.monotonic() - start
            summary.stopped_by = stop[0]
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        for s, handler in previous.items():
            signal.signal(s, handler)
    for topic in recorder.pending:
        summary.errors.append(f"topic {topic} had no publisher during the recording; nothing recorded for it")
    for topic, count in summary.counts.items():
        if count == 0 and topic in summary.types:
            summary.errors.append(f"topic {topic} had a publisher but no message arrived; nothing recorded for it")
    return summary


def _drain(executor: Any, summary: RecordSummary) -> None:
    """Take the samples DDS delivered before the stop (a publisher may have finished just before it)."""
    last_count, idle_since = -1, time.monotonic()
    while time.monotonic() - idle_since < DRAIN_IDLE_S:
        executor.spin_once(timeout_sec=0.01)
        count = sum(summary.counts.values())
        if count != last_count:
            last_count, idle_since = count, time.monotonic()


__all__ = ["RecordConfig", "RecordSummary", "matched_qos", "record"]
