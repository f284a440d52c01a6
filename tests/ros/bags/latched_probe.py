"""A late std_msgs/String subscriber with transient-local QoS, for the bag-play tests.

    python latched_probe.py TOPIC TIMEOUT_S

Starts rclpy, prints ``ready``, then subscribes only when a line arrives on stdin (so the test
decides that it joins late), and prints the first message's data (or ``timeout``).
"""

from __future__ import annotations

import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String


def main() -> int:
    topic, timeout = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("latched_probe")
    print("ready", flush=True)
    sys.stdin.readline()
    got: list[str] = []
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    node.create_subscription(String, topic, lambda msg: got.append(msg.data), qos)
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(got[0] if got else "timeout", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
