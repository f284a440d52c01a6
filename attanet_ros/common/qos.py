"""QoS profiles of the node's topics, chosen in one place (and why), and overridable as REP-2003 says.

REP-2003 (sensor data and map QoS settings): subscriptions to sensor data use the sensor-data
profile (best effort: matches best-effort and reliable publishers), publishers use the system
default (reliable: matches both kinds of subscriber). Topics published once (``~/label_info``,
``~/class_info``) are transient local, so a subscriber that starts later still gets them.

Every publisher and subscription the node creates accepts the standard override parameters
(rclpy ``QoSOverridingOptions``), read once when the entity is created:
``qos_overrides./<resolved topic>.<publisher|subscription>.<reliability|durability|history|depth>``,
e.g. ``--ros-args -p 'qos_overrides./camera/image.subscription.reliability:=reliable'``.
"""

from __future__ import annotations

from typing import Any

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions

# The policies a user may override from parameters (rclpy declares each one read-only).
OVERRIDABLE_POLICIES = (
    QoSPolicyKind.RELIABILITY,
    QoSPolicyKind.DURABILITY,
    QoSPolicyKind.HISTORY,
    QoSPolicyKind.DEPTH,
)


def overridable() -> QoSOverridingOptions:
    """Pass as ``qos_overriding_options`` to ``create_publisher`` / ``create_subscription``."""
    return QoSOverridingOptions(policy_kinds=OVERRIDABLE_POLICIES)


def publisher(node: Any, msg_type: Any, topic: str, qos: QoSProfile) -> Any:
    """``node.create_publisher`` with the standard ``qos_overrides.<topic>.publisher.*`` parameters."""
    return node.create_publisher(msg_type, topic, qos, qos_overriding_options=overridable())


def keep_last(
    depth: int,
    reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE,
    durability: DurabilityPolicy = DurabilityPolicy.VOLATILE,
) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability, durability=durability)


def input_qos(mode: str, reliability: str = "best_effort", depth: int = 5) -> QoSProfile:
    """Camera input. live: the sensor-data profile (best effort, keep last ``depth``, volatile) unless
    told otherwise; the node keeps only the newest frame anyway. replay: reliable, keep-all, so no frame is
    lost in DDS while the worker is busy (the callback blocks and the reader buffers)."""
    if mode == "replay":
        return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    return keep_last(depth, ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT)


def camera_info_qos() -> QoSProfile:
    """Camera calibration input: sensor data (best effort matches any driver); only the newest is kept."""
    return keep_last(5, ReliabilityPolicy.BEST_EFFORT)


def output_qos(mode: str) -> QoSProfile:
    """Output images: the system default (reliable, volatile), so reliable (rviz) and best-effort (Nav2's
    segmentation layer) subscribers both match. live keeps the last 2 (memory for two frames per output);
    replay keeps all, so an evaluator sees every frame."""
    if mode == "replay":
        return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    return keep_last(2)


def diagnostics_qos() -> QoSProfile:
    """/diagnostics: the system default as every ROS 2 diagnostic publisher uses it (reliable, depth 10)."""
    return keep_last(10)


def latched_qos() -> QoSProfile:
    """~/label_info and ~/class_info: published when they change, delivered to late subscribers (transient
    local). Nav2's semantic segmentation layer subscribes to LabelInfo reliable + transient local."""
    return keep_last(1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
