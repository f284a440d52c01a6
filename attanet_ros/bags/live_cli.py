"""``attanet bag-play`` and ``attanet bag-record``: the bag commands that talk to rclpy (argument
parsing and output only; the work is in bag_play and bag_record)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attanet_model.cli_args import add_domain_id, add_json, add_no_progress, command_parser, show_progress

from .cli import fail, print_json
from .storage import STORAGES

# ---------------------------------------------------------------- bag-play


def _play_parser() -> argparse.ArgumentParser:
    """Publish a rosbag2's messages through rclpy with the recorded timing (for machines without `ros2 bag play`). Raw
    CDR bytes are published, so any installed message type plays.

    Anything after --ros-args goes to rclpy, e.g. --ros-args -r /camera/image_raw:=/image. Ctrl-C stops cleanly
    (exit 130)."""
    p = command_parser("bag-play", _play_parser.__doc__)
    p.add_argument("bag", type=Path, help="rosbag2 directory, or a single .mcap/.db3 file")
    p.add_argument("--rate", type=float, default=1.0, help="speed factor (default: 1.0 = recorded timing)")
    p.add_argument("--loop", action="store_true", help="start over at the end until interrupted")
    p.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics (default: all playable)")
    p.add_argument(
        "--wait-for-node",
        nargs="+",
        default=[],
        metavar="NODE",
        help="start once each of these nodes (e.g. /attanet, or a bare name in any namespace) has subscribed to "
        "a played topic; if one does not within --wait-subscribers (default 30 s), play nothing and exit 1",
    )
    p.add_argument(
        "--wait-for-topic",
        nargs="+",
        default=[],
        metavar="TOPIC",
        help="start once each of these played topics has a subscriber (same timeout and failure as --wait-for-node)",
    )
    p.add_argument(
        "--wait-subscribers",
        type=float,
        metavar="SEC",
        help="wait up to SEC seconds before starting: for --wait-for-node / --wait-for-topic (default 30), else "
        "for --min-subscribers subscriptions in total (then playing anyway, with a warning)",
    )
    p.add_argument(
        "--min-subscribers",
        type=int,
        default=1,
        metavar="N",
        help="with --wait-subscribers alone: start once the played topics have N subscriptions in total, whoever "
        "they belong to (default: 1; prefer --wait-for-node)",
    )
    p.add_argument(
        "--restamp",
        action="store_true",
        help="replace header stamps of images and camera_info with the wall clock at publishing, as a live "
        "camera would (messages that shared a stamp keep sharing one)",
    )
    p.add_argument(
        "--clock",
        nargs="?",
        type=float,
        const=40.0,
        metavar="HZ",
        help="publish /clock (rosgraph_msgs/Clock) from the bag's log times, HZ times a second (default 40), "
        "for nodes with use_sim_time:=true",
    )
    p.add_argument("--qos", default="reliable", choices=("reliable", "best_effort"), help="publisher reliability")
    p.add_argument("--depth", type=int, default=100, help="publisher history depth (default: 100)")
    _add_rclpy_arguments(p)
    add_no_progress(p)
    return p


def bag_play_main(argv: list[str]) -> int:
    """``attanet bag-play``."""

    def run(args: argparse.Namespace, ros_args: list[str], log: Callable[[str], None]) -> Any:
        from .play import PlayConfig, play

        config = PlayConfig(
            bag=args.bag,
            topics=args.topics,
            rate=args.rate,
            loop=args.loop,
            wait_subscribers_s=args.wait_subscribers,
            min_subscribers=args.min_subscribers,
            wait_for_nodes=args.wait_for_node,
            wait_for_topics=args.wait_for_topic,
            restamp=args.restamp,
            clock_hz=args.clock,
            reliability=args.qos,
            depth=args.depth,
            ros_args=ros_args,
            progress=show_progress(args),
        )
        return play(config, log=log)

    def describe(summary: Any, data: dict[str, Any]) -> str:
        return (
            f"{'interrupted' if summary.interrupted else 'done'}: published {data['messages']} messages in "
            f"{summary.wall_s:.1f} s ({summary.loops} complete pass(es)) from {summary.bag}"
        )

    return _live_main("bag-play", _play_parser(), argv, run, describe, (ValueError,))  # BagError, bad flag values


# ---------------------------------------------------------------- bag-record


def _record_parser() -> argparse.ArgumentParser:
    """Record topics to a rosbag2 through rclpy (for machines without `ros2 bag record`). The serialized bytes are
    written as received, so images come back bit-exact; each topic's QoS is matched to its publishers (the node's
    latched ~/class_info and ~/label_info are received even when recording starts late).

    Stops at --duration, --max-messages, Ctrl-C or SIGTERM, always with a closed, readable bag. Anything after
    --ros-args goes to rclpy. exit status: 0 recorded every topic, 1 a topic got no message, 2 usage error. Example:
    attanet bag-record run1 --topics /camera/image_raw /attanet/labels /attanet/class_info --storage mcap"""
    p = command_parser("bag-record", _record_parser.__doc__)
    p.add_argument("out", type=Path, help="bag directory to create (must not exist; parent folders are created)")
    p.add_argument("--topics", nargs="+", required=True, metavar="TOPIC", help="topics to record")
    p.add_argument("--storage", default="mcap", choices=STORAGES, help="rosbag2 storage plugin (default: mcap)")
    p.add_argument("--duration", type=float, metavar="SEC", help="stop after SEC seconds")
    p.add_argument("--max-messages", type=int, metavar="N", help="stop once N messages are written (all topics)")
    _add_rclpy_arguments(p)
    return p


def bag_record_main(argv: list[str]) -> int:
    """``attanet bag-record``."""

    def run(args: argparse.Namespace, ros_args: list[str], log: Callable[[str], None]) -> Any:
        from .record import RecordConfig, record

        config = RecordConfig(
            out=args.out,
            topics=args.topics,
            storage=args.storage,
            duration_s=args.duration,
            max_messages=args.max_messages,
            ros_args=ros_args,
        )
        return record(config, log=log)

    def describe(summary: Any, data: dict[str, Any]) -> str:
        topics = ", ".join(f"{t} ({n})" for t, n in summary.counts.items())
        return (
            f"recorded {data['messages']} messages in {summary.wall_s:.1f} s to {summary.bag} [{summary.storage}] "
            f"(stopped by {summary.stopped_by}): {topics}"
        )

    # BagError, bad flag values, a folder that cannot be created; warnings at the end, after the summary
    return _live_main("bag-record", _record_parser(), argv, run, describe, (ValueError, OSError), warnings=True)


def _live_main(
    name: str,
    parser: argparse.ArgumentParser,
    argv: list[str],
    run: Callable[[argparse.Namespace, list[str], Callable[[str], None]], Any],
    describe: Callable[[Any, dict[str, Any]], str],
    errors: tuple[type[Exception], ...],
    warnings: bool = False,
) -> int:
    """What bag-play and bag-record do around their work: ``_start``, then ``run(flags, rclpy's arguments, log)``
    (``errors``: one line, exit 2), its summary as JSON (--json) or ``describe``\'s line, then its warnings (when
    ``warnings``) and errors on stderr. Exit 130 interrupted, 1 with errors, else 0."""
    started = _start(name, parser, argv)
    if isinstance(started, int):
        return started
    args, ros_args = started
    try:
        summary = run(args, ros_args, lambda text: print(f"attanet {name}: {text}", file=sys.stderr))
    except errors as exc:
        return fail(name, str(exc))
    data = summary.to_dict()
    if args.json:
        print_json(data)
    else:
        print(describe(summary, data))
    for kind, lines in (("warning", summary.warnings if warnings else []), ("error", summary.errors)):
        for line in lines:
            print(f"attanet {name}: {kind}: {line}", file=sys.stderr)
    if getattr(summary, "interrupted", False):
        return 130
    return 1 if summary.errors else 0


def _start(name: str, parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]] | int:
    """Our flags parsed, what follows --ros-args kept apart for rclpy; then, before rclpy starts, Fast DDS pointed
    at ``--dds-profile`` and ``--domain-id`` set (else rclpy reads ROS_DOMAIN_ID itself). Returns (flags, rclpy's
    arguments), or the exit code of a one-line error (a missing profile)."""
    if "--ros-args" in argv:
        i = argv.index("--ros-args")
        args, ros_args = parser.parse_args(argv[:i]), argv[i + 1 :]
    else:
        args, ros_args = parser.parse_args(argv), []
    if args.domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    if args.dds_profile is not None:
        if not args.dds_profile.is_file():
            return fail(name, f"--dds-profile {args.dds_profile} does not exist")
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(args.dds_profile.resolve())
    return args, ros_args


def _add_rclpy_arguments(p: argparse.ArgumentParser) -> None:
    """What the commands that start an rclpy participant share: DDS profile, ROS domain, JSON summary."""
    _add_dds_profile_argument(p)
    add_domain_id(p)
    add_json(p)


def _add_dds_profile_argument(p: argparse.ArgumentParser) -> None:
    """``--dds-profile``, for the commands that start an rclpy participant (bag-play, bag-record)."""
    p.add_argument(
        "--dds-profile",
        type=Path,
        help="Fast DDS profile XML (sets FASTDDS_DEFAULT_PROFILES_FILE), e.g. config/fastdds_shm.xml",
    )


__all__ = ["bag_play_main", "bag_record_main"]
