"""image_cdr: a sensor_msgs/Image serialized in numpy decodes (rclpy, rosbags, and another process over
real Fast DDS) to exactly the array and header it was made from."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from ros_harness import RosClient, domain_for, ros_env, stamp_ns, to_array
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from attanet_ros.common.image_codec import array_to_image_msg, image_cdr

CASES = [((5, 7), "mono8"), ((3, 5, 3), "rgb8"), ((8, 9, 3), "bgr8"), ((3, 3), "mono16"), ((1, 1), "mono8")]


def _array(shape, encoding, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if encoding == "mono16":
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("frame_id", ["", "a", "cam", "abcd", "camera_optical_frame", "kamera_ü"])
@pytest.mark.parametrize("shape,encoding", CASES)
def test_cdr_decodes_like_the_rclpy_message(frame_id, shape, encoding):
    image = _array(shape, encoding, seed=len(frame_id))
    header = Header(stamp=Time(sec=1_700_000_123, nanosec=987_654_321), frame_id=frame_id)
    expected = array_to_image_msg(Image(), image, encoding, header)
    data = image_cdr(image, encoding, header)
    assert len(data) == len(serialize_message(expected))  # rmw's own layout, padding included
    assert deserialize_message(data, Image) == expected


def test_cdr_reads_back_with_rosbags():
    typestore = get_typestore(Stores.ROS2_KILTED)
    image = _array((6, 10, 3), "rgb8", seed=3)
    header = Header(stamp=Time(sec=42, nanosec=7), frame_id="cam")
    msg = typestore.deserialize_cdr(image_cdr(image, "rgb8", header), "sensor_msgs/msg/Image")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (42, 7, "cam")
    assert (msg.height, msg.width, msg.encoding, msg.step, msg.is_bigendian) == (6, 10, "rgb8", 30, 0)
    np.testing.assert_array_equal(msg.data.reshape(6, 10, 3), image)


def test_cdr_of_a_view_is_the_view_pixels():
    """A non-contiguous view (a crop) is serialized as its own pixels, rows not padded."""
    big = _array((20, 30, 3), "bgr8", seed=4)
    view = big[2:12, 5:25]
    msg = deserialize_message(image_cdr(view, "bgr8", Header(frame_id="c")), Image)
    assert (msg.height, msg.width, msg.step) == (10, 20, 60)
    np.testing.assert_array_equal(to_array(msg), view)


def test_cdr_refuses_a_wrong_array():
    with pytest.raises(ValueError, match="rgb8 needs a HxWx3 uint8 image"):
        image_cdr(np.zeros((4, 4), np.uint8), "rgb8", Header())


PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import numpy as np, rclpy
    from builtin_interfaces.msg import Time
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from attanet_ros.common.image_codec import image_cdr

    rclpy.init()
    node = rclpy.create_node("cdr_publisher")
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=3, reliability=ReliabilityPolicy.RELIABLE)  # all 3 kept
    pub = node.create_publisher(Image, "/cdr/image", qos)
    image = np.random.default_rng(7).integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
    deadline = time.monotonic() + 60
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    for i in range(3):  # reliable, and the subscriber is matched: each one arrives
        pub.publish(image_cdr(image, "rgb8", Header(stamp=Time(sec=100 + i, nanosec=5), frame_id="cam_%d" % i)))
    time.sleep(float(sys.argv[1]))
    """
)


def test_a_serialized_image_reaches_another_process_whole():
    """6 MB rgb8 frames published as CDR bytes in one process arrive in another over the shipped
    shared-memory profile: every frame, header and pixels exact."""
    domain = domain_for(4)
    client = RosClient(domain)
    proc = None
    try:
        received = client.subscribe(Image, "/cdr/image")
        proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, "30"], env=ros_env(domain))
        client.wait_for(lambda: len(received) == 3 or proc.poll() is not None, 60, "three serialized images")
        assert len(received) == 3, f"got {len(received)} of 3 (publisher exit code {proc.poll()})"
        image = np.random.default_rng(7).integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
        for i, msg in enumerate(received):
            assert msg.header.frame_id == f"cam_{i}" and stamp_ns(msg.header) == (100 + i) * 1_000_000_000 + 5
            assert msg.encoding == "rgb8"
            np.testing.assert_array_equal(to_array(msg), image)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        client.close()
