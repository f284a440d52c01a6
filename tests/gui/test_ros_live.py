"""The live source against the real node in its own process, over Fast DDS with the shipped profile."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest
from gui_helpers import ros_domain_for_test, street_image, wait_until

from attanet_gui.processes import ProcessGroup
from attanet_gui.render import ViewSettings
from attanet_gui.ros_env import PROFILE_VARIABLE, shipped_config, shipped_dds_profile
from attanet_gui.ros_source import RosTopicSource
from attanet_gui.window import ViewerWindow
from attanet_model import AttentionQuery, Segmenter
from attanet_ros.node.node_command import node_command

CAMERA = "/test_cam/image"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ros_world(tmp_path_factory, model_path):
    """The node (replay mode, the test model) in its own process, and a camera publisher in this one."""
    import rclpy
    from rclpy.context import Context
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    domain = ros_domain_for_test()
    profile = str(shipped_dds_profile())
    previous = os.environ.get(PROFILE_VARIABLE)
    os.environ[PROFILE_VARIABLE] = profile
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    params = shipped_config("attanet.yaml")
    command = node_command(
        params_file=params, params={"model_path": model_path, "mode": "replay"}, remaps={"image": CAMERA}
    )
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("test_camera", context=context)
    publisher = node.create_publisher(Image, CAMERA, QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE))
    with ProcessGroup(tmp_path_factory.mktemp("logs"), env) as group:
        process = group.start("node", command)
        yield {"domain": domain, "node": node, "publisher": publisher, "process": process}
    node.destroy_node()
    rclpy.shutdown(context=context)
    if previous is None:
        os.environ.pop(PROFILE_VARIABLE, None)
    else:
        os.environ[PROFILE_VARIABLE] = previous


def wait_for_node(source: RosTopicSource, world: dict, subscribers: int) -> None:
    process = world["process"]
    try:
        # class_info (latched) and the labels/confidence publishers known: the node's results now reach the source
        wait_until(
            lambda: (source.class_info_received and source.outputs_discovered.is_set()) or not process.running(),
            timeout=90,
        )
        wait_until(lambda: world["publisher"].get_subscription_count() >= subscribers, timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nnode log:\n{process.log_tail()}") from None
    assert process.running(), f"the node exited:\n{process.log_tail()}"


def publish(world: dict, image: np.ndarray) -> int:
    from sensor_msgs.msg import Image

    from attanet_ros.common.image_codec import array_to_image_msg

    msg = Image()
    msg.header.stamp = world["node"].get_clock().now().to_msg()
    msg.header.frame_id = "test_cam"
    array_to_image_msg(msg, image, "bgr8", msg.header)
    world["publisher"].publish(msg)
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def publish_truncated(world: dict) -> None:
    """A bgr8 frame whose data is shorter than height * step (a driver bug the decoder must refuse)."""
    from sensor_msgs.msg import Image

    msg = Image(height=4, width=4, encoding="bgr8", step=12, data=bytes(10))
    msg.header.stamp = world["node"].get_clock().now().to_msg()
    world["publisher"].publish(msg)


def publish_until(world: dict, image: np.ndarray, predicate, timeout: float = 60.0) -> tuple[object, list[int]]:
    """Publish ``image`` again every second until ``predicate()`` holds: (its value, the stamps sent).
    Matching the camera publisher does not mean the node's outputs have matched the viewer's
    subscriptions yet, and a frame published before that is (correctly) never delivered."""
    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamps.append(publish(world, image))
        try:
            return wait_until(predicate, timeout=1.0), stamps
        except AssertionError:
            continue
    raise AssertionError(f"no frame came back within {timeout} s of publishing {len(stamps)} times")


def test_live_source_receives_every_frame_from_the_node(ros_world, model_path):
    frames = []
    source = RosTopicSource(CAMERA, "/attanet", domain_id=ros_world["domain"], every_frame=True, sink=frames.append)
    source.start()
    try:
        wait_for_node(source, ros_world, subscribers=2)
        images = [street_image(128, 256, seed=i) for i in range(4)]
        publish_truncated(ros_world)  # skipped, counted and named by the source (and refused by the node)
        stamps = []
        for image in images:  # a burst: replay mode processes every frame, in order, however fast they come
            stamps.append(publish(ros_world, image))
        wait_until(lambda: len(frames) == 4, timeout=60)
    finally:
        source.stop()
    assert source.frames_skipped == 1 and source.skipped[0].startswith(f"{CAMERA}@")
    assert [f.stamp_ns for f in frames] == stamps  # every frame, in order, paired by header stamp
    local = Segmenter(model_path, output="network")  # the node's own: network-size results, resized at the end
    assert source.classes == tuple(local.classes)  # from the node's ~/class_info
    for frame, image in zip(frames, images, strict=True):
        assert np.array_equal(frame.image_bgr, image)
        reference = local.segment(image)
        assert frame.labels.shape == (128, 256)
        labels = cv2.resize(reference.labels, (256, 128), interpolation=cv2.INTER_NEAREST)
        assert np.mean(frame.labels == labels) > 0.99  # the node ran the same model
        # confidence: mono8 at the network size, resized by nearest like the labels
        confidence = cv2.resize(reference.confidence, (256, 128), interpolation=cv2.INTER_NEAREST)
        assert np.abs(frame.confidence - confidence).max() < 2.5 / 255  # mono8 quantisation
        assert 0 < frame.latency_ms < 30_000 and "stamp_to_labels" in frame.timings_ms


def test_viewer_window_on_the_live_node_with_a_click(qapp, ros_world, model_path):
    source = RosTopicSource(
        CAMERA, "/attanet", attention_factory=lambda: Segmenter(model_path), domain_id=ros_world["domain"]
    )
    window = ViewerWindow(source, ViewSettings("labels"))
    window.show()
    source.start()
    try:
        wait_for_node(source, ros_world, subscribers=2)
        image = street_image(256, 512, seed=5)
        frame, stamps = publish_until(ros_world, image, lambda: window.frame is not None and window.frame)
        assert frame.stamp_ns in stamps and window.shown_image().shape == (256, 512, 3)
        window.attention_box.setCurrentText("column")
        window.click(400, 0)  # answered by the local model on the shown camera image
        frame = wait_until(lambda: window.frame.attention is not None and window.frame, timeout=60)
        reference = Segmenter(model_path).segment(image, AttentionQuery(400)).attention
        assert np.allclose(frame.attention, reference, atol=1e-5)
    finally:
        window.close()


def test_a_labels_only_source_does_not_ask_the_node_for_confidence(ros_world, model_path):
    frames = []
    source = RosTopicSource(
        CAMERA, "/attanet", domain_id=ros_world["domain"], every_frame=True, sink=frames.append, with_confidence=False
    )
    source.start()
    try:
        wait_for_node(source, ros_world, subscribers=2)
        node = ros_world["node"]
        # the node computes and publishes confidence only for a subscriber: this source is none
        # (an earlier test's source may still be leaving the graph: wait for it, not for luck)
        wait_until(lambda: node.count_subscribers("/attanet/labels") >= 1, timeout=30)
        wait_until(lambda: node.count_subscribers("/attanet/confidence") == 0, timeout=30)
        image = street_image(128, 256, seed=11)
        stamps = [publish(ros_world, image)]
        wait_until(lambda: len(frames) == 1, timeout=60)
    finally:
        source.stop()
    assert frames[0].stamp_ns == stamps[0] and frames[0].confidence is None
    local = Segmenter(model_path, output="network")
    labels = cv2.resize(local.segment(image).labels, (256, 128), interpolation=cv2.INTER_NEAREST)
    assert np.mean(frames[0].labels == labels) > 0.99
