"""QoS profiles of the node's topics, chosen in one place (and why)."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)


def input_qos(mode: str, reliability: str = "best_effort", depth: int = 5) -> QoSProfile:
    """Camera input. live: sensor-data style (best effort, shallow) unless told otherwise; the node
    keeps only the newest frame anyway. replay: reliable, keep-all, so no frame is lost in DDS while
    the worker is busy (the callback blocks and the reader buffers)."""
    if mode == "replay":
        return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


def output_qos(mode: str) -> QoSProfile:
    """Output images: reliable so both reliable (rviz) and best-effort subscribers match. live keeps
    the last 2 (a slow viewer never slows the node); replay keeps all, so an evaluator sees every frame."""
    if mode == "replay":
        return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=ReliabilityPolicy.RELIABLE)


def latched_qos() -> QoSProfile:
    """~/class_info: published once, delivered to late subscribers (transient local)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
