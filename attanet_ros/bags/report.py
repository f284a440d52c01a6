"""What ``attanet bag-eval`` reports: its configuration, counts, scores and problems (``EvalReport``),
and the helpers that name a message that was not scored.

``bag_eval`` fills a report; ``to_dict()`` is the JSON the command prints.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .storage import BagMessage, header_stamp_ns

MAX_EXAMPLES = 3  # how many stamps an aggregated warning quotes


@dataclass
class EvalConfig:
    """What to score. ``image_topic`` is required in model mode, optional with ``pred_topic``."""

    label_topic: str
    image_topic: str | None = None
    pred_topic: str | None = None
    tolerance_ns: int = 0
    out_bag: Path | None = None
    out_prefix: str = "/attanet"
    overlay_alpha: float = 0.5
    progress: bool = True


@dataclass
class EvalReport:
    """Counts, scores and problems of one bag evaluation; ``to_dict()`` is the JSON summary."""

    bag: str
    storage: str
    mode: str  # "model" or "recorded"
    config: EvalConfig
    frames: int = 0  # model mode: camera frames run through the model; recorded: node outputs read
    matched: int = 0  # frames scored against ground truth
    unmatched: int = 0  # frames with no ground truth within the tolerance
    size_mismatch: int = 0  # frames whose ground truth has another size (not scored)
    gt_resized: int = 0  # recorded mode: frames scored against ground truth resized to the labels' size
    gt_resized_to: tuple[int, int] | None = None  # (h, w) of those labels (the first, if it varies)
    undecodable: int = 0  # frames that could not be decoded (not scored)
    bad_ground_truth: int = 0  # ground-truth messages that could not be decoded
    model_failed: int = 0  # model mode: frames the model rejected (e.g. a size it cannot take)
    ambiguous: int = 0  # frames sharing their stamp with a different frame (none of them scored)
    duplicates: int = 0  # frames repeating an earlier frame of the same stamp (scored once)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # every frame/label not scored for a problem
    class_table: str | None = None  # where the ground truth's class table came from
    gt_pixels: int = 0  # ground-truth pixels with an id of the class table, in scored frames
    gt_out_of_range: dict[int, int] = field(default_factory=dict)  # other ids (not 255) -> pixel count
    input_frames: int | None = None  # recorded mode: camera frames in the bag
    dropped: int | None = None  # recorded mode: camera frames the node did not answer
    latencies_ms: list[float] = field(default_factory=list)
    scores: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    partial: bool = False  # the bag was damaged: scores cover what was readable
    model: str | None = None
    provider: str | None = None
    classes_from: str | None = None  # where the class names came from (recorded class_info, --model, ...)

    def to_dict(self) -> dict[str, Any]:
        source = (
            "model (Segmenter.segment wall time)"
            if self.mode == "model"
            else "recorded (output log time - input log time)"
        )
        latency = latency_summary(self.latencies_ms, source)
        scores = self.scores or {"miou": None, "iou": None, "pixel_acc": None}
        out: dict[str, Any] = {
            "bag": self.bag,
            "storage": self.storage,
            "mode": self.mode,
            "image_topic": self.config.image_topic,
            "label_topic": self.config.label_topic,
            "pred_topic": self.config.pred_topic,
            "tolerance_s": self.config.tolerance_ns / 1e9,
            "model": self.model,
            "provider": self.provider,
            "classes_from": self.classes_from,
            "miou": scores["miou"],
            "iou": scores["iou"],
            "pixel_acc": scores["pixel_acc"],
            "frames": self.frames,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "size_mismatch": self.size_mismatch,
            "gt_resized": self.gt_resized,
            "gt_resized_to": list(self.gt_resized_to) if self.gt_resized_to else None,
            "undecodable": self.undecodable,
            "bad_ground_truth": self.bad_ground_truth,
            "model_failed": self.model_failed,
            "ambiguous": self.ambiguous,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "class_table": self.class_table,
            "latency_ms": latency,
            "partial": self.partial,
            "warnings": self.warnings,
            "errors": self.errors,
        }
        if self.mode == "recorded":
            out["input_frames"] = self.input_frames
            out["dropped"] = self.dropped
            out["drop_rate"] = (
                self.dropped / self.input_frames if self.input_frames and self.dropped is not None else None
            )
        if self.config.out_bag is not None:
            out["out_bag"] = str(self.config.out_bag)
        return out

    @property
    def ok(self) -> bool:
        """True when every readable frame was accounted for and something was scored."""
        return not self.errors and not self.partial and self.matched > 0


class Problems:
    """Collects per-frame problems of one kind into one warning with a count and a few examples."""

    def __init__(self) -> None:
        self._seen: dict[str, list[str]] = defaultdict(list)
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, what: str, example: str) -> None:
        """Count one problem of kind ``what``; ``example`` names the frame and the reason."""
        self._counts[what] += 1
        if len(self._seen[what]) < MAX_EXAMPLES:
            self._seen[what].append(example)

    def messages(self) -> list[str]:
        return [f"{n} {what}; e.g. {'; '.join(self._seen[what])}" for what, n in self._counts.items()]


def latency_summary(latencies_ms: list[float], source: str) -> dict[str, Any] | None:
    """p50 / p95 / max / mean / count of per-frame latencies in ms, and where they come from; None for none."""
    lat = np.asarray(latencies_ms, np.float64)
    if not lat.size:
        return None
    return {
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "max": float(lat.max()),
        "mean": float(lat.mean()),
        "count": int(lat.size),
        "source": source,
    }


def stamp_text(stamp: int) -> str:
    return f"stamp {stamp / 1e9:.6f}"


def skipped_frame(report: EvalReport, topic: str, index: int | None, stamp: int | None, reason: str) -> None:
    """Name a message that was not scored in ``report.skipped`` (topic, index on it, stamp, reason)."""
    report.skipped.append(
        {"topic": topic, "index": index, "stamp": None if stamp is None else stamp / 1e9, "reason": reason}
    )


def skip(report: EvalReport, msg: BagMessage, index: int | None, reason: str, stamp: int | None = None) -> None:
    """``skipped_frame`` for a bag message (its stamp read from its header unless given)."""
    if stamp is None:
        try:
            stamp = header_stamp_ns(msg.raw)
        except ValueError:
            stamp = None
    skipped_frame(report, msg.topic, index, stamp, reason)


__all__ = [
    "MAX_EXAMPLES",
    "EvalConfig",
    "EvalReport",
    "Problems",
    "latency_summary",
    "skip",
    "skipped_frame",
    "stamp_text",
]
