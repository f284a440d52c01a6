"""mIoU, per-class IoU and latency of a segmentation model over a rosbag2.

Two modes share one scoring loop:

- model: every camera frame goes through ``attanet_model.Segmenter`` (no drops, unlike the
  live node), predictions are scored against ground-truth label images paired by header stamp;
  optionally the predictions are written to a new bag for playback.
- recorded (``pred_topic``): the label images the live node published during the recording are
  scored instead, and camera frames the node never answered are reported as dropped. That is
  what the robot actually saw. The class names come from the node's ``~/class_info`` recorded
  beside the labels (``class_table``). Labels the node published at the network's resolution
  (``output_resolution: network``, smaller than the camera) are scored against the ground truth
  resized to them with nearest neighbour, which keeps label values, and the result says so.

The report (``EvalReport``, with the JSON it prints) lives in ``bag_report``.

Scores come from ``attanet_model.metrics.ConfusionMatrix``, the same accumulator as
``attanet eval``, so a bag made from a dataset split scores exactly like the split.

The bag is read twice: once for header stamps only (cheap, from the CDR bytes), to pair frames
with ground truth before any pixels are decoded; then for pixels, holding a ground-truth image
only until every frame paired with it has been scored, so memory stays small on long bags.

Nothing is scored against the wrong thing: the class table the bag records for its ground truth
(``class_info`` beside the labels, written by ``attanet bag-make``) must be the model's, and ground
truth without a single id of that table is an error, not an empty score. One bad frame (cannot be
decoded, rejected by the model, ground truth of another size) is skipped and named in
``skipped``; the run fails only when nothing could be scored.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from attanet_model import IGNORE_INDEX, ClassInfo, check_same_classes
from attanet_model.classes import describe_classes

from .match import SameStampFrames, StampVerdict, describe_span, duplicates, match_stamps
from .report import MAX_EXAMPLES, EvalConfig, EvalReport, Problems, skip, skipped_frame, stamp_text
from .segment import PredictionWriter
from .storage import (
    IMAGE_TYPES,
    BagMessage,
    BagReader,
    BagWriter,
    class_info_topic,
    deserialize,
    header_stamp_ns,
    image_from_bag_msg,
    label_info_topic,
    labels_from_bag_msg,
    staged_bag,
)


def _scan_stamps(reader: BagReader, topics: list[str]) -> tuple[dict[str, list[tuple[int, int]]], list[str]]:
    """(header stamp, log time) of every message on ``topics``; messages without a parsable header are skipped."""
    stamps: dict[str, list[tuple[int, int]]] = {t: [] for t in topics}
    bad: list[str] = []
    for msg in reader.messages(topics):
        try:
            stamps[msg.topic].append((header_stamp_ns(msg.raw), msg.log_time))
        except Exception as exc:  # a corrupt message: counted when the second pass reaches it
            bad.append(f"{msg.topic} at log time {msg.log_time / 1e9:.3f}: {exc}")
    return stamps, bad


def evaluate_bag(
    reader: BagReader,
    config: EvalConfig,
    classes: tuple[ClassInfo, ...],
    segment: Callable[[np.ndarray], np.ndarray] | None = None,
    confusion: Any = None,
) -> EvalReport:
    """Score ``reader``'s frames against its ground truth.

    Args:
        reader: the open bag.
        config: topics, tolerance, output bag.
        classes: the label set (names for per-class IoU, colours for the output bag).
        segment: BGR image -> HxW uint8 labels; None selects recorded mode (``config.pred_topic``).
        confusion: a fresh ``ConfusionMatrix``; default one for ``classes``.
    """
    mode = "model" if segment is not None else "recorded"
    report = EvalReport(str(reader.path), reader.storage, mode, config)
    if confusion is None:
        from attanet_model.metrics import ConfusionMatrix

        confusion = ConfusionMatrix(len(classes), ignore_index=IGNORE_INDEX)

    frame_topic = config.image_topic if mode == "model" else config.pred_topic
    if frame_topic is None:
        raise ValueError("evaluate_bag needs config.image_topic (model mode) or config.pred_topic (recorded mode)")
    reader.require_topic(frame_topic, IMAGE_TYPES, "--image-topic" if mode == "model" else "--pred-topic")
    reader.require_topic(config.label_topic, IMAGE_TYPES, "--label-topic")
    camera_topic = config.image_topic if mode == "recorded" else None
    if camera_topic is not None:
        reader.require_topic(camera_topic, IMAGE_TYPES, "--image-topic")
    _check_class_table(report, reader, classes)

    # Pass 1: stamps only. Pair frames with ground truth (and, recorded, camera frames with outputs).
    scan_topics = [frame_topic, config.label_topic] + ([camera_topic] if camera_topic else [])
    stamps, bad_headers = _scan_stamps(reader, scan_topics)
    report.warnings += [f"message without a readable header stamp: {b}" for b in bad_headers[:MAX_EXAMPLES]]
    frame_stamps = [s for s, _ in stamps[frame_topic]]
    gt_stamps = [s for s, _ in stamps[config.label_topic]]
    if dup := duplicates(gt_stamps):
        report.warnings.append(
            f"{len(dup)} ground-truth stamps occur more than once on {config.label_topic} "
            f"(e.g. {stamp_text(dup[0])}); the first message with each stamp is used"
        )
    pairing = dict(zip(frame_stamps, match_stamps(frame_stamps, gt_stamps, config.tolerance_ns), strict=True))
    uses: dict[int, int] = defaultdict(int)  # ground-truth stamp -> frames still to score against it
    for s in frame_stamps:
        if pairing[s] is not None:
            uses[pairing[s]] += 1
    if camera_topic is not None:
        _count_dropped(report, stamps[camera_topic], stamps[frame_topic], config.tolerance_ns)

    # Pass 2: pixels.
    problems = Problems()
    scorer = _Scorer(report, confusion, pairing, uses, problems)
    same_stamp = SameStampFrames(frame_stamps)
    progress = _progress(config.progress, reader.topics[frame_topic].count, frame_topic)
    with contextlib.ExitStack() as outputs:
        outputs.callback(progress.close)
        writer = None
        if config.out_bag is not None and mode == "model":  # written whole or not at all
            bag = outputs.enter_context(staged_bag(config.out_bag, reader.storage, "attanet bag-eval --out-bag"))
            writer = _OutputBag(bag, config, classes)
        for msg in reader.messages([frame_topic, config.label_topic]):
            if msg.topic != frame_topic:
                scorer.ground_truth(msg)
                continue
            progress.update(1)
            prediction = _frame(report, msg, segment, writer, problems)
            if prediction is None:
                continue
            stamp, labels, index, content = prediction
            if not same_stamp.shares(stamp):
                scorer.frame(stamp, labels, index)
            elif verdict := same_stamp.add(stamp, (content.shape, zlib.crc32(content)), (stamp, labels, index)):
                _settle(report, scorer, verdict, problems)
    for verdict in same_stamp.rest():  # stamps some of whose frames could not be read
        _settle(report, scorer, verdict, problems)
    # Frames whose ground truth never arrived (damaged bag, unreadable message).
    report.unmatched += scorer.waiting()

    _finish(report, reader, confusion, classes, frame_stamps, gt_stamps, problems)
    return report


class _Scorer:
    """Pass 2's pairing state: frames waiting for their ground truth, ground truth held until every
    frame paired with it is scored (so a long bag never holds more than it must)."""

    def __init__(self, report: EvalReport, confusion, pairing: dict, uses: dict[int, int], problems) -> None:
        self.report, self.confusion, self.pairing, self.uses, self.problems = report, confusion, pairing, uses, problems
        self.topic = report.config.pred_topic or report.config.image_topic
        self.pending: dict[int, list[tuple[int, np.ndarray, int]]] = defaultdict(list)  # gt stamp -> frames
        self.held: dict[int, np.ndarray] = {}  # gt stamp -> labels, while frames still need it
        self.gt_done: set[int] = set()

    def frame(self, stamp: int, labels: np.ndarray, index: int) -> None:
        """Score a frame's labels against its ground truth now, or when that arrives."""
        gt_stamp = self.pairing.get(stamp)
        if gt_stamp is None or gt_stamp in self.gt_done:  # none within the tolerance, or it was unreadable
            self.report.unmatched += 1
        elif gt_stamp in self.held:
            _score(self.report, self.confusion, labels, self.held[gt_stamp], (self.topic, index, stamp), self.problems)
            _release(gt_stamp, self.uses, self.held)
        else:
            self.pending[gt_stamp].append((stamp, labels, index))

    def drop(self, stamp: int) -> None:
        """A frame that will not be scored: its ground truth is no longer held for it."""
        gt_stamp = self.pairing.get(stamp)
        if gt_stamp is not None and gt_stamp not in self.gt_done:
            _release(gt_stamp, self.uses, self.held)

    def ground_truth(self, msg: BagMessage) -> None:
        _ground_truth(self.report, self.confusion, msg, self.uses, self.pending, self.held, self.gt_done, self.problems)

    def waiting(self) -> int:
        """Frames still waiting for ground truth that never came."""
        return sum(len(v) for v in self.pending.values())


