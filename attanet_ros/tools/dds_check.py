"""Which Fast DDS settings deliver camera-sized frames between two processes on this machine.

A camera publisher and a subscriber with the node's live input QoS (best effort, keep last 5),
each in its own process, for every combination of transport settings on either side (stock
Fast DDS, the shipped shared-memory profile, ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``), the
publisher's reliability and the frame size. It counts the frames that arrive. The node then
defaults to what delivers (``dds_env``) and docs/ROS.md has the table.

    python -m attanet_ros.tools.dds_check --sizes 512x1024 1024x2048 2048x1024 --frames 20 --markdown

``--malloc stock tuned`` also varies the subscriber's glibc: its defaults, or the thresholds every
frame-moving process of this project sets (``malloc_tuning``), which decide most of a large frame's
latency (docs/SPEED.md).

SIGTERM or Ctrl-C ends the check and both of its child processes (terminated, then killed if they
linger), so a check stopped half-way leaves no publisher or subscriber running on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np

from attanet_model.cli_args import add_domain_id, add_json, add_sizes
from attanet_ros.common.dds_env import PROFILE_VARIABLE, USER_SETTINGS, shipped_profile
from attanet_ros.common.malloc_tuning import TUNED_ENVIRONMENT, USER_VARIABLES

SETTINGS = ("stock", "profile", "large_data")
MALLOC = ("stock", "tuned")
CHILD_GRACE_S = 5.0  # a child that has not exited this long after SIGTERM is killed


class Interrupted(Exception):
    """SIGTERM or SIGINT reached the check; raised where it runs so that every child is stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def side_env(setting: str, domain_id: int, malloc: str = "stock") -> dict[str, str]:
    """This process's environment with one side's transport ``setting`` and glibc ``malloc`` (its defaults, or
    tuned as this project's processes tune themselves), and nothing else of the user's."""
    env = {k: v for k, v in os.environ.items() if k not in USER_SETTINGS and k not in USER_VARIABLES}
    if malloc == "tuned":
        env.update(TUNED_ENVIRONMENT)
    elif malloc != "stock":
        raise ValueError(f"unknown malloc {malloc!r}; choose from {MALLOC}")
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

    from attanet_ros.common.qos import input_qos

    _die_on_sigterm()
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

    from attanet_ros.common.image_codec import array_to_image_msg

    _die_on_sigterm()
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


