"""Play a bag's camera frames to a topic from a thread, as a live camera would: fresh stamps, fixed rate.

The demo uses this instead of ``attanet bag-play`` for two reasons. It waits until *every*
expected subscriber (the node and the demo's own) has matched before the first frame, so no
frame is lost to discovery. And it stamps each frame with the wall-clock time at publishing,
so camera stamp -> labels received is the real end-to-end latency, the number the node's own
diagnostics report. ``published`` maps each new stamp to the bag's, for ground-truth lookup.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from attanet_ros.bags.storage import IMAGE, BagReader, header_stamp_ns, restamp
from attanet_ros.common.ros_context import private_node


class CameraPlayer:
    """Publishes the camera topic of ``bag`` on ``topic`` at ``rate_hz`` (looping if asked).

    ``min_subscribers``: wait for this many matched subscriptions before the first frame (and
    give up with ``error`` after ``wait_s``). ``done`` is set when the last frame went out.

    ``max_in_flight``: publish a frame only while fewer than this many are unanswered (the
    consumer calls ``acknowledge`` per result), so a camera faster than the node measures each
    frame's latency instead of a growing queue. A frame unanswered after ``answer_timeout_s``
    counts as lost and playback goes on.
    """

    def __init__(
        self,
        bag: Path,
        bag_topic: str,
        topic: str,
        rate_hz: float,
        loop: bool = False,
        domain_id: int | None = None,
        min_subscribers: int = 1,
        wait_s: float = 30.0,
        max_in_flight: int | None = None,
        answer_timeout_s: float = 10.0,
    ) -> None:
        if not rate_hz > 0:
            raise ValueError(f"camera rate must be > 0 Hz, got {rate_hz}")
        self.bag, self.bag_topic, self.topic = bag, bag_topic, topic
        self.rate_hz, self.loop, self.domain_id = rate_hz, loop, domain_id
        self.min_subscribers, self.wait_s = min_subscribers, wait_s
        self.max_in_flight, self.answer_timeout_s = max_in_flight, answer_timeout_s
        self.first_publish: float | None = None  # time.monotonic() of the first frame
        self._in_flight = 0
        self._answers = threading.Condition()
        self.published: dict[int, int] = {}  # new stamp -> stamp in the bag
        self.error: str | None = None
        self.started = threading.Event()
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._messages = self._load()

    def __len__(self) -> int:
        return len(self._messages)

    def _load(self) -> list[tuple[int, bytes]]:
        with BagReader(self.bag) as reader:
            reader.require_topic(self.bag_topic, (IMAGE,), "camera topic")
            messages = [(header_stamp_ns(m.raw), m.raw) for m in reader.messages([self.bag_topic])]
        if not messages:
            raise ValueError(f"the bag {self.bag} has no messages on {self.bag_topic}")
        return messages

    def acknowledge(self) -> None:
        """One published frame was answered (its result arrived)."""
        with self._answers:
            self._in_flight = max(0, self._in_flight - 1)
            self._answers.notify_all()

    def _wait_for_answers(self) -> None:
        if self.max_in_flight is None:
            return
        with self._answers:
            answered = self._answers.wait_for(
                lambda: self._in_flight < self.max_in_flight or self._stop.is_set(), self.answer_timeout_s
            )
            if not answered:
                self._in_flight = self.max_in_flight - 1  # give the lost frame up

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_guarded, name="attanet-camera-player", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the demo, which then stops everything
            self.error = f"camera player failed: {type(exc).__name__}: {exc}"
        finally:
            self.done.set()

    def _run(self) -> None:
        import rclpy
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        with private_node("attanet_demo_camera", self.domain_id) as node:
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
            publisher = node.create_publisher(Image, self.topic, qos)
            deadline = time.monotonic() + self.wait_s
            while publisher.get_subscription_count() < self.min_subscribers:
                if self._stop.is_set():
                    return
                if time.monotonic() > deadline:
                    self.error = (
                        f"only {publisher.get_subscription_count()} of {self.min_subscribers} subscribers "
                        f"on {self.topic} after {self.wait_s:.0f} s"
                    )
                    return
                time.sleep(0.05)
            self.started.set()
            period = 1.0 / self.rate_hz
            due = time.monotonic()
            while not self._stop.is_set():
                for bag_stamp, raw in self._messages:
                    self._stop.wait(max(0.0, due - time.monotonic()))
                    self._wait_for_answers()
                    if self._stop.is_set():
                        return
                    stamp = time.time_ns()
                    if self.first_publish is None:
                        self.first_publish = time.monotonic()
                    with self._answers:
                        self._in_flight += 1
                    publisher.publish(restamp(raw, stamp))
                    if not self.loop:  # looping (the viewer) needs no lookup; keep memory bounded
                        self.published[stamp] = bag_stamp
                    due = max(due + period, time.monotonic())  # waiting for answers must not cause a burst
                if not self.loop:
                    break
            publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=2.0))
