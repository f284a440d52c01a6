"""``attanet bag-make``, ``bag-eval``, ``bag-play`` and ``bag-record``: argument parsing and output only.

The work is done in bag_make / bag_eval / bag_play / bag_record; this module turns flags into their configs,
prints a summary (``--json`` for machines) and maps problems to exit codes: 0 done, 1 results
are partial or nothing could be scored (a damaged bag, no matching ground truth), 2 a user
mistake (missing file or topic, bad flag value), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attanet_model.engine_options import add_engine_arguments, add_input_scale_argument

from .bag_io import IMAGE_TYPES, STORAGES, BagError
from .bag_make import COMPRESSIONS, ENCODINGS, camera_info_topic, image_topic, label_topic
from .cli_flags import DeprecatedAlias

DEFAULT_PREFIX = "/camera"
DEFAULT_IMAGE_TOPIC = image_topic(DEFAULT_PREFIX)
DEFAULT_LABEL_TOPIC = label_topic(DEFAULT_PREFIX)


def _fail(name: str, message: str, code: int = 2) -> int:
    print(f"attanet {name}: {message}", file=sys.stderr)
    return code


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2))


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


# ---------------------------------------------------------------- bag-make


def _make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attanet bag-make",
        description="Write a dataset split as a rosbag2: camera frames (sensor_msgs/Image), ground-truth "
        "labels (mono8 trainIds, same stamps) and camera_info. Readable by rosbags and `ros2 bag info`.",
        epilog="topics: <prefix>/image_raw (or .../image_raw/compressed), <prefix>/gt_labels, <prefix>/camera_info. "
        "Example: attanet bag-make --data-root data/synth --split val --out val_bag --storage mcap",
    )
    p.add_argument("--data-root", required=True, type=Path, help="dataset folder (Cityscapes layout for cityscapes)")
    p.add_argument("--split", default="val", help="dataset split (default: val)")
    p.add_argument("--out", required=True, type=Path, help="bag directory to create (must not exist)")
    p.add_argument(
        "--dataset",
        default="cityscapes",
        choices=("cityscapes", "ade20k", "custom"),
        help="dataset layout (default: cityscapes; also the synthetic set from `attanet synth`)",
    )
    p.add_argument("--classes-file", type=Path, help="class table YAML for --dataset custom")
    p.add_argument("--classes", dest="classes_file", type=Path, action=DeprecatedAlias, new="--classes-file")
    p.add_argument("--storage", default="mcap", choices=STORAGES, help="rosbag2 storage plugin (default: mcap)")
    p.add_argument("--rate", type=float, default=10.0, help="frame rate in Hz for the stamps (default: 10)")
    p.add_argument("--topic-prefix", default=DEFAULT_PREFIX, help=f"topic namespace (default: {DEFAULT_PREFIX})")
    p.add_argument("--frame-id", default="camera", help="header frame_id (default: camera)")
    p.add_argument("--encoding", default="bgr8", choices=ENCODINGS, help="camera image encoding (default: bgr8)")
    p.add_argument(
        "--compress",
        default="none",
        choices=COMPRESSIONS,
        help="write sensor_msgs/CompressedImage on <prefix>/image_raw/compressed instead (default: none)",
    )
    p.add_argument("--limit", type=int, help="only the first N frames of the split")
    p.add_argument(
        "--start-time", type=float, help="stamp of the first frame in seconds since the epoch (default: now)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def bag_make_main(argv: list[str], build_dataset: Callable[..., Any]) -> int:
    """``attanet bag-make``. ``build_dataset(kind, root, split, classes_file=...)`` reads the split: the
    dataset readers are training's, so the top-level dispatcher, which knows both packages, passes
    ``attanet_training.datasets.build_dataset`` in (this package never imports training)."""
    args = _make_parser().parse_args(argv)
    import yaml

    from .bag_make import MakeConfig, make_bag

    if args.limit is not None and args.limit < 1:
        return _fail("bag-make", f"--limit must be >= 1, got {args.limit}")
    try:
        config = MakeConfig(
            out=args.out,
            storage=args.storage,
            rate_hz=args.rate,
            topic_prefix=args.topic_prefix,
            frame_id=args.frame_id,
            encoding=args.encoding,
            compress=args.compress,
            start_ns=round(args.start_time * 1e9) if args.start_time is not None else None,
            progress=_progress(args),
        )
        dataset = build_dataset(args.dataset, args.data_root, args.split, classes_file=args.classes_file)
    except ValueError as exc:  # DatasetLayoutError, BagError and bad values are all ValueErrors with a sentence
        return _fail("bag-make", str(exc))
    except (TypeError, OSError, yaml.YAMLError) as exc:  # a classes file that is not the table it should be
        return _fail(
            "bag-make",
            f"cannot read the class table {args.classes_file} ({' '.join(str(exc).split())}); expected 'classes:', "
            "a list of {name, color: [r, g, b], value}",
        )
    if args.out.exists():
        return _fail("bag-make", f"output bag {args.out} exists already; remove it or choose another --out")
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    if config.start_ns is not None:
        try:
            config.check_span(len(samples), config.start_ns)
        except ValueError as exc:
            return _fail("bag-make", str(exc))
    try:
        summary = make_bag(samples, dataset.read_labels, config, classes=dataset.classes)
    except BagError as exc:
        return _fail("bag-make", str(exc))
    except ValueError as exc:
        return _fail("bag-make", str(exc), 1)
    if args.json:
        _print_json(summary)
    else:
        topics = ", ".join(f"{t} ({n})" for t, n in summary["topics"].items())
        print(
            f"wrote {summary['frames']} frames to {summary['bag']} [{summary['storage']}], "
            f"{summary['duration_s']:.1f} s at {summary['rate_hz']:g} Hz: {topics}"
        )
    return 0


# ---------------------------------------------------------------- bag-eval


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attanet bag-eval",
        description="mIoU, per-class IoU and latency over a rosbag2: every camera frame through the model (or, with "
        "--pred-topic, the labels the live node recorded), ground truth paired by header stamp.",
        epilog="exit status: 0 scored, 1 partial (damaged bag) or nothing scored, 2 usage error. "
        "Example: attanet bag-eval val_bag --json --plots plots/",
    )
    p.add_argument("bag", type=Path, help="rosbag2 directory, or a single .mcap/.db3 file")
    p.add_argument(
        "--image-topic",
        help=f"camera topic, Image or CompressedImage (default: {DEFAULT_IMAGE_TOPIC} or its /compressed)",
    )
    p.add_argument(
        "--label-topic",
        default=DEFAULT_LABEL_TOPIC,
        help=f"ground truth, mono8 trainIds (default: {DEFAULT_LABEL_TOPIC})",
    )
    p.add_argument(
        "--pred-topic",
        help="score this recorded label topic (e.g. /attanet/labels) instead of running "
        "the model; camera frames without an output are reported as dropped",
    )
    p.add_argument(
        "--class-info-topic",
        help="with --pred-topic: the node's class table (std_msgs/String JSON) recorded with the labels "
        "(default: ~/class_info beside --pred-topic, e.g. /attanet/class_info)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="pair frames with the nearest ground truth within this many seconds (default: 0, exact stamps)",
    )
    p.add_argument(
        "--model",
        type=Path,
        help="checkpoint (.pt) or .onnx (default: the bundled model); with --pred-topic only its class table "
        "is used, checked against the recorded one",
    )
    add_engine_arguments(p)
    add_input_scale_argument(p, "the model's own (paper: 0.5)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument(
        "--out-bag",
        type=Path,
        help="write camera frames + predicted labels / colour / overlay (input stamps, same storage) to this new "
        "bag (parent folders are created)",
    )
    p.add_argument("--out-prefix", default="/attanet", help="topic namespace in --out-bag (default: /attanet)")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write iou_per_class.png and latency_hist.png here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def bag_eval_main(argv: list[str]) -> int:
    """``attanet bag-eval``."""
    args = _eval_parser().parse_args(argv)
    from attanet_model import ClassTableMismatch

    from .bag_eval import EvalConfig, evaluate_bag
    from .bag_io import BagReader

    if args.tolerance < 0:
        return _fail("bag-eval", f"--tolerance must be >= 0 seconds, got {args.tolerance}")
    if args.class_info_topic and not args.pred_topic:
        return _fail("bag-eval", "--class-info-topic names the class table of recorded labels; it needs --pred-topic")
    if args.pred_topic and args.out_bag:
        return _fail("bag-eval", "--out-bag writes the model's predictions; it cannot be combined with --pred-topic")
    if args.out_bag and args.out_bag.exists():
        return _fail("bag-eval", f"--out-bag {args.out_bag} exists already; remove it or choose another path")
    try:
        reader = BagReader(args.bag)
    except BagError as exc:
        return _fail("bag-eval", str(exc))
    with reader:
        image = args.image_topic or _default_image_topic(reader, bool(args.pred_topic))
        config = EvalConfig(
            label_topic=args.label_topic,
            image_topic=image,
            pred_topic=args.pred_topic,
            tolerance_ns=round(args.tolerance * 1e9),
            out_bag=args.out_bag,
            out_prefix=args.out_prefix,
            progress=_progress(args),
        )
        try:  # topics first: a typo should not wait for the model to load
            reader.require_topic(
                args.pred_topic or image, IMAGE_TYPES, "--pred-topic" if args.pred_topic else "--image-topic"
            )
            reader.require_topic(args.label_topic, IMAGE_TYPES, "--label-topic")
            segmenter = _segmenter(args)
            classes, classes_from, class_warning = (
                _recorded_classes(reader, args, segmenter)
                if args.pred_topic
                else (segmenter.classes, f"--model {segmenter.model_path}", None)
            )
        except ValueError as exc:  # BagError, CheckpointError and bad choices are ValueErrors with a sentence
            return _fail("bag-eval", str(exc))
        segment = (lambda img: segmenter.segment(img).labels) if segmenter and not args.pred_topic else None
        if args.out_bag is not None:  # created only once the bag, its topics and the model are known good
            args.out_bag.parent.mkdir(parents=True, exist_ok=True)
        try:
            report = evaluate_bag(reader, config, classes, segment)
        except (BagError, ClassTableMismatch) as exc:
            return _fail("bag-eval", str(exc))
    if segmenter is not None and not args.pred_topic:
        report.model, report.provider = str(segmenter.model_path), segmenter.provider
    report.classes_from = classes_from
    if class_warning:
        report.warnings.append(class_warning)
    if args.pred_topic and config.image_topic is None:
        report.warnings.append(
            f"no camera topic ({DEFAULT_IMAGE_TOPIC} is not in the bag; name one with --image-topic), "
            "so dropped frames and latency are unknown"
        )
    summary = report.to_dict()
    if args.plots:
        try:
            from .bag_plots import write_plots

            summary["plots"] = [str(p) for p in write_plots(summary, classes, args.plots, report.latencies_ms)]
        except (RuntimeError, OSError) as exc:
            summary["warnings"].append(f"plots not written: {exc}")
    if args.json:
        _print_json(summary)
    else:
        print(_eval_text(summary))
    for warning in summary["warnings"]:
        print(f"attanet bag-eval: warning: {warning}", file=sys.stderr)
    for error in summary["errors"]:
        print(f"attanet bag-eval: error: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def _default_image_topic(reader, recorded: bool) -> str | None:
    """/camera/image_raw, else its compressed twin; recorded mode may have no camera topic at all."""
    for topic in (DEFAULT_IMAGE_TOPIC, f"{DEFAULT_IMAGE_TOPIC}/compressed"):
        if topic in reader.topics:
            return topic
    return None if recorded else DEFAULT_IMAGE_TOPIC


def _recorded_classes(reader, args: argparse.Namespace, segmenter) -> tuple[tuple, str, str | None]:
    """(classes, where they came from, warning or None) for scoring recorded labels.

    The node's class_info recorded beside the labels names the classes the labels were
    produced with; --model and a class table recorded beside the ground truth must agree with
    it (and with each other). Raises BagError, one line, on a disagreement.
    """
    from attanet_model import CITYSCAPES_CLASSES
    from attanet_model.classes import describe_difference, same_classes

    from .bag_io import class_info_topic

    info_topic = args.class_info_topic or class_info_topic(args.pred_topic)
    if args.class_info_topic:
        reader.require_topic(info_topic, ("std_msgs/msg/String",), "--class-info-topic")
    sources = []  # (description, classes), most authoritative first
    if (recorded := reader.class_table(info_topic)) is not None:
        sources.append((f"the recorded {info_topic}", recorded))
    if segmenter is not None:
        sources.append((f"--model {segmenter.model_path}", segmenter.classes))
    gt_topic = class_info_topic(args.label_topic)
    if gt_topic != info_topic and (truth := reader.class_table(gt_topic)) is not None:
        sources.append((f"the ground truth's {gt_topic}", truth))
    for name, table in sources[1:]:
        if not same_classes(sources[0][1], table):
            raise BagError(
                f"class tables disagree: {sources[0][0]} and {name} ({describe_difference(sources[0][1], table)}); "
                "score labels against ground truth of the same class table"
            )
    if sources:
        return sources[0][1], sources[0][0], None
    warning = (
        f"no class table: {info_topic} is not in the bag and no --model was given, so the 19 Cityscapes classes "
        f"are assumed; record the node's ~/class_info with its labels (or pass --model)"
    )
    return CITYSCAPES_CLASSES, "default (Cityscapes)", warning


def _segmenter(args: argparse.Namespace):
    """The model, unless recorded outputs are scored (then only for its class table, if --model is given)."""
    if args.pred_topic and args.model is None:
        return None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from attanet_model import Segmenter

    return Segmenter(
        args.model, backend=args.backend, device=args.device, precision=args.precision, input_scale=args.input_scale
    )


def _eval_text(s: dict[str, Any]) -> str:
    """The summary for a person: per-class IoU table, then the headline numbers."""
    lines = [f"bag {s['bag']} [{s['storage']}], {s['mode']} mode"]
    if s["mode"] == "recorded":
        lines[0] += f", class names from {s['classes_from']}"
    if s["iou"]:
        width = max(len(n) for n in s["iou"])
        lines += [f"  {name:<{width}}  {'n/a' if v is None else f'{100 * v:.2f}':>6}" for name, v in s["iou"].items()]
    fmt = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    lines.append(
        f"mIoU {fmt(s['miou'])}  pixel acc {fmt(s['pixel_acc'])}  "
        f"frames {s['frames']} (scored {s['matched']}, no ground truth {s['unmatched']}, "
        f"size mismatch {s['size_mismatch']}, undecodable {s['undecodable']}, model failed {s['model_failed']})"
    )
    if s.get("gt_resized_to"):
        h, w = s["gt_resized_to"]
        lines.append(
            f"ground truth resized (nearest) to the labels' {h}x{w} for {s['gt_resized']} frames "
            "(labels recorded at the network's resolution)"
        )
    if s["skipped"]:
        named = "; ".join(
            k["topic"]
            + (f" #{k['index']}" if k["index"] is not None else "")
            + (f" at {k['stamp']:.6f}" if k["stamp"] is not None else "")
            + f": {k['reason']}"
            for k in s["skipped"][:3]
        )
        more = f" (and {len(s['skipped']) - 3} more; --json lists all)" if len(s["skipped"]) > 3 else ""
        lines.append(f"skipped {len(s['skipped'])}: {named}{more}")
    if s.get("dropped") is not None:
        lines.append(f"node dropped {s['dropped']} of {s['input_frames']} camera frames ({100 * s['drop_rate']:.1f}%)")
    if s["latency_ms"]:
        lat = s["latency_ms"]
        lines.append(f"latency ms p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  max {lat['max']:.1f}  [{lat['source']}]")
    if s.get("out_bag"):
        lines.append(f"predictions written to {s['out_bag']}")
    if s.get("plots"):
        lines.append(f"plots: {', '.join(s['plots'])}")
    return "\n".join(lines)


# ---------------------------------------------------------------- bag-play


def _play_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attanet bag-play",
        description="Publish a rosbag2's messages through rclpy with the recorded timing (for machines without "
        "`ros2 bag play`). Raw CDR bytes are published, so any installed message type plays.",
        epilog="Anything after --ros-args goes to rclpy, e.g. --ros-args -r /camera/image_raw:=/image. "
        "Ctrl-C stops cleanly (exit 130).",
    )
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
    _add_dds_profile_argument(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def bag_play_main(argv: list[str]) -> int:
    """``attanet bag-play``."""
    argv, ros_args = _split_ros_args(argv)
    args = _play_parser().parse_args(argv)
    from .bag_play import PlayConfig, play

    if (code := _use_dds_profile("bag-play", args.dds_profile)) is not None:
        return code
    try:
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
            progress=_progress(args),
        )
        summary = play(config, log=lambda text: print(f"attanet bag-play: {text}", file=sys.stderr))
    except ValueError as exc:  # BagError, bad flag values
        return _fail("bag-play", str(exc))
    data = summary.to_dict()
    if args.json:
        _print_json(data)
    else:
        state = "interrupted" if summary.interrupted else "done"
        print(
            f"{state}: published {data['messages']} messages in {summary.wall_s:.1f} s "
            f"({summary.loops} complete pass(es)) from {summary.bag}"
        )
    for error in summary.errors:
        print(f"attanet bag-play: error: {error}", file=sys.stderr)
    if summary.interrupted:
        return 130
    return 1 if summary.errors else 0


# ---------------------------------------------------------------- bag-record


def _record_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attanet bag-record",
        description="Record topics to a rosbag2 through rclpy (for machines without `ros2 bag record`). "
        "The serialized bytes are written as received, so images come back bit-exact; each topic's QoS is "
        "matched to its publishers (the node's latched ~/class_info is received even when recording starts late).",
        epilog="Stops at --duration, --max-messages, Ctrl-C or SIGTERM, always with a closed, readable bag. "
        "Anything after --ros-args goes to rclpy. exit status: 0 recorded every topic, 1 a topic got no message, "
        "2 usage error. Example: attanet bag-record run1 --topics /camera/image_raw /attanet/labels "
        "/attanet/class_info --storage mcap",
    )
    p.add_argument("out", type=Path, help="bag directory to create (must not exist; parent folders are created)")
    p.add_argument("--topics", nargs="+", required=True, metavar="TOPIC", help="topics to record")
    p.add_argument("--storage", default="mcap", choices=STORAGES, help="rosbag2 storage plugin (default: mcap)")
    p.add_argument("--duration", type=float, metavar="SEC", help="stop after SEC seconds")
    p.add_argument("--max-messages", type=int, metavar="N", help="stop once N messages are written (all topics)")
    _add_dds_profile_argument(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def bag_record_main(argv: list[str]) -> int:
    """``attanet bag-record``."""
    argv, ros_args = _split_ros_args(argv)
    args = _record_parser().parse_args(argv)
    from .bag_record import RecordConfig, record

    if (code := _use_dds_profile("bag-record", args.dds_profile)) is not None:
        return code
    try:
        config = RecordConfig(
            out=args.out,
            topics=args.topics,
            storage=args.storage,
            duration_s=args.duration,
            max_messages=args.max_messages,
            ros_args=ros_args,
        )
        summary = record(config, log=lambda text: print(f"attanet bag-record: {text}", file=sys.stderr))
    except (ValueError, OSError) as exc:  # BagError, bad flag values, a folder that cannot be created
        return _fail("bag-record", str(exc))
    data = summary.to_dict()
    if args.json:
        _print_json(data)
    else:
        topics = ", ".join(f"{t} ({n})" for t, n in summary.counts.items())
        print(
            f"recorded {data['messages']} messages in {summary.wall_s:.1f} s to {summary.bag} [{summary.storage}] "
            f"(stopped by {summary.stopped_by}): {topics}"
        )
    for warning in summary.warnings:
        print(f"attanet bag-record: warning: {warning}", file=sys.stderr)
    for error in summary.errors:
        print(f"attanet bag-record: error: {error}", file=sys.stderr)
    return 1 if summary.errors else 0


def _split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(our flags, what follows --ros-args)."""
    if "--ros-args" not in argv:
        return argv, []
    i = argv.index("--ros-args")
    return argv[:i], argv[i + 1 :]


def _add_dds_profile_argument(p: argparse.ArgumentParser) -> None:
    """``--dds-profile``, for the commands that start an rclpy participant (bag-play, bag-record)."""
    p.add_argument(
        "--dds-profile",
        type=Path,
        help="Fast DDS profile XML (sets FASTDDS_DEFAULT_PROFILES_FILE), e.g. config/fastdds_shm.xml",
    )


def _use_dds_profile(name: str, profile: Path | None) -> int | None:
    """Point Fast DDS at ``profile`` (before rclpy starts); an exit code if the file is missing."""
    if profile is None:
        return None
    if not profile.is_file():
        return _fail(name, f"--dds-profile {profile} does not exist")
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile.resolve())
    return None


__all__ = ["bag_eval_main", "bag_make_main", "bag_play_main", "bag_record_main", "camera_info_topic"]
