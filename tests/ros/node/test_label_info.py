"""~/label_info (vision_msgs/LabelInfo) and the Nav2 semantic segmentation layer's side of the contract,
against the node in its own process over real Fast DDS; the QoS override parameters.

The type hash is checked against rosbags' own RIHS01 hash of the upstream interface files (an
implementation that shares no code with the rosidl build; bag_io registers them), the class table against
the model's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from ros_harness import (
    LATCHED,
    LAYER_LABELS,
    NAMESPACE,
    NODE,
    REPO,
    NodeProcess,
    RosClient,
    domain_for,
    model_classes,
    ros_env,
    stamp_ns,
    street_image,
    to_array,
)
from sensor_msgs.msg import Image

from attanet_ros.bags.storage import LABEL_INFO, TYPESTORE, BagReader
from attanet_ros.node.label_info import LabelInfo

pytestmark = pytest.mark.skipif(
    LabelInfo is None, reason="vision_msgs was not built (make install names what is missing)"
)

CAMERAS = ("left", "right")
THRESHOLD = 0.6
# What kiwicampus/semantic_segmentation_layer subscribes with: sensor data (depth 50) for the mask and the
# confidence; LabelInfo: ros_harness.LAYER_LABELS.
LAYER_IMAGES = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)


@pytest.fixture(scope="module")
def ros():
    """A two-camera live node whose `left` topics carry QoS overrides; `right` keeps the defaults."""
    domain = domain_for(1)
    overrides = {
        # input: a best-effort camera publisher matches a replay node only after this
        f"qos_overrides.{NAMESPACE}/left/image.subscription.reliability": "best_effort",
        # output: a transient-local (late-joiner) subscriber matches ~/left/labels only after this
        f"qos_overrides.{NODE}/left/labels.publisher.durability": "transient_local",
        f"qos_overrides.{NODE}/left/labels.publisher.depth": 1,
    }
    params = {
        "cameras": list(CAMERAS),
        "mode": "replay",
        "outputs": ["labels", "confidence"],
        "confidence_threshold": THRESHOLD,
        "warmup_height": 64,
        "warmup_width": 128,
        **overrides,
    }
    node = NodeProcess(domain, params=params)
    client = RosClient(domain)
    try:
        # the subscriber starts after the node published: wait for the node's own "segmenting" line first
        assert node.wait_for_output("segmenting", 90), f"node did not start:\n{node.output()}"
        yield client, node
    finally:
        client.close()
        node.stop()


def test_label_info_reaches_a_late_subscriber_with_the_model_table(ros):
    client, node = ros
    expected = [*model_classes(), (255, "unlabeled")]
    for name in CAMERAS:
        topic = f"{NODE}/{name}/label_info"
        received = client.subscribe(LabelInfo, topic, LAYER_LABELS)
        client.wait_for(lambda received=received: received, 30, f"{topic} for a late subscriber")
        msg = received[-1]
        assert [(c.class_id, c.class_name) for c in msg.class_map] == expected
        assert msg.threshold == pytest.approx(THRESHOLD)
        infos = client.node.get_publishers_info_by_topic(topic)
        assert [(i.node_name, i.topic_type) for i in infos] == [("attanet", "vision_msgs/msg/LabelInfo")]
        assert str(infos[0].topic_type_hash) == TYPESTORE.hash_rihs01(LABEL_INFO)
        assert infos[0].qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
        assert infos[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert (
        TYPESTORE.hash_rihs01(LABEL_INFO) == "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783"
    )


def test_nav2_segmentation_layer_contract(ros):
    """Mask mono8 (255 = below the threshold), confidence mono8 with the mask's exact stamp, and LabelInfo
    with the camera's frame_id, all received with the layer's QoS."""
    client, node = ros
    name = "left"
    labels = client.subscribe(Image, f"{NODE}/{name}/labels", LAYER_IMAGES)
    confidence = client.subscribe(Image, f"{NODE}/{name}/confidence", LAYER_IMAGES)
    label_info = client.subscribe(LabelInfo, f"{NODE}/{name}/label_info", LAYER_LABELS)
    client.wait_for(lambda: label_info, 30, "label_info")
    for topic in ("labels", "confidence"):
        client.wait_for_node_subscribers(f"{NODE}/{name}/{topic}", 1)
    camera = client.publisher(Image, f"{NAMESPACE}/{name}/image", BEST_EFFORT)  # matched by the override
    client.wait_for_match(camera)
    sent = []
    for i in range(30):  # until 3 masks: the node computes them once it has discovered our subscriptions
        sent.append(client.now_ns())
        camera.publish(client.image(street_image(64, 128, seed=i), stamp_ns=sent[-1], frame_id="left_optical"))
        client.spin(0.5)
        if len(labels) >= 3:
            break
    assert len(labels) >= 3, f"{len(labels)} masks after {len(sent)} frames:\n{node.output()[-3000:]}"
    stamps = [stamp_ns(m.header) for m in labels]
    client.wait_for(lambda: set(stamps) <= {stamp_ns(m.header) for m in confidence}, 30, "a confidence per mask")
    by_stamp = {stamp_ns(m.header): m for m in confidence}
    assert set(stamps) <= set(sent)
    known = {c.class_id for c in label_info[-1].class_map}
    for mask in labels:
        conf = by_stamp[stamp_ns(mask.header)]  # the layer's TimeSynchronizer pairs them by exact stamp
        assert (mask.encoding, conf.encoding) == ("mono8", "mono8")
        assert mask.header.frame_id == conf.header.frame_id == "left_optical"
        mask_a, conf_a = to_array(mask), to_array(conf)
        assert set(np.unique(mask_a)) <= known
        # a pixel is unlabeled exactly where the confidence is below the threshold (mono8: x 255, rounded)
        assert np.all(mask_a[conf_a < int(THRESHOLD * 255)] == 255)
        assert np.all(mask_a[conf_a > int(THRESHOLD * 255) + 1] != 255)
    client.wait_for(lambda: label_info[-1].header.frame_id == "left_optical", 10, "label_info with the camera frame")
    # republished with the first frame the node published for, not after its labels
    assert stamp_ns(label_info[-1].header) in sent
    assert stamp_ns(label_info[-1].header) <= min(stamps)


def test_label_info_follows_the_threshold(ros):
    client, node = ros
    label_info = client.subscribe(LabelInfo, f"{NODE}/right/label_info", LAYER_LABELS)
    client.wait_for(lambda: label_info, 30, "right/label_info")
    assert all(r.successful for r in client.set_parameters(confidence_threshold=0.25))
    try:
        check_threshold_followed(client, node, label_info)
    finally:  # the other tests expect the node's THRESHOLD
        assert all(r.successful for r in client.set_parameters(confidence_threshold=THRESHOLD))


def check_threshold_followed(client, node, label_info) -> None:
    labels = client.subscribe(Image, f"{NODE}/right/labels")  # outputs nobody reads are not computed
    client.wait_for_node_subscribers(f"{NODE}/right/labels", 1)
    camera = client.publisher(Image, f"{NAMESPACE}/right/image")  # the default replay input: reliable
    client.wait_for_match(camera)
    # until one comes back: the node computes labels only once it has discovered our subscription
    for _ in range(30):
        camera.publish(client.image(street_image(64, 128), frame_id="right_optical"))
        client.spin(1.0)
        if labels:
            break
    assert labels, f"no right/labels after 30 frames:\n{node.output()[-3000:]}"
    client.wait_for(lambda: label_info[-1].threshold == pytest.approx(0.25), 10, "label_info with threshold 0.25")
    assert label_info[-1].header.frame_id == "right_optical"


def test_qos_overrides_reach_the_graph(ros):
    """Overridden on `left`, defaults on `right`: what the graph reports, and a late-joining reliable +
    transient-local subscriber matched (it receives the last mask) only where the override made it so."""
    client, node = ros

    def qos(topic, publishers=True):
        infos = (
            client.node.get_publishers_info_by_topic if publishers else client.node.get_subscriptions_info_by_topic
        )(topic)
        infos = [i for i in infos if i.node_name == "attanet"]
        assert len(infos) == 1, f"{topic}: {infos}"
        return infos[0].qos_profile

    assert qos(f"{NAMESPACE}/left/image", False).reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos(f"{NAMESPACE}/right/image", False).reliability == ReliabilityPolicy.RELIABLE  # replay default
    assert qos(f"{NODE}/left/labels").durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert qos(f"{NODE}/right/labels").durability == DurabilityPolicy.VOLATILE
    # the earlier test published on left: a subscriber that joins now still gets the last mask
    late = client.subscribe(Image, f"{NODE}/left/labels", LATCHED)
    client.wait_for(lambda: late, 30, "the last left mask for a transient-local subscriber")
    assert late[-1].header.frame_id == "left_optical"


def test_bag_record_records_label_info_and_the_bag_tools_read_it(ros, tmp_path):
    """`attanet bag-record` (its own process, started late) records the latched LabelInfo; the bag's class
    table read back is the model's."""
    client, node = ros
    topic = f"{NODE}/left/label_info"
    bag = tmp_path / "bag"
    cmd = [sys.executable, "-c", "import sys, attanet_cli; sys.exit(attanet_cli.main())", "bag-record", str(bag)]
    cmd += ["--topics", topic, "--max-messages", "1", "--json"]
    run = subprocess.run(
        cmd, env=ros_env(client.context.get_domain_id()), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["qos"] == {topic: "reliable, transient_local"}
    with BagReader(bag) as reader:
        assert reader.topics[topic].msgtype == LABEL_INFO
        table = reader.class_table(topic)
        raw = next(iter(reader.messages([topic]))).raw
    assert [(c.id, c.name) for c in table] == model_classes()
    # rosbags and rclpy read the node's bytes alike (byte equality is not asked: rmw leaves padding uninitialised)
    ours, theirs = TYPESTORE.deserialize_cdr(raw, LABEL_INFO), deserialize_message(raw, LabelInfo)
    expected = [*model_classes(), (255, "unlabeled")]
    assert [(c.class_id, c.class_name) for c in ours.class_map] == expected
    assert [(c.class_id, c.class_name) for c in theirs.class_map] == expected
    assert ours.threshold == pytest.approx(theirs.threshold) and 0 < ours.threshold < 1
