"""Turn a ``Frame`` into the RGB picture of one view. Pure numpy/OpenCV, no Qt.

The viewer window, the video recorder, ``--screenshot`` and the headless demo all draw
through ``render_view``, so what a test checks here is what a user sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from attanet_model import IGNORE_INDEX, ClassInfo, labels_to_color, overlay

from .frames import Frame

VIEWS = ("camera", "labels", "overlay", "confidence", "attention")
MARKER_RGB = (255, 255, 255)


@dataclass
class ViewSettings:
    """What the user chose: which view, the overlay's alpha, the classes switched off."""

    view: str = "overlay"
    alpha: float = 0.5
    hidden: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"view {self.view!r} is not one of {', '.join(VIEWS)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"overlay alpha must be in [0, 1], got {self.alpha}")


def hide_classes(labels: np.ndarray, hidden: Iterable[int]) -> np.ndarray:
    """Labels with the hidden classes set to 255 (drawn as unlabeled: black, or the camera in overlays)."""
    hidden = list(hidden)
    if not hidden:
        return labels
    lut = np.arange(256, dtype=np.uint8)
    lut[hidden] = IGNORE_INDEX
    return cv2.LUT(labels, lut)


def render_view(frame: Frame, settings: ViewSettings) -> np.ndarray:
    """HxWx3 uint8 RGB picture of ``frame`` in the chosen view."""
    camera_rgb = np.ascontiguousarray(frame.image_bgr[:, :, ::-1])
    if settings.view == "camera":
        return camera_rgb
    if settings.view == "labels":
        return labels_to_color(hide_classes(frame.labels, settings.hidden), frame.classes)
    if settings.view == "overlay":
        # the node's ~/overlay blend (one uint8 pass): this runs on the UI thread for every frame
        return overlay(camera_rgb, hide_classes(frame.labels, settings.hidden), settings.alpha, frame.classes)
    if settings.view == "confidence":
        if frame.confidence is None:
            return _dimmed(camera_rgb)
        return heatmap(frame.confidence, cv2.COLORMAP_INFERNO)
    return attention_rgb(camera_rgb, frame)


def heatmap(values: np.ndarray, colormap: int = cv2.COLORMAP_INFERNO) -> np.ndarray:
    """A float map in [0, 1] as an RGB false-colour image."""
    scaled = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(scaled, colormap)[:, :, ::-1].copy()


def attention_rgb(camera_rgb: np.ndarray, frame: Frame) -> np.ndarray:
    """SAM's attention as a heat map over a grey camera image, with the queried pixel or column marked.

    Without an attention map yet (nobody clicked), the dimmed camera image invites a click.
    """
    if frame.attention is None:
        return _dimmed(camera_rgb)
    grey = cv2.cvtColor(cv2.cvtColor(camera_rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    heat = heatmap(frame.attention, cv2.COLORMAP_JET)
    out = cv2.addWeighted(grey, 0.4, heat, 0.6, 0.0)
    query = frame.attention_query
    if query is not None:
        h, w = out.shape[:2]
        thickness = max(1, w // 400)
        x = min(max(int(query.x), 0), w - 1)
        if query.y is None:
            cv2.line(out, (x, 0), (x, h - 1), MARKER_RGB, thickness)
        else:
            y = min(max(int(query.y), 0), h - 1)
            radius = max(4, w // 100)
            cv2.circle(out, (x, y), radius, MARKER_RGB, thickness)
            cv2.line(out, (x - 2 * radius, y), (x + 2 * radius, y), MARKER_RGB, thickness)
            cv2.line(out, (x, y - 2 * radius), (x, y + 2 * radius), MARKER_RGB, thickness)
    return out


def class_shares(labels: np.ndarray, classes) -> dict[int, float]:
    """Fraction of the image's pixels carrying each class id (unlabeled pixels count in the total)."""
    counts = np.bincount(labels.ravel(), minlength=256)
    total = max(int(labels.size), 1)
    return {c.id: float(counts[c.id]) / total for c in classes}


def readout_text(frame: Frame, x: int, y: int) -> str:
    """The hover line: position, class name and confidence (and attention) under the cursor."""
    h, w = frame.size
    if not (0 <= x < w and 0 <= y < h):
        return ""
    label = int(frame.labels[y, x])
    names = {c.id: c.name for c in frame.classes}
    name = "unlabeled" if label == IGNORE_INDEX else names.get(label, f"class {label}")
    text = f"x={x} y={y}  {name}"
    if frame.confidence is not None:
        text += f"  confidence {float(frame.confidence[y, x]):.2f}"
    if frame.attention is not None:
        text += f"  attention {float(frame.attention[y, x]):.2f}"
    return text


def class_by_id(classes: Iterable[ClassInfo]) -> dict[int, ClassInfo]:
    return {c.id: c for c in classes}


def _dimmed(camera_rgb: np.ndarray) -> np.ndarray:
    return (camera_rgb // 3).astype(np.uint8)
