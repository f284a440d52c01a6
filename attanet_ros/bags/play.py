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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .storage import CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, BagError, BagReader, header_stamp_ns, restamp

HEADER_FIRST = (IMAGE, COMPRESSED_IMAGE, CAMERA_INFO)  # types --restamp rewrites
SETTLE_S = 0.3  # after the first subscriber matches, time for its other subscriptions to match
NAMED_WAIT_S = 30.0  # how long --wait-for-node / --wait-for-topic wait unless told
CLOCK_TOPIC = "/clock"


@dataclass
class PlayConfig:
    bag: Path
    topics: list[str] | None = None  # None: every topic whose message type is importable
    rate: float = 1.0
    loop: bool = False
    wait_subscribers_s: float | None = None  # wait up to this long before the first message (None: 0,
    # or NAMED_WAIT_S with wait_for_nodes / wait_for_topics)
    min_subscribers: int = 1  # ... until the played topics have this many subscriptions in total
    wait_for_nodes: list[str] = field(default_factory=list)  # ... or until these nodes have subscribed
    wait_for_topics: list[str] = field(default_factory=list)  # ... and these played topics have a subscriber
    restamp: bool = False  # header stamps := wall clock at publishing (a live camera)
    clock_hz: float | None = None  # publish /clock (rosgraph_msgs/Clock) from the bag's time at this rate
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
        if self.wait_subscribers_s is None:
            self.wait_subscribers_s = NAMED_WAIT_S if self.wait_for_nodes or self.wait_for_topics else 0.0
        if self.wait_subscribers_s < 0:
            raise ValueError(f"--wait-subscribers must be >= 0 seconds, got {self.wait_subscribers_s}")
        if (self.wait_for_nodes or self.wait_for_topics) and self.wait_subscribers_s == 0:
            raise ValueError("--wait-for-node / --wait-for-topic need a --wait-subscribers time > 0 (default 30 s)")
        if self.clock_hz is not None and not self.clock_hz > 0:
            raise ValueError(f"--clock must be > 0 Hz, got {self.clock_hz}")
        if self.clock_hz is not None and self.restamp:
            raise ValueError(
                "--clock publishes the bag's time and --restamp stamps messages with the wall clock; use one of them"
            )
        extra = {CLOCK_TOPIC} if self.clock_hz else set()
        if self.topics and self.wait_for_topics and (missing := set(self.wait_for_topics) - set(self.topics) - extra):
            raise ValueError(f"--wait-for-topic {', '.join(sorted(missing))} is not among --topics")


@dataclass
class PlaySummary:
    bag: str
    published: dict[str, int]
    clock_messages: int | None = None  # /clock messages published (None: --clock not asked for)
    loops: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return summary_dict(self, self.published)


def summary_dict(summary: Any, counts: dict[str, int]) -> dict[str, Any]:
    """A bag-play or bag-record summary (a dataclass) for --json: its fields in order, with ``messages``, the
    total of ``counts`` (messages per topic), third."""
    fields = list(asdict(summary).items())
    return dict([*fields[:2], ("messages", sum(counts.values())), *fields[2:]])


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
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions

    with BagReader(config.bag) as reader:
        classes, warnings = select_topics(reader, config.topics)
        playable = set(classes) | ({CLOCK_TOPIC} if config.clock_hz else set())
        if missing := sorted(set(config.wait_for_topics) - playable):
            raise BagError(f"--wait-for-topic {', '.join(missing)} is not played; played topics: {', '.join(classes)}")
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
            # A topic recorded from transient-local publishers (the node's ~/class_info) is offered the
            # same way again, so a subscriber that joins mid-replay (a viewer) still gets it.
            latched = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=config.depth,
                reliability=reliability,
                durability=DurabilityPolicy.TRANSIENT_LOCAL,
            )
            publishers = {
                topic: node.create_publisher(cls, topic, latched if reader.topics[topic].latched else qos)
                for topic, cls in classes.items()
            }
            clock = _Clock(node, config.clock_hz) if config.clock_hz else None
            waited = publishers | ({CLOCK_TOPIC: clock.publisher} if clock else {})  # a sim-time node's /clock too
            if config.wait_for_nodes or config.wait_for_topics:
                if not _wait_for_named(node, waited, config, summary, log):
                    return summary
            else:
                _wait_for_subscribers(publishers, config, summary, log)
            if clock is not None:  # one tick ahead, so a use_sim_time node has the bag's time before its first message
                clock.publish(next(iter(reader.messages(list(publishers)))).log_time)
                time.sleep(clock.period_s)
            start = time.monotonic()
            try:
                while True:
                    _play_once(reader, publishers, config, summary, clock)
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
            summary.clock_messages = clock.published if clock is not None else None
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


