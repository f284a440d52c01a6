"""``attanet bag-eval`` and ``attanet bag-segment``: the commands that run the model over a bag
(argument parsing and output only; the work is in bag_eval and bag_segment)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from attanet_model.cli_args import add_json, add_no_progress, command_parser, show_progress
from attanet_ros.common.malloc_tuning import tune_for_frames

from .cli import (
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_LABEL_TOPIC,
    add_image_topic,
    add_model_arguments,
    default_image_topic,
    fail,
    first_frame_hw,
    print_json,
    segmenter_from_args,
)
from .storage import IMAGE_TYPES, BagError, BagReader

# ---------------------------------------------------------------- bag-eval


def _eval_parser() -> argparse.ArgumentParser:
    """mIoU, per-class IoU and latency over a rosbag2: every camera frame through the model (or, with --pred-topic, the
    labels the live node recorded), ground truth paired by header stamp.

    exit status: 0 scored, 1 partial (damaged bag) or nothing scored, 2 usage error. Example: attanet bag-eval
    val_bag --json --plots plots/"""
    p = command_parser("bag-eval", _eval_parser.__doc__)
    p.add_argument("bag", type=Path, help="rosbag2 directory, or a single .mcap/.db3 file")
    add_image_topic(p)
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
        help="with --pred-topic: the node's class table recorded with the labels, its class_info (std_msgs/String "
        "JSON) or label_info (vision_msgs/LabelInfo) (default: ~/class_info beside --pred-topic, e.g. "
        "/attanet/class_info, else ~/label_info)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="pair frames with the nearest ground truth within this many seconds (default: 0, exact stamps)",
    )
    add_model_arguments(
        p,
        "model file: a checkpoint (.pt) or .onnx (default: the bundled model); with --pred-topic only its class "
        "table is used, checked against the recorded one",
    )
    p.add_argument(
        "--out-bag",
        type=Path,
        help="write camera frames + predicted labels / colour / overlay (input stamps, same storage) to this new "
        "bag (parent folders are created)",
    )
    p.add_argument("--out-prefix", default="/attanet", help="topic namespace in --out-bag (default: /attanet)")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write iou_per_class.png and latency_hist.png here")
    add_json(p)
    add_no_progress(p)
    return p


def _open_bag(command: str, bag: Path, out: Path | None, out_name: str) -> BagReader | int:
    """The input ``bag`` opened, once the bag ``out`` the command would write is known not to exist yet; else the
    exit code (2) of a one-line error."""
    if out is not None and out.exists():
        return fail(command, f"{out_name} {out} exists already; remove it or choose another path")
    try:
        return BagReader(bag)
    except BagError as exc:
        return fail(command, str(exc))


def bag_eval_main(argv: list[str]) -> int:
    """``attanet bag-eval``."""
    args = _eval_parser().parse_args(argv)
    tune_for_frames()  # every frame's decoded image and outputs: reused heap blocks, not fresh pages
    from attanet_model import ClassTableMismatch

    from .evaluate import EvalConfig, evaluate_bag

    if args.tolerance < 0:
        return fail("bag-eval", f"--tolerance must be >= 0 seconds, got {args.tolerance}")
    if args.class_info_topic and not args.pred_topic:
        return fail("bag-eval", "--class-info-topic names the class table of recorded labels; it needs --pred-topic")
    if args.pred_topic and args.out_bag:
        return fail("bag-eval", "--out-bag writes the model's predictions; it cannot be combined with --pred-topic")
    reader = _open_bag("bag-eval", args.bag, args.out_bag, "--out-bag")
    if isinstance(reader, int):
        return reader
    with reader:
        image = args.image_topic or default_image_topic(reader, bool(args.pred_topic))
        config = EvalConfig(
            label_topic=args.label_topic,
            image_topic=image,
            pred_topic=args.pred_topic,
            tolerance_ns=round(args.tolerance * 1e9),
            out_bag=args.out_bag,
            out_prefix=args.out_prefix,
            progress=show_progress(args),
        )
        try:  # topics first: a typo should not wait for the model to load
            reader.require_topic(
                args.pred_topic or image, IMAGE_TYPES, "--pred-topic" if args.pred_topic else "--image-topic"
            )
            if args.label_topic not in reader.topics and not args.pred_topic:
                raise BagError(
                    f"the bag has no ground truth on {args.label_topic} (--label-topic), so there is nothing to score; "
                    f"to segment a drive without ground truth run: attanet bag-segment {args.bag} OUT. Its topics:\n"
                    f"{reader.describe_topics()}"
                )
            reader.require_topic(args.label_topic, IMAGE_TYPES, "--label-topic")
            segmenter = segmenter_from_args(args, None if args.pred_topic else first_frame_hw(reader, image))
            classes, classes_from, class_warning = (
                _recorded_classes(reader, args, segmenter)
                if args.pred_topic
                else (segmenter.classes, f"--model {segmenter.model_path}", None)
            )
        except ValueError as exc:  # BagError, CheckpointError and bad choices are ValueErrors with a sentence
            return fail("bag-eval", str(exc))
        segment = (lambda img: segmenter.segment(img).labels) if segmenter and not args.pred_topic else None
        if args.out_bag is not None:  # created only once the bag, its topics and the model are known good
            args.out_bag.parent.mkdir(parents=True, exist_ok=True)
        try:
            report = evaluate_bag(reader, config, classes, segment)
        except (BagError, ClassTableMismatch) as exc:
            return fail("bag-eval", str(exc))
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
            from .plots import write_plots

            summary["plots"] = [str(p) for p in write_plots(summary, classes, args.plots, report.latencies_ms)]
        except (RuntimeError, OSError) as exc:
            summary["warnings"].append(f"plots not written: {exc}")
    if args.json:
        print_json(summary)
    else:
        print(_eval_text(summary))
    for warning in summary["warnings"]:
        print(f"attanet bag-eval: warning: {warning}", file=sys.stderr)
    for error in summary["errors"]:
        print(f"attanet bag-eval: error: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def _recorded_classes(reader, args: argparse.Namespace, segmenter) -> tuple[tuple, str, str | None]:
    """(classes, where they came from, warning or None) for scoring recorded labels.

    The node's class_info recorded beside the labels names the classes the labels were
    produced with; --model and a class table recorded beside the ground truth must agree with
    it (and with each other). Raises BagError, one line, on a disagreement.
    """
    from attanet_model import CITYSCAPES_CLASSES
    from attanet_model.classes import describe_difference, same_classes

    from .storage import CLASS_TABLE_TYPES, class_info_topic, label_info_topic

    sources = []  # (description, classes), most authoritative first
    if args.class_info_topic:
        info_topic = args.class_info_topic
        reader.require_topic(info_topic, CLASS_TABLE_TYPES, "--class-info-topic")
        found = (info_topic, reader.class_table(info_topic))
    else:  # ~/class_info (JSON) beside the labels, else ~/label_info (vision_msgs/LabelInfo)
        info_topic = f"{class_info_topic(args.pred_topic)} or {label_info_topic(args.pred_topic)}"
        found = reader.class_table_beside(args.pred_topic)
    if found is not None:
        sources.append((f"the recorded {found[0]}", found[1]))
    if segmenter is not None:
        sources.append((f"--model {segmenter.model_path}", segmenter.classes))
    truth = reader.class_table_beside(args.label_topic)
    if truth is not None and (found is None or truth[0] != found[0]):
        sources.append((f"the ground truth's {truth[0]}", truth[1]))
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
        f"are assumed; record the node's ~/class_info or ~/label_info with its labels (or pass --model)"
    )
    return CITYSCAPES_CLASSES, "default (Cityscapes)", warning


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


# ---------------------------------------------------------------- bag-segment


def _segment_parser() -> argparse.ArgumentParser:
    """Segment a drive recorded without ground truth: every camera frame through the model, the labels (mono8), colour
    (rgb8) and confidence (mono8) written to a new bag with the camera's stamps and frame_id, beside the camera
    frames. Reports latency; claims no mIoU.

    exit status: 0 segmented (frames that failed are named on stderr), 1 the bag is damaged (the frames before the
    damage are written) or no frame could be segmented, 2 usage error. Example: attanet bag-segment drive_bag
    drive_segmented --model model.onnx"""
    p = command_parser("bag-segment", _segment_parser.__doc__)
    p.add_argument("bag", type=Path, help="rosbag2 directory, or a single .mcap/.db3 file")
    p.add_argument("out", type=Path, help="bag directory to create (must not exist; same storage as the input)")
    add_image_topic(p)
    add_model_arguments(p)
    p.add_argument("--out-prefix", default="/attanet", help="topic namespace of the outputs (default: /attanet)")
    p.add_argument("--overlay", action="store_true", help="also write <prefix>/overlay (rgb8)")
    add_json(p)
    add_no_progress(p)
    return p


def bag_segment_main(argv: list[str]) -> int:
    """``attanet bag-segment``."""
    args = _segment_parser().parse_args(argv)
    tune_for_frames()  # 30 frames of 1024x2048 with overlay: 7.9 -> 6.3 s wall (docs/SPEED.md)
    from attanet_model import ClassTableMismatch

    from .segment import SegmentConfig, segment_bag

    reader = _open_bag("bag-segment", args.bag, args.out, "output bag")
    if isinstance(reader, int):
        return reader
    with reader:
        image = args.image_topic or default_image_topic(reader, False)
        try:
            config = SegmentConfig(
                out=args.out,
                image_topic=image,
                camera_info_topic=image.removesuffix("/compressed").rsplit("/", 1)[0] + "/camera_info",
                out_prefix=args.out_prefix,
                overlay=args.overlay,
                progress=show_progress(args),
            )
            reader.require_topic(image, IMAGE_TYPES, "--image-topic")
            # every frame's confidence is written: labels and confidence in one pass of the CPU label head
            segmenter = segmenter_from_args(args, first_frame_hw(reader, image), confidence_every_frame=True)
        except (ValueError, OSError, ClassTableMismatch) as exc:  # bad flags, missing topic, model file problems
            return fail("bag-segment", str(exc))

        def segment(image_bgr):
            result = segmenter.segment(image_bgr)
            return result.labels, result.confidence

        try:
            report = segment_bag(reader, config, segment, segmenter.classes)
        except BagError as exc:
            return fail("bag-segment", str(exc))
    report.model, report.provider = str(segmenter.model_path), segmenter.provider
    summary = report.to_dict()
    if args.json:
        print_json(summary)
    else:
        lat = summary["latency_ms"]
        timing = f"; latency ms p50 {lat['p50']:.1f} p95 {lat['p95']:.1f} max {lat['max']:.1f}" if lat else ""
        print(
            f"segmented {report.segmented} of {report.frames} frames on {report.image_topic} from {report.bag} into "
            f"{report.out} [{report.storage}] (undecodable {report.undecodable}, model failed "
            f"{report.model_failed}){timing}; no ground truth, so no mIoU"
        )
    for warning in summary["warnings"]:
        print(f"attanet bag-segment: warning: {warning}", file=sys.stderr)
    for error in summary["errors"]:
        print(f"attanet bag-segment: error: {error}", file=sys.stderr)
    return 0 if report.ok else 1


__all__ = ["bag_eval_main", "bag_segment_main"]
