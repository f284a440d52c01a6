"""What the ROS graph tells the node: another node of its name, publishers whose frames never
arrive, and the Fast DDS transport it picks when none is set. Real node processes over Fast DDS."""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import (
    CAMERA,
    LATCHED,
    NODE,
    PROFILE,
    NodeProcess,
    RosClient,
    diagnostics_values,
    domain_for,
    street_image,
)
from sensor_msgs.msg import Image
from std_msgs.msg import String

PARAMS = {"diagnostics_period": 0.5, "warmup": False}


@pytest.fixture(scope="module")
def ros():
    domain = domain_for(3)
    node = NodeProcess(domain, params=PARAMS)
    client = RosClient(domain)
    info = client.subscribe(String, f"{NODE}/class_info", LATCHED)
    try:
        client.wait_for(lambda: info or node.proc.poll() is not None, 90, "the node to publish class_info")
        assert node.proc.poll() is None, f"node exited:\n{node.output()}"
        client.diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
        client.domain = domain
        yield client, node
    finally:
        client.close()
        rc = node.stop()
        print(node.output())
        assert rc == 0, f"node exited with {rc}"


def _diagnostics_saying(client, text: str, timeout: float = 60.0) -> dict:
    def found():
        return next((v for v in map(diagnostics_values, client.diagnostics) if text in v["_message"]), None)

    client.wait_for(lambda: found() is not None, timeout, f"/diagnostics saying {text!r}")
    return found()


def test_a_second_node_of_the_same_name_is_warned_about(ros):
    client, first = ros
    second = NodeProcess(client.domain, params=PARAMS)
    try:
        warning = f"1 other node(s) named {NODE} in ROS domain {client.domain}"
        values = _diagnostics_saying(client, warning)
        assert values["_level"] == 1 and values["nodes_with_this_name"] == "2", values
        assert first.wait_for_output(warning, 30), first.output()
        assert second.wait_for_output(warning, 30), second.output()
        assert "give each a namespace (-r __ns:=/front)" in first.output()
    finally:
        assert second.stop() == 0, second.output()
    client.diagnostics.clear()

    def alone():  # the graph forgets the second node within a discovery round
        return any(diagnostics_values(d)["nodes_with_this_name"] == "1" for d in client.diagnostics)

    client.wait_for(alone, 30, "the warning to end with the second node")
    values = next(v for v in map(diagnostics_values, client.diagnostics) if v["nodes_with_this_name"] == "1")
    assert "other node(s) named" not in values["_message"] and values["_level"] == 0, values


def test_publishers_whose_frames_never_arrive_are_warned_about(ros):
    """A publisher on the image topic and no frame for seconds (here: it sends none, the same as
    frames the transport cannot carry): WARN with the publisher and the fix; one frame ends it."""
    client, node = ros
    pub = client.publisher(Image, CAMERA)
    client.wait_for_match(pub)
    client.diagnostics.clear()
    text = f"1 publisher(s) on {CAMERA} [/attanet_test_client (reliable)] but no frame arrived for"
    values = _diagnostics_saying(client, text)
    assert values["_level"] == 1 and values["image_publishers"] == "1", values
    assert f"start the camera driver with export FASTDDS_DEFAULT_PROFILES_FILE={PROFILE}" in values["_message"]
    assert node.wait_for_output(text, 30), node.output()
    pub.publish(client.image(street_image(64, 128)))
    client.diagnostics.clear()
    values = _diagnostics_saying(client, "idle: no subscriber to any output", timeout=30)
    assert values["_level"] == 0, values
    client.node.destroy_publisher(pub)


def test_without_a_profile_the_node_uses_the_shipped_one_and_large_frames_arrive(ros):
    client, _ = ros
    node = NodeProcess(
        client.domain,
        params={**PARAMS, "outputs": ["labels"]},
        extra_args=["-r", "__node:=plain"],
        env={"FASTDDS_DEFAULT_PROFILES_FILE": None},
    )
    try:
        assert node.wait_for_output(f"Fast DDS transports: FASTDDS_DEFAULT_PROFILES_FILE={PROFILE}", 90), node.output()
        labels = client.subscribe(Image, "/t/plain/labels")
        pub = client.publisher(Image, CAMERA)
        client.wait_for_match(pub)
        client.wait_for_node_subscribers("/t/plain/labels", 1)
        frame = street_image(512, 1024)
        for attempt in range(10):  # best-effort input: resend until one comes back
            pub.publish(client.image(frame, frame_id=f"big{attempt}"))
            try:
                client.wait_for(lambda: bool(labels), 10, "labels of a 512x1024 frame")
                break
            except AssertionError:
                continue
        assert labels and (labels[0].height, labels[0].width) == (512, 1024), node.output()
    finally:
        assert node.stop() == 0, node.output()
