"""Which Fast DDS settings deliver camera-sized frames between two processes on this machine.

A camera publisher and a subscriber with the node's live input QoS (best effort, keep last 5),
each in its own process, for every combination of transport settings on either side (stock
Fast DDS, the shipped shared-memory profile, ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``), the
publisher's reliability and the frame size. It counts the frames that arrive. The node then
defaults to what delivers (``dds_env``) and docs/ROS.md has the table.

    python -m attanet_ros.dds_check --sizes 512x1024 1024x2048 2048x1024 --frames 20 --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from .dds_env import PROFILE_VARIABLE, USER_SETTINGS, shipped_profile

SETTINGS = ("stock", "profile", "large_data")


def side_env(setting: str, domain_id: int) -> dict[str, str]:
    """This process's environment with one side's transport ``setting`` and nothing else of the user's."""
    env = {k: v for k, v in os.environ.items() if k not in USER_SETTINGS}
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    if setting == "profile":
        env[PROFILE_VARIABLE] = str(shipped_profile())
    elif setting == "large_data":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    elif setting != "stock":
        raise ValueError(f"unknown setting {setting!r}; choose from {SETTINGS}")
    return env


TOPIC = "/dds_check/image"


def _subscriber(topic: str) -> None:
    """Print one line per frame received: ``RX <stamp -> arrival ms>``; runs until killed."""
    import rclpy
    from sensor_msgs.msg import Image

    from .qos import input_qos

    rclpy.init()
    node = rclpy.create_node("dds_check_sub")

    def on_image(msg) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        print(f"RX {(time.time_ns() - stamp) / 1e6:.1f}", flush=True)

    node.create_subscription(Image, topic, on_image, input_qos("live"))
    print("READY", flush=True)
    with contextlib.suppress(KeyboardInterrupt, Exception):  # terminated by check_one when the publisher is done
        rclpy.spin(node)


def _publisher(topic: str, reliability: str, height: int, width: int, frames: int, rate: float) -> None:
    """Wait for the subscriber, publish ``frames`` bgr8 frames at ``rate`` Hz, linger for resends."""
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from .image_codec import array_to_image_msg

    rclpy.init()
    node = rclpy.create_node("dds_check_pub")
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    pub = node.create_publisher(Image, topic, QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=policy))
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print("MATCHED" if pub.get_subscription_count() else "NOMATCH", flush=True)
    end = time.monotonic() + 1.0  # the subscriber's side of discovery
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    msg = array_to_image_msg(Image(), np.full((height, width, 3), 90, np.uint8), "bgr8")
    for _ in range(frames):
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        pub.publish(msg)
        end = time.monotonic() + 1.0 / rate
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.01)
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.try_shutdown()


def check_one(node_side: str, camera_side: str, reliability: str, size, frames: int, rate: float, domain: int) -> dict:
    """One combination: how many of ``frames`` reached the subscriber, and their median latency."""
    me = [sys.executable, "-m", "attanet_ros.dds_check"]
    sub = subprocess.Popen([*me, "--role", "sub"], env=side_env(node_side, domain), stdout=subprocess.PIPE, text=True)
    try:
        assert sub.stdout is not None
        if sub.stdout.readline().strip() != "READY":
            raise RuntimeError("the subscriber process did not start")
        pub_cmd = [*me, "--role", "pub", "--reliability", reliability, "--sizes", f"{size[0]}x{size[1]}"]
        pub_cmd += ["--frames", str(frames), "--rate", str(rate)]
        pub = subprocess.run(
            pub_cmd, env=side_env(camera_side, domain), capture_output=True, text=True, timeout=120, check=False
        )
        time.sleep(1.0)
    finally:
        sub.terminate()
        out, _ = sub.communicate(timeout=30)
    latencies = [float(line.split()[1]) for line in out.splitlines() if line.startswith("RX ")]
    return {
        "node_side": node_side,
        "camera_side": camera_side,
        "reliability": reliability,
        "size": f"{size[0]}x{size[1]}",
        "matched": "MATCHED" in pub.stdout,
        "sent": frames,
        "received": len(latencies),
        "latency_p50_ms": float(np.median(latencies)) if latencies else None,
    }


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like HEIGHTxWIDTH, e.g. 512x1024") from exc
    return h, w


def markdown_table(rows: list[dict]) -> str:
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    lines = [
        "| node side | camera side | camera QoS | " + " | ".join(sizes) + " |",
        "|---|---|---|" + "---:|" * len(sizes),
    ]
    keys = list(dict.fromkeys((r["node_side"], r["camera_side"], r["reliability"]) for r in rows))
    for key in keys:
        cells = []
        for size in sizes:
            r = next(r for r in rows if (r["node_side"], r["camera_side"], r["reliability"], r["size"]) == (*key, size))
            cell = f"{r['received']}/{r['sent']}"
            if r["latency_p50_ms"] is not None:
                cell += f" ({r['latency_p50_ms']:.0f} ms)"
            cells.append(cell if r["matched"] else "no match")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attanet_ros.dds_check", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_size, nargs="+", default=[(512, 1024), (1024, 2048), (2048, 1024)])
    parser.add_argument("--frames", type=int, default=20, help="frames per combination (default 20)")
    parser.add_argument("--rate", type=float, default=10.0, help="publish rate in Hz (default 10)")
    parser.add_argument("--node-side", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--camera-side", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--reliability", nargs="+", choices=("reliable", "best_effort"), default=None)
    parser.add_argument("--domain", type=int, default=150, help="ROS domain id for the runs (default 150)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--role", choices=("sub", "pub"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "sub":
        _subscriber(TOPIC)
        return 0
    if args.role == "pub":
        _publisher(TOPIC, args.reliability[0], *args.sizes[0], args.frames, args.rate)
        return 0
    if shipped_profile() is None:
        print("dds_check: config/fastdds_shm.xml not found (source tree or share/attanet_ros/config)", file=sys.stderr)
        return 2
    rows = []
    for node_side in args.node_side:
        for camera_side in args.camera_side:
            for reliability in args.reliability or ("reliable", "best_effort"):
                for size in args.sizes:
                    row = check_one(node_side, camera_side, reliability, size, args.frames, args.rate, args.domain)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    print(json.dumps(rows, indent=2) if args.json else markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
