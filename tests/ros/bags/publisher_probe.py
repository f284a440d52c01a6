"""A real rclpy publisher in its own process, for the bag-record tests.

    python publisher_probe.py IMAGE_TOPIC COUNT HEIGHT WIDTH LATCHED_TOPIC

Publishes a JSON std_msgs/String on LATCHED_TOPIC at once (transient local, as the node's
~/class_info), prints ``ready``, waits for a subscriber on IMAGE_TOPIC, publishes COUNT seeded
random bgr8 images (reliable), prints one JSON line with the crc32 of each message's canonical
CDR bytes (see ``canonical_cdr``),
waits for the acknowledgements, prints ``done`` and stays up (so the latched message stays
available) until its stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zlib

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import String

CLASS_INFO = {"classes": [{"id": 0, "name": "floor", "color": [0, 0, 0]}], "ignore_index": 255, "arch": "probe"}


def probe_image(i: int, height: int, width: int) -> Image:
    pixels = np.random.default_rng(i).integers(0, 256, (height, width, 3), dtype=np.uint8)
    msg = Image(height=height, width=width, encoding="bgr8", step=width * 3, data=pixels.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000 + i, 1000 * i
    msg.header.frame_id = "probe"
    return msg


def canonical_cdr(raw: bytes, msgtype: str = "sensor_msgs/msg/Image") -> bytes:
    """``raw`` re-serialized by rosbags, which zeroes the alignment padding. rmw's serializer
    leaves padding bytes uninitialised, so two serializations of one message differ only there."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    return bytes(store.serialize_cdr(store.deserialize_cdr(raw, msgtype), msgtype))


def main() -> int:
    topic, count, height, width, latched_topic = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:5]), sys.argv[5]
    rclpy.init()
    node = rclpy.create_node("bag_record_probe")
    latched = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    info_pub = node.create_publisher(String, latched_topic, latched)
    info_pub.publish(String(data=json.dumps(CLASS_INFO)))
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, topic, reliable)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while image_pub.get_subscription_count() < 1 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    crcs = []
    for i in range(count):
        msg = probe_image(i, height, width)
        crcs.append(zlib.crc32(canonical_cdr(serialize_message(msg))))
        image_pub.publish(msg)
    print(json.dumps({"crc": crcs, "class_info": CLASS_INFO}), flush=True)
    image_pub.wait_for_all_acked(rclpy.duration.Duration(seconds=30))
    print("done", flush=True)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    while not closed.is_set():
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