def _settle(report: EvalReport, scorer: _Scorer, verdict: StampVerdict, problems: Problems) -> None:
    """Score the one frame of a shared stamp that may be, and name the others (never both scored)."""
    topic, when = scorer.topic, stamp_text(verdict.stamp)
    if verdict.score is not None:
        scorer.frame(*verdict.score)
    for stamp, _, index in verdict.duplicates:
        report.duplicates += 1
        problems.add(f"frames on {topic} repeat an earlier frame (same stamp, same image) and were scored once", when)
        skipped_frame(report, topic, index, stamp, "duplicate: the same image as an earlier frame of this stamp")
        scorer.drop(stamp)
    unread = f", {verdict.unreadable} of them unreadable" if verdict.unreadable else ""
    for stamp, _, index in verdict.ambiguous:
        report.ambiguous += 1
        problems.add(
            f"frames on {topic} share their stamp with a different frame and were not scored (the ground truth "
            "paired by stamp cannot tell which image it shows)",
            f"{when} ({verdict.count} frames{unread})",
        )
        skipped_frame(
            report, topic, index, stamp, f"ambiguous: {verdict.count} different frames have this stamp{unread}"
        )
        scorer.drop(stamp)


def _check_class_table(report: EvalReport, reader: BagReader, classes: tuple[ClassInfo, ...]) -> None:
    """ClassTableMismatch unless the bag's recorded ground-truth table is ``classes``; a bag without
    one (recorded by other tools) is scored as ``classes``, and the result says so."""
    found = reader.class_table_beside(report.config.label_topic)  # class_info (JSON), else label_info
    if found is None:
        topic = f"{class_info_topic(report.config.label_topic)} or {label_info_topic(report.config.label_topic)}"
        report.class_table = "assumed (the bag records none)"
        report.warnings.append(
            f"the bag does not record what the ids on {report.config.label_topic} mean (no {topic}); they were "
            f"scored as {describe_classes(classes)}: check that this is the label set"
        )
        return
    topic, truth = found
    predicted_from = "the model" if report.mode == "model" else "the predictions' class table"
    check_same_classes(classes, truth, predicted_from, f"the bag's ground truth ({topic})")
    report.class_table = topic


