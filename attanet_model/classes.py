"""Class tables (names and colours) and label-image colouring.

The Cityscapes table is the 19 evaluation classes in trainId order with the official colours
(cityscapesScripts ``labels.py``); trainId 255 means "unlabeled / ignore".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

IGNORE_INDEX = 255


@dataclass(frozen=True)
class ClassInfo:
    """One output class of a model: its trainId, name and RGB display colour."""

    id: int
    name: str
    color: tuple[int, int, int]

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "color": list(self.color)}

    @staticmethod
    def from_dict(d: dict) -> ClassInfo:
        return ClassInfo(int(d["id"]), str(d["name"]), tuple(int(c) for c in d["color"]))


_CITYSCAPES = [
    ("road", (128, 64, 128)),
    ("sidewalk", (244, 35, 232)),
    ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)),
    ("pole", (153, 153, 153)),
    ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)),
    ("bus", (0, 60, 100)),
    ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
]

CITYSCAPES_CLASSES: tuple[ClassInfo, ...] = tuple(
    ClassInfo(i, name, color) for i, (name, color) in enumerate(_CITYSCAPES)
)


class ClassTableMismatch(ValueError):
    """A model's predictions and a set of ground-truth labels use different class tables."""


def describe_classes(classes: Sequence[ClassInfo], limit: int = 6) -> str:
    """A class table in a few words: 'the 19 Cityscapes classes' or '2 classes: floor, obstacle'."""
    if tuple(classes) == CITYSCAPES_CLASSES:
        return f"the {len(classes)} Cityscapes classes"
    names = [c.name for c in sorted(classes, key=lambda c: c.id)]
    shown = ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
    return f"{len(names)} classes: {shown}"


def check_same_classes(
    predicted: Sequence[ClassInfo],
    truth: Sequence[ClassInfo],
    predicted_from: str = "the model",
    truth_from: str = "the ground truth",
) -> None:
    """Raise ClassTableMismatch unless both tables name the same classes at the same ids.

    Every mIoU computed in this project goes through here first: scoring label id k of one table
    against id k of another (floor as road) gives a confident number that means nothing. Names
    are compared case-insensitively; colours do not matter for scoring.
    """

    if same_classes(predicted, truth):
        return
    raise ClassTableMismatch(
        f"class tables differ: {predicted_from} predicts {describe_classes(predicted)}, but {truth_from} is "
        f"labelled with {describe_classes(truth)}; score a model trained on this label set"
    )


def _class_key(classes: Sequence[ClassInfo]) -> list[tuple[int, str]]:
    return sorted((c.id, c.name.strip().lower()) for c in classes)


def same_classes(a: Sequence[ClassInfo], b: Sequence[ClassInfo]) -> bool:
    """The same names at the same ids (case-insensitive; colours are display only)."""
    return _class_key(a) == _class_key(b)


def describe_difference(a: Sequence[ClassInfo], b: Sequence[ClassInfo]) -> str:
    """'3 classes vs 19; first difference: id 0 'floor' vs 'road'', for one-line errors."""
    names_a, names_b = dict(_class_key(a)), dict(_class_key(b))
    text = f"{len(a)} classes vs {len(b)}"
    for i in sorted(set(names_a) | set(names_b)):
        if names_a.get(i) != names_b.get(i):
            return f"{text}; first difference: id {i} {names_a.get(i, '(none)')!r} vs {names_b.get(i, '(none)')!r}"
    return text


def class_info_json(classes: Sequence[ClassInfo], **extra) -> str:
    """A class table as the node's ``~/class_info`` JSON: ``{"classes": [{id, name, color}], "ignore_index"}``."""
    return json.dumps({"classes": [c.to_dict() for c in classes], "ignore_index": IGNORE_INDEX, **extra})


def parse_class_info(text: str) -> tuple[ClassInfo, ...]:
    """The class table of a ``class_info`` JSON string; ValueError in words when it is not one."""
    try:
        classes = tuple(ClassInfo.from_dict(c) for c in json.loads(text)["classes"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"class_info is not a class table JSON ({exc!r}): {text[:80]!r}") from exc
    if not classes:
        raise ValueError("class_info lists no classes")
    return classes


def generic_classes(num_classes: int) -> tuple[ClassInfo, ...]:
    """Names ``class_0..`` and well-spread colours for a model trained without a class table."""
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, size=(num_classes, 3))
    return tuple(ClassInfo(i, f"class_{i}", tuple(int(c) for c in colors[i])) for i in range(num_classes))


def palette(classes: tuple[ClassInfo, ...] | list[ClassInfo]) -> np.ndarray:
    """A 256x3 uint8 RGB lookup table: class colours at their ids, black elsewhere (255 included)."""
    lut = np.zeros((256, 3), np.uint8)
    for c in classes:
        lut[c.id] = c.color
    return lut


def labels_to_color(
    labels: np.ndarray, classes=CITYSCAPES_CLASSES, lut: np.ndarray | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """HxW uint8 trainIds -> HxWx3 uint8 RGB image in the classes' colours (255 -> black).

    ``lut``: the 256x3 ``palette`` (the caller's, built once, instead of per frame). 2-D labels take one
    256-entry OpenCV lookup per channel and one interleave (``cv2.LUT`` x3 + ``cv2.merge``: ~4x faster than a
    row gather, which is ~20x faster than ``lut[labels]``); other shapes gather rows with ``np.take``.
    ``out``: an HxWx3 uint8 array to write into (2-D labels), else a new one.
    """
    if labels.dtype != np.uint8:
        raise ValueError(f"labels must be uint8 trainIds, got dtype {labels.dtype}")
    table = palette(classes) if lut is None else lut
    if labels.ndim != 2 or labels.size == 0:
        return np.take(table, labels, axis=0)
    labels = np.ascontiguousarray(labels)
    channels = [cv2.LUT(labels, np.ascontiguousarray(table[:, c])) for c in range(3)]
    return cv2.merge(channels, dst=out)


def overlay(
    image_rgb: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.5,
    classes=CITYSCAPES_CLASSES,
    color: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend the colour labels over an RGB image; unlabeled pixels (255) keep the image.

    ``(1 - alpha) * image + alpha * colour``, rounded, in one uint8 pass (``cv2.addWeighted``: no
    float32 copy of the frame); within one grey level of the float blend (ties round to even).
    ``color``: ``labels_to_color(labels)`` when the caller has it already, so it is not computed twice.
    ``out``: an array of the image's shape to write the blend into (not ``image_rgb`` itself), else a new one.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must be in [0, 1], got {alpha}")
    if color is None:
        color = labels_to_color(labels, classes)
    out = cv2.addWeighted(image_rgb, 1.0 - alpha, color, alpha, 0.0, dst=out)
    unlabeled = labels == IGNORE_INDEX
    if unlabeled.any():
        np.copyto(out, image_rgb, where=unlabeled[..., None])
    return out
