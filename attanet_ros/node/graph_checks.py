"""What the ROS graph around the node says is wrong, checked from the diagnostics timer.

Two silent failures a user cannot see from the node's counters alone:

- another node with the node's fully-qualified name in the same ROS domain (a second demo, a
  second launch): outputs of both land on the same topics and parameter calls reach either;
- publishers on the image topic whose frames never arrive (Fast DDS transports that cannot carry
  the frame size, a QoS mismatch): the node would otherwise just say "waiting for images".

``GraphWatch.check`` returns (level, sentence) problems for ``diagnostic_report`` and logs a
WARN when a problem appears (again every ``repeat_s`` while it lasts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from attanet_ros.common.dds_env import camera_side_fix, transport_setting

from .diagnostics import WARN


def duplicate_name_problem(fqn: str, same_name_count: int, domain_id: int) -> str | None:
    """The sentence for ``same_name_count`` nodes named ``fqn`` (this one included), or None."""
    if same_name_count <= 1:
        return None
    return (
        f"{same_name_count - 1} other node(s) named {fqn} in ROS domain {domain_id}: their outputs mix with this "
        "one's on the same topics and parameter calls may reach either; give each a namespace "
        "(-r __ns:=/front), a name (-r __node:=...) or its own ROS_DOMAIN_ID"
    )


def silent_publishers_problem(
    topic: str, publishers: list[tuple[str, str]], silent_s: float, subscription_reliable: bool
) -> str:
    """The sentence for ``publishers`` ((node, reliability) pairs) on ``topic`` whose frames have not
    arrived for ``silent_s`` seconds, with the fix in words."""
    names = ", ".join(f"{node} ({reliability})" for node, reliability in publishers)
    text = f"{len(publishers)} publisher(s) on {topic} [{names}] but no frame arrived for {silent_s:.0f} s"
    if subscription_reliable and any(rel == "best_effort" for _, rel in publishers):
        return text + ": a best-effort publisher never matches this node's reliable subscription (mode replay)"
    return f"{text} (this node: {transport_setting()}): {camera_side_fix()}"


class GraphWatch:
    """Graph checks for one node; ``check`` is cheap enough for every diagnostics period."""

    def __init__(
        self,
        node: Any,
        image_topics: list[str],
        warn: Callable[[str], None],
        subscription_reliable: bool = False,
        silent_after_s: float = 3.0,
        repeat_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._node, self._topics, self._warn, self._clock = node, image_topics, warn, clock
        self._reliable, self._silent_after_s, self._repeat_s = subscription_reliable, silent_after_s, repeat_s
        self._received = -1
        self._since = clock()  # last frame, or when publishers appeared
        self._logged: dict[str, float] = {}  # problem kind -> when last logged

    def check(self, frames_received: int, frames_waiting: int = 0) -> tuple[list[tuple[int, str]], dict[str, str]]:
        """(problems, diagnostic values) now. ``frames_received`` is the node's input counter,
        ``frames_waiting`` its queue: in replay mode a full queue holds the input callback back, so
        the counter stands still while frames do flow."""
        now = self._clock()
        problems: dict[str, str] = {}
        me = (self._node.get_name(), self._node.get_namespace())
        same = sum(1 for entry in self._node.get_node_names_and_namespaces() if tuple(entry) == me)
        duplicate = duplicate_name_problem(
            self._node.get_fully_qualified_name(), same, self._node.context.get_domain_id()
        )
        if duplicate:
            problems["duplicate_name"] = duplicate
        publishers: list[tuple[str, str]] = []
        for topic in self._topics:
            for info in self._node.get_publishers_info_by_topic(topic):
                reliability = info.qos_profile.reliability.name.lower()
                publishers.append((f"{info.node_namespace.rstrip('/')}/{info.node_name}", reliability))
        if frames_received != self._received or frames_waiting or not publishers:
            self._received, self._since = frames_received, now
        elif now - self._since >= self._silent_after_s:
            problems["silent_publishers"] = silent_publishers_problem(
                ", ".join(self._topics), publishers, now - self._since, self._reliable
            )
        for kind, text in problems.items():
            if now - self._logged.get(kind, -float("inf")) >= self._repeat_s:
                self._logged[kind] = now
                self._warn(text)
        for kind in set(self._logged) - set(problems):
            del self._logged[kind]  # solved: say it again at once if it comes back
        values = {"image_publishers": str(len(publishers)), "nodes_with_this_name": str(same)}
        values["dds_transport"] = transport_setting()
        return [(WARN, text) for text in problems.values()], values