def _count_dropped(report: EvalReport, camera: list[tuple[int, int]], outputs: list[tuple[int, int]], tol: int) -> None:
    """Recorded mode: camera frames with no node output, and output latency from log times."""
    out_stamps = [s for s, _ in outputs]
    answered = match_stamps([s for s, _ in camera], out_stamps, tol)
    if shared := duplicates([s for s, _ in camera]):
        report.warnings.append(
            f"{len(shared)} stamps are shared by several camera frames on {report.config.image_topic} (e.g. "
            f"{stamp_text(shared[0])}): an output with such a stamp counts as the answer to each of them, so "
            "dropped may be too low"
        )
    report.input_frames = len(camera)
    report.dropped = sum(1 for a in answered if a is None)
    output_log: dict[int, int] = {}
    for stamp, log_time in outputs:
        output_log.setdefault(stamp, log_time)
    for (_, camera_log), a in zip(camera, answered, strict=True):
        if a is not None:
            report.latencies_ms.append((output_log[a] - camera_log) / 1e6)


def _progress(enabled: bool, total: int, topic: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=topic, disable=not enabled, leave=False)


def _frame(
    report: EvalReport, msg: BagMessage, segment, writer, problems: Problems
) -> tuple[int, np.ndarray, int, np.ndarray] | None:
    """(stamp, predicted labels, index on the topic, the frame's pixels) of one frame message (in recorded
    mode the pixels are the labels), or None when it cannot be decoded or segmented."""
    report.frames += 1
    index = report.frames - 1
    try:
        data = deserialize(msg)
        stamp = header_stamp_ns(msg.raw)
        if segment is None:
            labels = labels_from_bag_msg(data, msg.msgtype)
            return stamp, labels, index, labels
        image = image_from_bag_msg(data, msg.msgtype)
    except Exception as exc:  # ImageDecodeError says what; a corrupt CDR blob raises assorted errors
        report.undecodable += 1
        problems.add(
            f"frames on {msg.topic} could not be decoded and were not scored",
            f"log time {msg.log_time / 1e9:.3f}: {exc}",
        )
        skip(report, msg, index, f"undecodable: {exc}")
        return None
    t0 = time.perf_counter()
    try:
        labels = segment(image)
    except Exception as exc:  # one frame the model cannot take (a 600x4 image) must not lose the others
        report.model_failed += 1
        problems.add(f"frames on {msg.topic} were rejected by the model and not scored", f"{stamp_text(stamp)}: {exc}")
        skip(report, msg, index, f"model: {exc}", stamp)
        return None
    report.latencies_ms.append((time.perf_counter() - t0) * 1e3)
    if writer is not None:
        writer.write(msg, data, image, labels)
    return stamp, labels, index, image


