"""Segmenting a drive recorded without ground truth: every camera frame through the model, the
labels, colour and confidence written to a new bag with the camera's stamps.

What the live node would have published for each frame, but with no frame dropped: ``<prefix>/labels``
(mono8 trainIds), ``<prefix>/color`` (rgb8), ``<prefix>/confidence`` (mono8, max softmax x 255) and,
on request, ``<prefix>/overlay``, each with the camera frame's header (stamp and frame_id) and log
time; the camera frames themselves (and camera_info, when the bag has it) are copied unchanged, and
the model's class table goes on ``<prefix>/class_info`` (the node's JSON), so the new bag reads like a
recording of the node (the viewer, ``bag-play``). Latency is the
model's wall time per frame; no mIoU is claimed, as there is nothing to score against.

One frame that cannot be decoded or that the model rejects is skipped and named; the rest are
still segmented. The output is written whole or not at all (``staged_bag``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attanet_model import ClassInfo, labels_to_color, overlay
from attanet_ros.common.frame_pipeline import to_mono8

from .report import Problems, latency_summary, skipped_frame, stamp_text
from .storage import (
    CAMERA_INFO,
    IMAGE_TYPES,
    BagMessage,
    BagReader,
    BagWriter,
    class_table_msg,
    deserialize,
    header_stamp_ns,
    image_from_bag_msg,
    image_msg,
    staged_bag,
)


@dataclass
class SegmentConfig:
    """What to segment and where to write it."""

    out: Path
    image_topic: str
    camera_info_topic: str | None = None  # copied when the bag has it
    out_prefix: str = "/attanet"
    overlay: bool = False
    overlay_alpha: float = 0.5
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.out_prefix.startswith("/"):
            raise ValueError(f"output topic prefix must be absolute (start with '/'), got {self.out_prefix!r}")


@dataclass
class SegmentReport:
    """Counts, latency and problems of one segmented bag; ``to_dict()`` is the JSON summary."""

    bag: str
    out: str
    storage: str
    image_topic: str
    frames: int = 0  # camera messages read
    segmented: int = 0
    undecodable: int = 0
    model_failed: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    topics: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    partial: bool = False
    model: str | None = None
    provider: str | None = None

    @property
    def ok(self) -> bool:
        """True when the whole bag was read and at least one frame segmented."""
        return not self.errors and not self.partial and self.segmented > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "bag": self.bag,
            "out_bag": self.out,
            "storage": self.storage,
            "image_topic": self.image_topic,
            "model": self.model,
            "provider": self.provider,
            "frames": self.frames,
            "segmented": self.segmented,
            "undecodable": self.undecodable,
            "model_failed": self.model_failed,
            "skipped": self.skipped,
            "latency_ms": latency_summary(self.latencies_ms, "model (Segmenter.segment wall time)"),
            "topics": self.topics,
            "miou": None,  # no ground truth: nothing is scored
            "partial": self.partial,
            "warnings": self.warnings,
            "errors": self.errors,
        }


class PredictionWriter:
    """Writes one camera frame's predictions (labels, colour, optional confidence and overlay) with
    the frame's header and log time (the caller copies the frame itself)."""

    def __init__(self, writer: BagWriter, prefix: str, classes: tuple[ClassInfo, ...], alpha: float) -> None:
        self.writer, self.prefix, self.classes, self.alpha = writer, prefix.rstrip("/"), classes, alpha

    def write(
        self,
        msg: BagMessage,
        data: Any,
        image_bgr: np.ndarray,
        labels: np.ndarray,
        confidence: np.ndarray | None = None,
        with_overlay: bool = True,
    ) -> None:
        stamp, frame_id, t = header_stamp_ns(msg.raw), data.header.frame_id, msg.log_time
        self.writer.write(f"{self.prefix}/labels", t, image_msg(labels, "mono8", stamp, frame_id))
        color = labels_to_color(labels, self.classes)
        self.writer.write(f"{self.prefix}/color", t, image_msg(color, "rgb8", stamp, frame_id))
        if confidence is not None:
            self.writer.write(f"{self.prefix}/confidence", t, image_msg(to_mono8(confidence), "mono8", stamp, frame_id))
        if with_overlay:
            blended = overlay(np.ascontiguousarray(image_bgr[:, :, ::-1]), labels, self.alpha, self.classes)
            self.writer.write(f"{self.prefix}/overlay", t, image_msg(blended, "rgb8", stamp, frame_id))


