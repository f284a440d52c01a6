"""``attanet bag-make``, and what the bag commands share: argument parsing and output only.

The work is done in bag_make / bag_eval / bag_segment / bag_play / bag_record; the command modules
(this one, ``bag_eval_cli`` for the commands that run the model over a bag, ``bag_live_cli`` for the
ones that talk to rclpy) turn flags into configs, print a summary (``--json`` for machines) and map
problems to exit codes: 0 done, 1 results are partial or nothing could be scored (a damaged bag, no
matching ground truth), 2 a user mistake (missing file or topic, bad flag value), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attanet_model.cli_args import (
    DeprecatedAlias,
    add_input_scale,
    add_json,
    add_model,
    add_no_progress,
    add_out,
    command_parser,
    show_progress,
)
from attanet_model.engine_options import add_engine_arguments

from .make import COMPRESSIONS, ENCODINGS, camera_info_topic, image_topic, label_topic
from .storage import STORAGES, BagError

DEFAULT_PREFIX = "/camera"
DEFAULT_IMAGE_TOPIC = image_topic(DEFAULT_PREFIX)
DEFAULT_LABEL_TOPIC = label_topic(DEFAULT_PREFIX)


def fail(name: str, message: str, code: int = 2) -> int:
    """``attanet NAME: message`` on stderr; returns the exit code."""
    print(f"attanet {name}: {message}", file=sys.stderr)
    return code


def print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2))


def default_image_topic(reader, recorded: bool) -> str | None:
    """/camera/image_raw, else its compressed twin; recorded mode may have no camera topic at all."""
    for topic in (DEFAULT_IMAGE_TOPIC, f"{DEFAULT_IMAGE_TOPIC}/compressed"):
        if topic in reader.topics:
            return topic
    return None if recorded else DEFAULT_IMAGE_TOPIC


def add_model_arguments(p: argparse.ArgumentParser, model_help: str | None = None) -> None:
    """The model that segments the frames: file, backend / device / precision, scale, threads."""
    add_model(p, **({"help": model_help} if model_help else {}))
    add_engine_arguments(p)
    add_input_scale(p)
    p.add_argument("--threads", type=int, help="torch CPU threads")


def add_image_topic(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image-topic",
        help=f"camera topic, Image or CompressedImage (default: {DEFAULT_IMAGE_TOPIC} or its /compressed)",
    )


def segmenter_from_args(args: argparse.Namespace, frame_hw: tuple[int, int] | None = None, **overrides):
    """The model, unless recorded outputs are scored (then only for its class table, if --model is given);
    ``overrides`` as ``attanet_model.segmenter.segmenter_from_args`` takes them. ``frame_hw``: the bag's
    camera frame size, so that ``auto`` decides at the size it will run (``first_frame_hw``)."""
    if getattr(args, "pred_topic", None) and args.model is None:
        return None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from attanet_model import AutoSettings, segmenter

    return segmenter.segmenter_from_args(args, **({"auto": AutoSettings(frame_hw=frame_hw)} | overrides))


def first_frame_hw(reader, topic: str) -> tuple[int, int] | None:
    """(H, W) of the first frame on ``topic`` (Image or CompressedImage), or None when there is none or it cannot
    be read: then ``auto`` decides at its usual size, and the frame is named where it is segmented."""
    from .storage import image_from_bag_msg
    from .storage.messages import IMAGE, deserialize

    messages = reader.messages([topic])
    try:
        first = next(messages, None)
        if first is None:
            return None
        msg = deserialize(first)
        if first.msgtype == IMAGE:  # the header's size, no decoding
            return (int(msg.height), int(msg.width)) if msg.height and msg.width else None
        return tuple(image_from_bag_msg(msg, first.msgtype).shape[:2])
    except Exception:  # a bad first frame is the segmenting pass's to name, with its index and reason
        return None
    finally:
        messages.close()


# ---------------------------------------------------------------- bag-make


def _make_parser() -> argparse.ArgumentParser:
    """Write a dataset split as a rosbag2: camera frames (sensor_msgs/Image), ground-truth labels (mono8 trainIds, same
    stamps) and camera_info. Readable by rosbags and `ros2 bag info`.

    topics: <prefix>/image_raw (or .../image_raw/compressed), <prefix>/gt_labels, <prefix>/camera_info. Example:
    attanet bag-make --data-root data/synth --split val --out val_bag --storage mcap"""
    p = command_parser("bag-make", _make_parser.__doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-root", type=Path, help="dataset folder (Cityscapes layout for cityscapes)")
    source.add_argument(
        "--source",
        type=Path,
        help="instead of a dataset: a video file or a folder of unlabelled images (camera frames and uncalibrated "
        "camera_info, no ground truth; files that cannot be decoded are skipped and named)",
    )
    p.add_argument("--split", help="dataset split (default: val)")
    add_out(p, "bag directory to create (must not exist)", old=())
    p.add_argument(
        "--dataset",
        choices=("cityscapes", "ade20k", "custom"),
        help="dataset layout (default: cityscapes; also the synthetic set from `attanet synth`)",
    )
    p.add_argument("--classes-file", type=Path, help="class table YAML for --dataset custom")
    p.add_argument("--classes", dest="classes_file", type=Path, action=DeprecatedAlias, new="--classes-file")
    p.add_argument("--storage", default="mcap", choices=STORAGES, help="rosbag2 storage plugin (default: mcap)")
    p.add_argument(
        "--rate", type=float, help="frame rate in Hz for the stamps (default: 10, or a --source video's own rate)"
    )
    p.add_argument("--topic-prefix", default=DEFAULT_PREFIX, help=f"topic namespace (default: {DEFAULT_PREFIX})")
    p.add_argument("--frame-id", default="camera", help="header frame_id (default: camera)")
    p.add_argument("--encoding", default="bgr8", choices=ENCODINGS, help="camera image encoding (default: bgr8)")
    p.add_argument(
        "--compress",
        default="none",
        choices=COMPRESSIONS,
        help="write sensor_msgs/CompressedImage on <prefix>/image_raw/compressed instead (default: none)",
    )
    p.add_argument("--limit", type=int, help="only the first N frames of the split (or the --source)")
    p.add_argument(
        "--start-time", type=float, help="stamp of the first frame in seconds since the epoch (default: now)"
    )
    add_json(p)
    add_no_progress(p)
    return p


def bag_make_main(argv: list[str], build_dataset: Callable[..., Any]) -> int:
    """``attanet bag-make``. ``build_dataset(kind, root, split, classes_file=...)`` reads the split: the
    dataset readers are training's, so the top-level dispatcher, which knows both packages, passes
    ``attanet_training.datasets.build_dataset`` in (this package never imports training)."""
    args = _make_parser().parse_args(argv)
    import yaml

    from .make import make_bag

    if args.limit is not None and args.limit < 1:
        return fail("bag-make", f"--limit must be >= 1, got {args.limit}")
    if args.out.exists():
        return fail("bag-make", f"output bag {args.out} exists already; remove it or choose another --out")
    if args.source is not None:
        given = [
            f
            for f, v in (("--split", args.split), ("--dataset", args.dataset), ("--classes-file", args.classes_file))
            if v
        ]
        if given:
            return fail(
                "bag-make", f"{', '.join(given)} describe a dataset; --source plays unlabelled files without one"
            )
        return _make_from_source(args)
    args.split, args.dataset = args.split or "val", args.dataset or "cityscapes"
    try:
        config = _make_config(args, default_rate_hz=10.0)
        dataset = build_dataset(args.dataset, args.data_root, args.split, classes_file=args.classes_file)
    except ValueError as exc:  # DatasetLayoutError, BagError and bad values are all ValueErrors with a sentence
        return fail("bag-make", str(exc))
    except (TypeError, OSError, yaml.YAMLError) as exc:  # a classes file that is not the table it should be
        return fail(
            "bag-make",
            f"cannot read the class table {args.classes_file} ({' '.join(str(exc).split())}); expected 'classes:', "
            "a list of {name, color: [r, g, b], value}",
        )
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    if config.start_ns is not None:
        try:
            config.check_span(len(samples), config.start_ns)
        except ValueError as exc:
            return fail("bag-make", str(exc))
    try:
        summary = make_bag(samples, dataset.read_labels, config, classes=dataset.classes)
    except BagError as exc:
        return fail("bag-make", str(exc))
    except ValueError as exc:
        return fail("bag-make", str(exc), 1)
    if args.json:
        print_json(summary)
    else:
        topics = ", ".join(f"{t} ({n})" for t, n in summary["topics"].items())
        print(
            f"wrote {summary['frames']} frames to {summary['bag']} [{summary['storage']}], "
            f"{summary['duration_s']:.1f} s at {summary['rate_hz']:g} Hz: {topics}"
        )
    return 0


def _make_config(args: argparse.Namespace, default_rate_hz: float):
    """bag-make's flags as its config (ValueError for a bad value)."""
    from .make import MakeConfig

    return MakeConfig(
        out=args.out,
        storage=args.storage,
        rate_hz=default_rate_hz if args.rate is None else args.rate,
        topic_prefix=args.topic_prefix,
        frame_id=args.frame_id,
        encoding=args.encoding,
        compress=args.compress,
        start_ns=round(args.start_time * 1e9) if args.start_time is not None else None,
        progress=show_progress(args),
    )