def _ground_truth(
    report, confusion, msg: BagMessage, uses, pending, held, gt_done: set[int], problems: Problems
) -> None:
    try:
        stamp = header_stamp_ns(msg.raw)
    except ValueError:
        return  # already reported by the stamp scan
    if stamp in gt_done or stamp in held or uses.get(stamp, 0) == 0:
        return  # a duplicate, or no frame needs it
    try:
        gt = labels_from_bag_msg(deserialize(msg), msg.msgtype)
    except Exception as exc:
        report.bad_ground_truth += 1
        problems.add(f"ground-truth messages on {msg.topic} could not be decoded", f"{stamp_text(stamp)}: {exc}")
        skip(report, msg, None, f"undecodable ground truth: {exc}", stamp)
        gt_done.add(stamp)
        report.unmatched += len(pending.pop(stamp, []))
        return
    held[stamp] = gt
    for frame_stamp, labels, index in pending.pop(stamp, []):
        _score(
            report,
            confusion,
            labels,
            gt,
            (report.config.pred_topic or report.config.image_topic, index, frame_stamp),
            problems,
        )
        _release(stamp, uses, held)
    if stamp not in held:
        gt_done.add(stamp)


def _release(gt_stamp: int, uses: dict[int, int], held: dict[int, np.ndarray]) -> None:
    uses[gt_stamp] -= 1
    if uses[gt_stamp] <= 0:
        held.pop(gt_stamp, None)


def _score(
    report: EvalReport, confusion, labels: np.ndarray, gt: np.ndarray, frame: tuple[str, int, int], problems: Problems
) -> None:
    """Add one (prediction, ground truth) pair; ``frame`` is (topic, index on it, stamp) for the report."""
    topic, index, stamp = frame
    (ph, pw), (gh, gw) = labels.shape, gt.shape
    if labels.shape != gt.shape and report.mode == "recorded" and ph <= gh and pw <= gw:
        # The node published at the network's size (output_resolution: network). Nearest keeps
        # label values (no blending of trainIds); each prediction pixel is scored against the
        # ground-truth pixel it covers, as the node's own nearest upscaling would pair them.
        gt = cv2.resize(gt, (pw, ph), interpolation=cv2.INTER_NEAREST)
        report.gt_resized += 1
        report.gt_resized_to = report.gt_resized_to or (ph, pw)
    elif labels.shape != gt.shape:
        report.size_mismatch += 1
        problems.add(
            "frames have ground truth of another size and were not scored",
            f"{stamp_text(stamp)}: frame {ph}x{pw}, ground truth {gh}x{gw} (HxW)",
        )
        skipped_frame(report, topic, index, stamp, f"ground truth is {gh}x{gw}, the frame {ph}x{pw} (HxW)")
        return
    # The accumulator ignores ids outside the table without a word; count them so the report can.
    histogram = np.bincount(gt.ravel(), minlength=256)
    k = confusion.num_classes
    report.gt_pixels += int(histogram[:k].sum())
    for value in np.nonzero(histogram[k:])[0] + k:
        if value != IGNORE_INDEX:
            report.gt_out_of_range[int(value)] = report.gt_out_of_range.get(int(value), 0) + int(histogram[value])
    confusion.update(labels, gt)
    report.matched += 1


