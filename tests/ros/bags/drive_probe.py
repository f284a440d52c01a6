"""A camera, its ground truth and a node's labels, published by one real rclpy process (bag-record tests).

    python drive_probe.py COUNT HEIGHT WIDTH

Publishes, for each of COUNT frames stamped 1_700_000_000 + i s, a random bgr8 image on
/camera/image_raw, its labels (mono8, ids 0..18) on /camera/gt_labels and the same labels on
/attanet/labels (reliable, keep all), once each topic has a subscriber; prints ``ready`` at start and
``done`` once every message is acknowledged, then stays up until its stdin closes.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

TOPICS = ("/camera/image_raw", "/camera/gt_labels", "/attanet/labels")


def image(pixels: np.ndarray, encoding: str, i: int) -> Image:
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, data=pixels.tobytes())
    msg.step = pixels.shape[1] * (3 if encoding == "bgr8" else 1)
    msg.header.stamp.sec, msg.header.frame_id = 1_700_000_000 + i, "camera"
    return msg


def main() -> int:
    count, height, width = map(int, sys.argv[1:4])
    rclpy.init()
    node = rclpy.create_node("drive_probe")
    qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    pubs = [node.create_publisher(Image, topic, qos) for topic in TOPICS]
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while any(p.get_subscription_count() < 1 for p in pubs) and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    rng = np.random.default_rng(0)
    for i in range(count):
        labels = rng.integers(0, 19, (height, width), dtype=np.uint8)
        pubs[0].publish(image(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "bgr8", i))
        pubs[1].publish(image(labels, "mono8", i))
        pubs[2].publish(image(labels, "mono8", i))
    for pub in pubs:
        pub.wait_for_all_acked(Duration(seconds=60))
    print("done", flush=True)
    sys.stdin.read()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