def _make_from_source(args: argparse.Namespace) -> int:
    """``bag-make --source``: a video file or an unlabelled image folder as camera frames."""
    import itertools

    from attanet_ros.common.file_frames import open_file_frames

    from .make import make_source_bag

    try:
        frames = open_file_frames(args.source)
        config = _make_config(args, default_rate_hz=frames.fps or 10.0)
        summary = make_source_bag(itertools.islice(frames, args.limit) if args.limit else frames, config)
    except ValueError as exc:  # a source that cannot be opened, bad values, BagError, no readable frame
        return fail("bag-make", str(exc))
    if args.json:
        print_json(summary)
    else:
        print(
            f"wrote {summary['frames']} frames from {args.source} to {summary['bag']} [{summary['storage']}] at "
            f"{summary['rate_hz']:g} Hz ({len(summary['skipped'])} skipped, no ground truth)"
        )
    for item in summary["skipped"]:
        print(f"attanet bag-make: skipped {item['name']}: {item['reason']}", file=sys.stderr)
    return 0


__all__ = [
    "DEFAULT_IMAGE_TOPIC",
    "DEFAULT_LABEL_TOPIC",
    "add_image_topic",
    "add_model_arguments",
    "bag_make_main",
    "camera_info_topic",
    "default_image_topic",
    "fail",
    "print_json",
    "segmenter_from_args",
    "first_frame_hw",
]
