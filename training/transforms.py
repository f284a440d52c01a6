"""Training augmentation (paper "Implementation Details"; official code ``transform_cv2.py``).

Random scale from a fixed set, pad with ignore and random-crop, horizontal flip, colour jitter,
then ImageNet normalization. Every random choice comes from the ``np.random.Generator`` passed
in, so a sample's augmentation is a pure function of (seed, position in the sample stream):
runs are reproducible and ``--resume`` continues the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

IGNORE_INDEX = 255


def random_scale(image: np.ndarray, labels: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (bilinear) and labels (nearest, so no invented classes) by ``scale``."""
    if scale == 1.0:
        return image, labels
    h, w = labels.shape
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return (
        cv2.resize(image, size, interpolation=cv2.INTER_LINEAR),
        cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST),
    )


def pad_and_crop(
    image: np.ndarray,
    labels: np.ndarray,
    crop: tuple[int, int],
    rng: np.random.Generator,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad to at least ``crop`` (image 0, labels ``ignore_index``) and cut a random ``crop`` window."""
    ch, cw = crop
    h, w = labels.shape
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    if ph or pw:
        top, left = ph // 2, pw // 2
        image = cv2.copyMakeBorder(image, top, ph - top, left, pw - left, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        labels = cv2.copyMakeBorder(labels, top, ph - top, left, pw - left, cv2.BORDER_CONSTANT, value=ignore_index)
        h, w = labels.shape
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return image[y : y + ch, x : x + cw], labels[y : y + ch, x : x + cw]


def color_jitter(
    image: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float, saturation: float
) -> np.ndarray:
    """Multiply brightness, contrast (around the mean grey) and saturation by factors in [1-j, 1+j]."""
    out = image.astype(np.float32)
    if brightness > 0:
        out *= rng.uniform(1 - brightness, 1 + brightness)
    if contrast > 0:
        mean = out.mean()
        out = (out - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    if saturation > 0:
        grey = out.mean(axis=2, keepdims=True)
        out = (out - grey) * rng.uniform(1 - saturation, 1 + saturation) + grey
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def to_tensors(
    image_rgb: np.ndarray, labels: np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """HxWx3 uint8 RGB -> 3xHxW float normalized; labels -> HxW int64."""
    x = (image_rgb.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), torch.from_numpy(labels.astype(np.int64))


@dataclass
class TrainTransform:
    """The paper's augmentation. ``base_scale`` first resizes every image (e.g. 0.5 to train at the
    0.5-scale deployment resolution), then one of ``scales`` is applied on top."""

    crop_size: tuple[int, int]
    scales: tuple[float, ...] = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    base_scale: float = 1.0
    flip: bool = True
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    ignore_index: int = IGNORE_INDEX

    def augment(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 image and labels after all random steps (before normalization)."""
        scale = self.base_scale * float(rng.choice(self.scales))
        image, labels = random_scale(image, labels, scale)
        image, labels = pad_and_crop(image, labels, tuple(self.crop_size), rng, self.ignore_index)
        if self.flip and rng.random() < 0.5:
            image, labels = image[:, ::-1], labels[:, ::-1]
        image = color_jitter(image, rng, self.brightness, self.contrast, self.saturation)
        return np.ascontiguousarray(image), np.ascontiguousarray(labels)

    def __call__(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        image, labels = self.augment(image, labels, rng)
        return to_tensors(image, labels, self.mean, self.std)