def node_matches(wanted: str, namespace: str, name: str) -> bool:
    """'/ns/name' matches that node exactly; a bare 'name' matches it in any namespace."""
    if wanted.startswith("/"):
        return wanted.rstrip("/") == f"{namespace.rstrip('/')}/{name}"
    return wanted == name


def _named_wait_state(
    node: Any, publishers: dict[str, Any], config: PlayConfig
) -> tuple[list[str], list[str], set, tuple]:
    """For --wait-for-node / --wait-for-topic: (named nodes and topics still missing, topics with a
    discovered subscription that has not matched yet, subscribing nodes seen, subscriptions per topic)."""
    unmatched, seen, discovered = [], set(), []
    subscribed: set[str] = set()  # wanted nodes with a matched subscription on a played topic
    for topic, pub in publishers.items():
        infos = node.get_subscriptions_info_by_topic(pub.topic_name)  # the name after --ros-args remapping
        discovered.append(len(infos))
        seen.update(f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in infos)
        if pub.get_subscription_count() < len(infos):
            unmatched.append(topic)
            continue
        subscribed.update(
            w for w in config.wait_for_nodes for i in infos if node_matches(w, i.node_namespace, i.node_name)
        )
    missing = [f"node {n}" for n in config.wait_for_nodes if n not in subscribed]
    missing += [f"topic {t}" for t in config.wait_for_topics if publishers[t].get_subscription_count() < 1]
    return missing, unmatched, seen, tuple(discovered)


def _wait_for_named(node: Any, publishers: dict[str, Any], config: PlayConfig, summary: PlaySummary, log) -> bool:
    """Hold the start until each named node has a matched subscription on a played topic and each
    named topic has a subscriber; False (with an error, nothing played) if that does not happen in time.

    A count of subscriptions cannot tell a recorder's two subscriptions from the node's one: the
    playback then starts before the node is there and its first frames go to nobody. Once the
    named ones are there, the start waits until every discovered subscription has matched and no
    new one has appeared for SETTLE_S, so a node's (or recorder's) other subscriptions, discovered
    a moment later, match too.
    """
    deadline = time.monotonic() + config.wait_subscribers_s
    told = False
    settled_since, last_discovered = None, None
    while True:
        missing, unmatched, seen, discovered = _named_wait_state(node, publishers, config)
        if missing and not told:
            log(f"waiting up to {config.wait_subscribers_s:g} s for {', '.join(missing)}")
            told = True
        if missing or unmatched:
            settled_since = None
        elif settled_since is None or discovered != last_discovered:
            settled_since = time.monotonic()
        elif time.monotonic() - settled_since >= SETTLE_S:
            return True
        last_discovered = discovered
        if time.monotonic() >= deadline and (missing or unmatched):
            break
        time.sleep(0.05)
    if unmatched and not missing:
        missing = [f"a match with the subscriptions discovered on {', '.join(unmatched)} (QoS incompatible?)"]
    summary.errors.append(
        f"still missing after {config.wait_subscribers_s:g} s: {', '.join(missing)} (nodes subscribed to the "
        f"played topics: {', '.join(sorted(seen)) or 'none'}); nothing was played"
    )
    return False


class _Clock:
    """/clock (rosgraph_msgs/Clock) from the bag's log time, for nodes with ``use_sim_time``.

    Reliable keep-last-1 matches rclpy's and rclcpp's best-effort clock subscriptions too.
    """

    def __init__(self, node: Any, hz: float) -> None:
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        self.period_s = 1.0 / hz
        self._msg = Clock()
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = node.create_publisher(Clock, CLOCK_TOPIC, qos)
        self.published = 0

    def publish(self, bag_ns: int) -> None:
        self._msg.clock.sec, self._msg.clock.nanosec = divmod(int(bag_ns), 1_000_000_000)
        self.publisher.publish(self._msg)
        self.published += 1


def _play_once(
    reader: BagReader, publishers: dict[str, Any], config: PlayConfig, summary: PlaySummary, clock: _Clock | None
) -> None:
    """One pass over the bag, sleeping so messages leave at (log time - first log time) / rate.

    With ``clock``, /clock carries each message's log time just before it goes out, and ticks
    at the clock rate in between (bag time = first log time + elapsed wall time x rate).
    """
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
            while (delay := due - time.monotonic()) > 0:
                if clock is None:
                    time.sleep(delay)
                    break
                clock.publish(first_log + (time.monotonic() - start) * config.rate * 1e9)
                time.sleep(min(delay, clock.period_s))
            if clock is not None:
                clock.publish(msg.log_time)
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
