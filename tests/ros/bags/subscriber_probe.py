"""A real rclpy subscriber in its own process, for the bag-play tests.

    python subscriber_probe.py TOPIC COUNT TIMEOUT_S [--ros-args ...]

``--ros-args`` go to rclpy (``-r __node:=NAME``, ``-p use_sim_time:=true``). Prints ``ready`` once
subscribed, ``msg <stamp ns> <crc32 of data>`` per message as it arrives,
and at the end (COUNT messages or timeout) one JSON line with everything received, each with
the node clock's time at arrival (``sim``: the bag's /clock under use_sim_time).
"""

from __future__ import annotations

import json
import sys
import time
import zlib

import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def main() -> int:
    topic, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rclpy.init(args=sys.argv)
    node = rclpy.create_node("bag_play_probe")
    received: list[dict] = []

    def on_image(msg: Image) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        crc = zlib.crc32(bytes(msg.data))
        sim = node.get_clock().now().nanoseconds
        received.append({"stamp": stamp, "crc": crc, "encoding": msg.encoding, "t": time.monotonic(), "sim": sim})
        print(f"msg {stamp} {crc}", flush=True)

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, topic, on_image, qos)
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({"received": received}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