def _die_on_sigterm() -> None:
    """rclpy.init without rclpy's signal handlers, SIGTERM left at its default: the child ends at once,
    even blocked writing to a full pipe (rclpy's handler only shuts the context down, and a write
    interrupted by a signal is retried)."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def terminate_or_kill(process: subprocess.Popen, grace_s: float) -> bool:
    """SIGTERM ``process`` and wait ``grace_s``; kill it if it is still there. True when it had to be killed."""
    if process.poll() is not None:
        return False
    process.terminate()
    try:
        process.wait(grace_s)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def stop_child(process: subprocess.Popen) -> None:
    """Terminate ``process`` and wait for it; kill it if it is still there after ``CHILD_GRACE_S``."""
    terminate_or_kill(process, CHILD_GRACE_S)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """The first SIGTERM or SIGINT raises ``Interrupted`` in the main thread while the block runs; later
    ones are ignored, so that they cannot cut the stopping of the children short."""
    signals = (signal.SIGTERM, signal.SIGINT)

    def handler(signum: int, frame) -> None:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def check_one(
    node_side: str, camera_side: str, reliability: str, size, frames: int, rate: float, domain: int, malloc="stock"
) -> dict:
    """One combination: how many of ``frames`` reached the subscriber (glibc ``malloc``), and their median latency."""
    me = [sys.executable, "-m", "attanet_ros.tools.dds_check"]
    pub_cmd = [*me, "--role", "pub", "--reliability", reliability, "--sizes", f"{size[0]}x{size[1]}"]
    pub_cmd += ["--frames", str(frames), "--rate", str(rate)]
    sub = subprocess.Popen(
        [*me, "--role", "sub"], env=side_env(node_side, domain, malloc), stdout=subprocess.PIPE, text=True
    )
    pub = None
    try:
        assert sub.stdout is not None
        if sub.stdout.readline().strip() != "READY":
            raise RuntimeError("the subscriber process did not start")
        pub = subprocess.Popen(pub_cmd, env=side_env(camera_side, domain), stdout=subprocess.PIPE, text=True)
        pub_out, _ = pub.communicate(timeout=120 + frames / rate)
        time.sleep(1.0)
        sub.terminate()
        out, _ = sub.communicate(timeout=30)
    finally:  # also on SIGTERM/Ctrl-C (Interrupted) and timeouts: no child outlives the check
        for child in (pub, sub):
            if child is not None:
                stop_child(child)
    latencies = [float(line.split()[1]) for line in out.splitlines() if line.startswith("RX ")]
    return {
        "node_side": node_side,
        "camera_side": camera_side,
        "reliability": reliability,
        "malloc": malloc,
        "size": f"{size[0]}x{size[1]}",
        "matched": "MATCHED" in pub_out,
        "sent": frames,
        "received": len(latencies),
        "latency_p50_ms": float(np.median(latencies)) if latencies else None,
    }


def markdown_table(rows: list[dict]) -> str:
    """One line per combination, one column per size: received/sent (p50 latency); a node-side malloc column
    when more than one was checked."""
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    with_malloc = len({r.get("malloc", "stock") for r in rows}) > 1
    head = ["node side", "camera side", "camera QoS"] + (["node malloc"] if with_malloc else [])
    lines = ["| " + " | ".join(head + sizes) + " |", "|" + "---|" * len(head) + "---:|" * len(sizes)]

    def key(r: dict) -> tuple:
        return (r["node_side"], r["camera_side"], r["reliability"]) + (
            (r.get("malloc", "stock"),) if with_malloc else ()
        )

    for k in dict.fromkeys(key(r) for r in rows):
        cells = []
        for size in sizes:
            r = next(r for r in rows if key(r) == k and r["size"] == size)
            cell = f"{r['received']}/{r['sent']}"
            if r["latency_p50_ms"] is not None:
                cell += f" ({r['latency_p50_ms']:.1f} ms)"
            cells.append(cell if r["matched"] else "no match")
        lines.append("| " + " | ".join([*k, *cells]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attanet_ros.tools.dds_check", description=__doc__.splitlines()[0])
    add_sizes(parser, [(512, 1024), (1024, 2048), (2048, 1024)], "frame sizes")
    parser.add_argument("--frames", type=int, default=20, help="frames per combination (default 20)")
    parser.add_argument("--rate", type=float, default=10.0, help="publish rate in Hz (default 10)")
    parser.add_argument("--node-side", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--camera-side", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--reliability", nargs="+", choices=("reliable", "best_effort"), default=None)
    parser.add_argument(
        "--malloc",
        nargs="+",
        choices=MALLOC,
        default=["stock"],
        help="the subscriber's glibc: its defaults (stock) and/or tuned as the node tunes itself (default: stock)",
    )
    add_domain_id(parser, fallback=150)
    add_json(parser, "print the rows as JSON")
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
    try:
        with signals_interrupt():
            for node_side in args.node_side:
                for camera_side in args.camera_side:
                    for reliability in args.reliability or ("reliable", "best_effort"):
                        for malloc in args.malloc:
                            for size in args.sizes:
                                row = check_one(
                                    node_side,
                                    camera_side,
                                    reliability,
                                    size,
                                    args.frames,
                                    args.rate,
                                    args.domain_id,
                                    malloc,
                                )
                                print(json.dumps(row), file=sys.stderr, flush=True)
                                rows.append(row)
    except Interrupted as exc:
        print(f"dds_check: stopped by {exc}; its publisher and subscriber processes were stopped", file=sys.stderr)
        return 128 + exc.signum
    print(json.dumps(rows, indent=2) if args.json else markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
