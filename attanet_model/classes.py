"""Class tables (names and colours) and label-image colouring.

The Cityscapes table is the 19 evaluation classes in trainId order with the official colours
(cityscapesScripts ``labels.py``); trainId 255 means "unlabeled / ignore".
"""

from __future__ import annotations

from dataclasses import dataclass

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


def labels_to_color(labels: np.ndarray, classes=CITYSCAPES_CLASSES) -> np.ndarray:
    """HxW uint8 trainIds -> HxWx3 uint8 RGB image in the classes' colours (255 -> black)."""
    if labels.dtype != np.uint8:
        raise ValueError(f"labels must be uint8 trainIds, got dtype {labels.dtype}")
    return palette(classes)[labels]


def overlay(image_rgb: np.ndarray, labels: np.ndarray, alpha: float = 0.5, classes=CITYSCAPES_CLASSES) -> np.ndarray:
    """Blend the colour labels over an RGB image; unlabeled pixels (255) keep the image."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must be in [0, 1], got {alpha}")
    color = labels_to_color(labels, classes).astype(np.float32)
    out = image_rgb.astype(np.float32)
    mask = labels != IGNORE_INDEX
    out[mask] = (1.0 - alpha) * out[mask] + alpha * color[mask]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