def segment_bag(
    reader: BagReader,
    config: SegmentConfig,
    segment: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    classes: tuple[ClassInfo, ...],
) -> SegmentReport:
    """Segment every frame on ``config.image_topic`` of ``reader`` into the new bag ``config.out``.

    Args:
        reader: the open input bag.
        config: topics and the output bag.
        segment: BGR image -> (HxW uint8 labels, HxW float32 confidence in [0, 1]).
        classes: the model's class table (colours, and ``<prefix>/class_info``).

    Raises:
        BagError: the camera topic is missing or of another type, or the output cannot be written
            (it exists, the disk is full): then nothing is written.
    """
    reader.require_topic(config.image_topic, IMAGE_TYPES, "--image-topic")
    info_topic = config.camera_info_topic if config.camera_info_topic in reader.topics else None
    if info_topic is not None:
        reader.require_topic(info_topic, (CAMERA_INFO,), "--camera-info-topic")
    report = SegmentReport(str(reader.path), str(config.out), reader.storage, config.image_topic)
    problems = Problems()
    from tqdm import tqdm

    progress = tqdm(
        total=reader.topics[config.image_topic].count, unit="frame", desc="bag-segment", disable=not config.progress
    )
    topics = [config.image_topic] + ([info_topic] if info_topic else [])
    try:
        with staged_bag(config.out, reader.storage, origin="attanet bag-segment") as writer:
            predictions = PredictionWriter(writer, config.out_prefix, classes, config.overlay_alpha)
            for msg in reader.messages(topics):
                if msg.topic == info_topic:
                    writer.write_raw(msg.topic, msg.log_time, msg.raw, msg.msgtype)
                    continue
                if report.frames == 0:  # latched beside the labels, at the first frame's log time
                    writer.write(f"{predictions.prefix}/class_info", msg.log_time, class_table_msg(classes))
                progress.update(1)
                writer.write_raw(msg.topic, msg.log_time, msg.raw, msg.msgtype)  # every frame, as recorded
                _frame(report, msg, segment, predictions, config.overlay, problems)
            report.topics = dict(writer.counts)
    finally:
        progress.close()
    report.warnings = reader.warnings + problems.messages()
    if reader.damage:
        report.partial = True
        report.errors.append(f"{reader.damage}; {config.out} holds the {report.frames} frames read before it")
    elif reader.unfinished:
        report.warnings.append(
            f"the recording of bag {reader.path} did not end normally ({reader.unfinished})"
            + (f"; {reader.cut_tail}" if reader.cut_tail else "")
            + "; its last frames may be missing"
        )
    if report.segmented == 0:
        report.errors.append(f"no frame could be segmented ({report.frames} frames read on {config.image_topic})")
    return report


def _frame(report: SegmentReport, msg: BagMessage, segment, predictions: PredictionWriter, with_overlay, problems):
    """Segment one camera message; a frame that fails is counted and named, never fatal."""
    index = report.frames
    report.frames += 1
    stamp = None
    try:
        stamp = header_stamp_ns(msg.raw)
        data = deserialize(msg)
        image = image_from_bag_msg(data, msg.msgtype)
    except Exception as exc:  # ImageDecodeError says what; a corrupt CDR blob raises assorted errors
        report.undecodable += 1
        _skip(report, problems, msg, index, stamp, f"undecodable: {exc}", "could not be decoded")
        return
    t0 = time.perf_counter()
    try:
        labels, confidence = segment(image)
    except Exception as exc:  # one frame the model cannot take must not lose the others
        report.model_failed += 1
        _skip(report, problems, msg, index, stamp, f"model: {exc}", "were rejected by the model")
        return
    report.latencies_ms.append((time.perf_counter() - t0) * 1e3)
    predictions.write(msg, data, image, labels, confidence, with_overlay)
    report.segmented += 1


def _skip(report, problems: Problems, msg: BagMessage, index: int, stamp: int | None, reason: str, what: str) -> None:
    where = stamp_text(stamp) if stamp is not None else f"log time {msg.log_time / 1e9:.3f}"
    problems.add(f"frames on {msg.topic} {what} and were not segmented", f"#{index} at {where}: {reason}")
    skipped_frame(report, msg.topic, index, stamp, reason)


__all__ = ["PredictionWriter", "SegmentConfig", "SegmentReport", "segment_bag"]
