"""The node's worker publishes each output as it is made; a publish that fails stops that frame's
later images only, and the failure is kept for the frame's count (never lost, never raised into the
other frames of a batch)."""

from __future__ import annotations

import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image

from attanet_ros.node.camera_channel import CameraChannel
from attanet_ros.node.engine import _Frame
from attanet_ros.node.output_publishing import OutputPublishing


class _Publisher:
    def __init__(self, fails: bool = False) -> None:
        self.sent: list[bytes] = []
        self.fails = fails

    def publish(self, data: bytes) -> None:
        if self.fails:
            raise RuntimeError("rmw: publisher's context is invalid")
        self.sent.append(data)


def _frame(wanted: set[str]) -> _Frame:
    msg = Image()
    msg.header.frame_id, msg.header.stamp.sec = "front_camera", 42
    channel = CameraChannel("")
    channel.image_pubs = {name: _Publisher(fails=name == "color") for name in ("labels", "color", "overlay")}
    return _Frame(channel, msg, 0.0, np.zeros((4, 6, 3), np.uint8), frozenset(wanted), False, {})


def test_outputs_go_out_as_made_with_the_frames_header():
    frame = _frame({"labels"})
    publishing = OutputPublishing(frame)
    publishing("labels", np.arange(24, dtype=np.uint8).reshape(4, 6))
    publishing("overlay", np.zeros((4, 6, 3), np.uint8))  # not wanted: not published
    [sent] = frame.channel.image_pubs["labels"].sent
    labels = deserialize_message(sent, Image)
    assert (labels.header.frame_id, labels.header.stamp.sec, labels.encoding) == ("front_camera", 42, "mono8")
    assert bytes(labels.data) == bytes(range(24))
    assert frame.channel.image_pubs["overlay"].sent == [] and publishing.failed is None


def test_a_failed_publish_stops_that_frames_later_images_and_is_kept():
    frame = _frame({"labels", "color", "overlay"})
    publishing = OutputPublishing(frame)
    publishing("labels", np.zeros((4, 6), np.uint8))
    publishing("color", np.zeros((4, 6, 3), np.uint8))
    publishing("overlay", np.zeros((4, 6, 3), np.uint8))
    assert isinstance(publishing.failed, RuntimeError) and "context is invalid" in str(publishing.failed)
    assert len(frame.channel.image_pubs["labels"].sent) == 1
    assert frame.channel.image_pubs["overlay"].sent == []  # after the failure: skipped, not half-published
