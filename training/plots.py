"""Evaluation figures: a per-class IoU bar chart and a row-normalized confusion matrix (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attanet_model.metrics import ConfusionMatrix


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` (its folder made) and free it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def iou_bar_chart(cm: ConfusionMatrix, class_names: Sequence[str], path: str | Path, title: str = "") -> Path:
    plt = _pyplot()
    iou = np.nan_to_num(cm.iou(), nan=0.0) * 100
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(class_names)), 4), dpi=100)
    ax.bar(range(len(iou)), iou, color="#3b6ea5")
    ax.axhline(cm.miou() * 100, color="#c0392b", linestyle="--", label=f"mIoU {cm.miou() * 100:.1f}%")
    ax.set_xticks(range(len(iou)))
    ax.set_xticklabels(class_names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("IoU (%)")
    ax.set_title(title or "per-class IoU")
    ax.legend(loc="lower right")
    return _save(plt, fig, path)


def confusion_matrix_image(cm: ConfusionMatrix, class_names: Sequence[str], path: str | Path) -> Path:
    """Rows are ground truth, normalized to sum to 1 (recall on the diagonal)."""
    plt = _pyplot()
    counts = cm.counts.astype(np.float64)
    norm = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * n + 2), max(5, 0.4 * n + 1)), dpi=100)
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_names, rotation=90, fontsize=7)
    ax.set_yticklabels(class_names, fontsize=7)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(plt, fig, path)