def _finish(report: EvalReport, reader: BagReader, confusion, classes, frame_stamps, gt_stamps, problems) -> None:
    report.warnings = reader.warnings + report.warnings + problems.messages()
    if reader.damage:
        report.partial = True
        report.errors.append(f"{reader.damage}; the scores cover the {report.frames} frames read before it")
    elif reader.unfinished:
        report.partial = True
        cut = f"; {reader.cut_tail}" if reader.cut_tail else ""
        report.errors.append(
            f"the recording of bag {reader.path} did not end normally ({reader.unfinished}){cut}: the messages "
            "written last may be missing on some topics, so frames near its end may count as unmatched or dropped "
            f"that were not; the scores cover the {report.frames} frames read"
        )
    if report.unmatched:
        report.warnings.append(_unmatched_text(report, frame_stamps, gt_stamps))
    if report.matched == 0:
        reason = _unmatched_text(report, frame_stamps, gt_stamps) if report.unmatched else "see the warnings"
        report.errors.append(f"no frame could be scored ({report.frames} frames read): {reason}")
        return
    table = f"the class table (ids 0..{len(classes) - 1}: {describe_classes(classes)}; 255 = ignore)"
    outside = sum(report.gt_out_of_range.values())
    ids = ", ".join(f"{v} ({n} px)" for v, n in sorted(report.gt_out_of_range.items())[:8])
    if report.gt_pixels == 0:
        found = f"only ids outside {table}: {ids}" if outside else "only ignored pixels (255)"
        report.errors.append(
            f"nothing to score: the ground truth of the {report.matched} paired frames on "
            f"{report.config.label_topic} holds {found}; is it the right --label-topic, and are its ids trainIds "
            "of this class table (not e.g. Cityscapes labelIds)?"
        )
        return
    if outside:
        report.warnings.append(
            f"{outside} ground-truth pixels ({100 * outside / (outside + report.gt_pixels):.1f} %) on "
            f"{report.config.label_topic} have ids outside {table}: {ids}; they were not scored"
        )
    report.scores = _scores(confusion, classes)


def _unmatched_text(report: EvalReport, frame_stamps: list[int], gt_stamps: list[int]) -> str:
    """Why frames found no ground truth, with the nearest miss as a hint for --tolerance."""
    tol = report.config.tolerance_ns
    text = (
        f"{report.unmatched} of {report.frames} frames have no ground truth on {report.config.label_topic} "
        f"within {tol / 1e9:g} s and were not scored (frames: {describe_span(frame_stamps)}; "
        f"ground truth: {describe_span(gt_stamps)})"
    )
    nearest = match_stamps(frame_stamps, gt_stamps, 2**62)
    gaps = [abs(n - s) for s, n in zip(frame_stamps, nearest, strict=True) if n is not None and abs(n - s) > tol]
    if gaps:
        text += f"; the nearest unmatched ground truth is {min(gaps) / 1e9:.6f} s away (see --tolerance)"
    return text


def _scores(confusion, classes: tuple[ClassInfo, ...]) -> dict[str, Any]:
    """The same summary ``attanet eval`` prints: {"miou", "iou": {name: value or None}, "pixel_acc"}."""
    return confusion.summary([c.name for c in sorted(classes, key=lambda c: c.id)])


class _OutputBag:
    """Model mode ``--out-bag``: the camera frames plus labels / colour / overlay, with their stamps."""

    def __init__(self, bag: BagWriter, config: EvalConfig, classes: tuple[ClassInfo, ...]) -> None:
        self.bag = bag
        self.predictions = PredictionWriter(bag, config.out_prefix, classes, config.overlay_alpha)

    def write(self, msg: BagMessage, data: Any, image_bgr: np.ndarray, labels: np.ndarray) -> None:
        self.bag.write_raw(msg.topic, msg.log_time, msg.raw, msg.msgtype)
        self.predictions.write(msg, data, image_bgr, labels)


# ---------------------------------------------------------------- class tables in a bag


__all__ = [
    "EvalConfig",
    "EvalReport",
    "evaluate_bag",
]
