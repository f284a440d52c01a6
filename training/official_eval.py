"""The official evaluation protocol (``attanet eval --protocol official``), official ``evaluate.py``.

``MscEval`` there, per validation frame at full resolution (1024x2048 for Cityscapes):

- for each scale s of ``scales`` (default [1.0]): resize the normalized frame to
  (int(H * s), int(W * s)), bilinear with ``align_corners=True``;
- ``crop_eval``: slide a ``window`` x ``window`` (1024) crop with stride ceil(window * 5 / 6)
  (854); a frame whose long side is below the window is zero-padded (centred) to window x
  window, one whose short side is below it is padded on that side only;
- ``eval_chip`` per window: softmax of the logits plus the softmax of the flipped window's
  logits flipped back, then ``exp`` of that sum; these are *added* into the frame's map where
  windows overlap (so overlaps weigh twice; ``exp`` makes every value at least 1);
- the map is cut back to the frame, resized to (H, W) bilinear ``align_corners=True`` and summed
  over the scales; the label is the argmax.

This is the way to compare with the paper's validation mIoU. It is not what the node runs:
``--protocol deploy`` (the default) measures the single pass at the model's input scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from attanet_model.classes import check_same_classes
from attanet_model.metrics import ConfusionMatrix

from .datasets import SegmentationDataset
from .evaluate import score_samples

STRIDE_RATE = 5 / 6  # evaluate.py crop_eval: stride_rate = 5/6.


@dataclass(frozen=True)
class WindowPlan:
    """Where ``crop_eval`` pads a frame and which windows it evaluates.

    ``padded``: (H, W) after padding; ``inner``: (top, bottom, left, right) of the frame inside
    it; ``windows``: (top, left) of every window, row by row, each ``size`` x ``size``.
    """

    padded: tuple[int, int]
    inner: tuple[int, int, int, int]
    windows: tuple[tuple[int, int], ...]
    size: int


def plan_windows(height: int, width: int, window: int = 1024) -> WindowPlan:
    """The padding and window positions of evaluate.py ``crop_eval`` for a height x width frame."""
    if window < 32:
        raise ValueError(f"the sliding window must be at least 32 pixels, got {window}")
    h, w = height, width
    if max(h, w) < window:  # evaluate.py: pad to cropsize x cropsize, evaluate once
        ph, pw = window, window
    else:
        ph, pw = max(h, window), max(w, window)
    top, left = (ph - h) // 2, (pw - w) // 2  # pad_tensor: margin // 2 before the frame
    if (ph, pw) == (window, window):
        windows: tuple[tuple[int, int], ...] = ((0, 0),)
    else:
        stride = math.ceil(window * STRIDE_RATE)
        n_x = math.ceil((pw - window) / stride) + 1
        n_y = math.ceil((ph - window) / stride) + 1
        windows = tuple(
            (min(ph, stride * iy + window) - window, min(pw, stride * ix + window) - window)
            for iy in range(n_y)
            for ix in range(n_x)
        )
    return WindowPlan((ph, pw), (top, top + h, left, left + w), windows, window)


def window_scores(logits_fn: Callable[[Tensor], Tensor], chip: Tensor, flip: bool = True) -> Tensor:
    """evaluate.py ``eval_chip``: exp(softmax(f(x)) [+ flip(softmax(f(flip(x))))])."""
    prob = torch.softmax(logits_fn(chip), dim=1)
    if flip:
        prob = prob + torch.softmax(logits_fn(torch.flip(chip, dims=(3,))), dim=1).flip(dims=(3,))
    return torch.exp(prob)


def sliding_scores(
    logits_fn: Callable[[Tensor], Tensor], image: Tensor, num_classes: int, window: int = 1024, flip: bool = True
) -> Tensor:
    """evaluate.py ``crop_eval`` on a normalized N x 3 x H x W frame: N x K x H x W scores."""
    n, _, h, w = image.shape
    plan = plan_windows(h, w, window)
    top, bottom, left, right = plan.inner
    if plan.padded != (h, w):
        padded = image.new_zeros(n, 3, *plan.padded)
        padded[:, :, top:bottom, left:right] = image
        image = padded
    scores = image.new_zeros(n, num_classes, *plan.padded)
    for y, x in plan.windows:
        chip = image[:, :, y : y + window, x : x + window]
        scores[:, :, y : y + window, x : x + window] += window_scores(logits_fn, chip, flip)
    return scores[:, :, top:bottom, left:right]


def official_scores(
    logits_fn: Callable[[Tensor], Tensor],
    image: Tensor,
    num_classes: int,
    scales: Sequence[float] = (1.0,),
    window: int = 1024,
    flip: bool = True,
) -> Tensor:
    """evaluate.py ``scale_crop_eval`` summed over ``scales``: N x K x H x W at the frame's size."""
    _, _, h, w = image.shape
    total = None
    for scale in scales:
        size = (int(h * scale), int(w * scale))
        if min(size) < 1:
            raise ValueError(f"scale {scale} makes a {h}x{w} (HxW) frame empty")
        scaled = F.interpolate(image, size, mode="bilinear", align_corners=True)
        scores = sliding_scores(logits_fn, scaled, num_classes, window, flip)
        scores = F.interpolate(scores, (h, w), mode="bilinear", align_corners=True)
        total = scores if total is None else total + scores
    return total


def _normalized(image_rgb: np.ndarray, mean, std, device) -> Tensor:
    """cityscapes.py to_tensor: ToTensor (RGB / 255) then Normalize(mean, std), 1 x 3 x H x W."""
    x = torch.from_numpy(np.ascontiguousarray(image_rgb)).to(device).permute(2, 0, 1).float() / 255.0
    m = torch.tensor(mean, device=device).view(3, 1, 1)
    s = torch.tensor(std, device=device).view(3, 1, 1)
    return ((x - m) / s)[None]


@torch.inference_mode()
def evaluate_official(
    model: torch.nn.Module,
    dataset: SegmentationDataset,
    mean: Sequence[float],
    std: Sequence[float],
    scales: Sequence[float] = (1.0,),
    window: int = 1024,
    flip: bool = True,
    device: str = "cpu",
    max_images: int = 0,
    progress: bool = False,
    classes=None,
) -> tuple[ConfusionMatrix, dict]:
    """(confusion matrix, stats) of ``model`` (an eval-mode AttaNet) over ``dataset``."""
    num_classes = len(dataset.classes)
    if classes is not None:
        check_same_classes(classes, dataset.classes, "the model", f"dataset {dataset.root} ({dataset.split})")
    if model.num_classes != num_classes:
        raise ValueError(
            f"the model has {model.num_classes} classes but the dataset has {num_classes}; "
            "evaluate a model trained on this dataset"
        )
    model = model.to(device).eval()

    def predict(image: np.ndarray) -> np.ndarray:
        scores = official_scores(
            lambda x: model(x).logits.float(), _normalized(image, mean, std, device), num_classes, scales, window, flip
        )
        return scores[0].argmax(0).to(torch.uint8).cpu().numpy()

    return score_samples(dataset, predict, max_images, "eval (official protocol)" if progress else None)
