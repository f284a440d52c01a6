"""Confusion-matrix metrics: per-class IoU, mIoU and pixel accuracy.

IoU_c = TP / (TP + FP + FN) over the whole split (accumulated counts, not a mean of per-image
IoUs), which is how the Cityscapes benchmark and cityscapesscripts compute it. Matrices from
several processes add up, so DDP evaluation all-reduces the counts and then reads the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ConfusionMatrix:
    """``counts[gt, pred]`` pixel counts for ``num_classes`` classes; ``ignore_index`` gt pixels are skipped."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.counts = np.zeros((num_classes, num_classes), np.int64)
        self.missed = np.zeros(num_classes, np.int64)
        """Per-class gt pixels predicted as a label outside 0..K-1 (e.g. 255): false negatives only."""

    def update(self, pred: np.ndarray, gt: np.ndarray) -> ConfusionMatrix:
        """Add one prediction/ground-truth pair (same shape, integer class ids)."""
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} does not match ground truth shape {gt.shape}")
        gt = gt.astype(np.int64).ravel()
        pred = pred.astype(np.int64).ravel()
        valid = (gt != self.ignore_index) & (gt >= 0) & (gt < self.num_classes)
        gt, pred = gt[valid], pred[valid]
        # predictions outside 0..K-1 (e.g. 255) count as wrong for their gt class: FN, no FP
        bad = (pred < 0) | (pred >= self.num_classes)
        if bad.any():
            self.missed += np.bincount(gt[bad], minlength=self.num_classes)
            gt, pred = gt[~bad], pred[~bad]
        self.counts += np.bincount(gt * self.num_classes + pred, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )
        return self

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts into this one (in place); returns self."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one")
        self.counts += other.counts
        self.missed += other.missed
        return self

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        out = ConfusionMatrix(self.num_classes, self.ignore_index)
        return out.merge(self).merge(other)

    def iou(self) -> np.ndarray:
        """Per-class IoU in [0, 1]; nan for a class absent from both ground truth and prediction."""
        tp = np.diag(self.counts).astype(np.float64)
        gt_total = self.counts.sum(1) + self.missed
        denom = gt_total + self.counts.sum(0) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU over the classes that occur (nan classes left out), as a fraction."""
        iou = self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def pixel_acc(self) -> float:
        total = self.counts.sum() + self.missed.sum()
        return float(np.trace(self.counts) / total) if total else float("nan")

    def summary(self, class_names: Sequence[str]) -> dict:
        """{"miou", "iou": {name: value or None}, "pixel_acc"}; fractions in [0, 1], None for nan."""
        if len(class_names) != self.num_classes:
            raise ValueError(f"{len(class_names)} class names for a {self.num_classes}-class matrix")
        iou = self.iou()
        return {
            "miou": _finite(self.miou()),
            "iou": {name: _finite(v) for name, v in zip(class_names, iou, strict=True)},
            "pixel_acc": _finite(self.pixel_acc()),
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
