"""Evaluation: mIoU of a model on a dataset split, at the deployment setting by default.

``evaluate_segmenter`` runs ``attanet_model.Segmenter`` itself, so ``attanet eval`` measures
exactly what the ROS node publishes (frame resized by the model's ``input_scale``, argmax at
network size, labels resized back with nearest neighbour). ``--scales``/``--flip`` average the
softmax over scaled and mirrored copies instead. ``evaluate_model`` is the same single-scale
computation on an in-memory network, for validation during training (sharded over DDP ranks).
Both skip a file that cannot be read and name it (``skipped``), and score label values outside the
dataset's table as ignore, naming the file (``out_of_range``): one bad file never costs the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np
import torch

from attanet_model import check_same_classes
from attanet_model.metrics import ConfusionMatrix
from attanet_model.onnx_export import labels_and_confidence
from attanet_model.preprocess import network_size, normalize_bgr

from .config import TrainConfig
from .datasets import BadSampleError, SegmentationDataset, describe_out_of_range
from .distributed import DistInfo, all_reduce_sum, any_rank


@torch.inference_mode()
def predict_labels(
    model: torch.nn.Module, image_rgb: np.ndarray, input_scale: float, mean, std, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Segmenter's single-scale path on an nn.Module: HxW uint8 trainIds at the image's size."""
    h, w = image_rgb.shape[:2]
    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    net_h, net_w = network_size(h, w, input_scale)
    resized = bgr if (net_h, net_w) == (h, w) else cv2.resize(bgr, (net_w, net_h), interpolation=cv2.INTER_LINEAR)
    x = torch.from_numpy(normalize_bgr(resized, mean, std)).to(device)
    labels, _ = labels_and_confidence(model(x).logits.float())
    labels = labels[0].cpu().numpy()
    if (net_h, net_w) != (h, w):
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    return labels


def evaluate_model(
    model: torch.nn.Module,
    dataset: SegmentationDataset,
    input_scale: float,
    device: torch.device | str = "cpu",
    max_images: int = 0,
    rank: int = 0,
    world_size: int = 1,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    skipped: list[dict] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ConfusionMatrix:
    """Confusion matrix over the split (or its first ``max_images``); ranks take every W-th image
    and the counts are summed across ranks. Unreadable samples are left out and appended to
    ``skipped`` as ``{file, reason}``. ``should_stop()`` true ends the loop early (a stopping
    trainer's grace period is too short for a whole validation); the counts are then partial."""
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(len(dataset.classes))
    count = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    for i in range(rank, count, world_size):
        if should_stop is not None and should_stop():
            break
        try:
            image, labels, _ = dataset.load(i)
        except BadSampleError as exc:
            if skipped is not None:
                skipped.append(exc.as_dict())
            continue
        cm.update(predict_labels(model, image, input_scale, mean, std, device), labels)
    counts = torch.from_numpy(np.concatenate([cm.counts.ravel(), cm.missed])).to(device)
    counts = all_reduce_sum(counts).cpu().numpy()
    k = cm.num_classes
    cm.counts, cm.missed = counts[: k * k].reshape(k, k).copy(), counts[k * k :].copy()
    model.train(was_training)
    return cm


def validate_split(
    model: torch.nn.Module,
    val_set: SegmentationDataset,
    cfg: TrainConfig,
    info: DistInfo,
    stop_requested: Callable[[], bool],
) -> tuple[dict | None, list[dict]]:
    """A training run's validation (every rank its share, ``evaluate_model``): (the confusion
    matrix's summary, the unreadable samples left out). The summary is None when
    ``stop_requested()`` turned true on any rank during it: the counts are then partial."""
    skipped: list[dict] = []
    interrupted = False

    def should_stop() -> bool:
        nonlocal interrupted
        interrupted = interrupted or stop_requested()
        return interrupted

    cm = evaluate_model(
        model,
        val_set,
        cfg.input_scale,
        torch.device(info.device),
        max_images=cfg.val_max_images,
        rank=info.rank,
        world_size=info.world_size,
        skipped=skipped,
        should_stop=should_stop,
    )
    if any_rank(interrupted, info.device):
        return None, skipped
    return cm.summary([c.name for c in val_set.classes]), skipped


def segmenter_labels(
    segmenter, image_bgr: np.ndarray, scales: Sequence[float] | None = None, flip: bool = False
) -> np.ndarray:
    """Labels from a Segmenter: its own ``segment`` (deployment path) unless scales/flip ask for
    softmax averaging over ``scales`` (fractions of the frame) and mirrored copies."""
    if not scales and not flip:
        return segmenter.segment(image_bgr).labels
    probs = None
    for scale in scales or [segmenter.input_scale]:
        p = segmenter.class_scores(image_bgr, scale=scale, flip=flip)
        probs = p if probs is None else probs + p
    return probs.argmax(0).astype(np.uint8)


def readable_samples(
    dataset: SegmentationDataset, indices: Iterable[int], skipped: list[dict], out_of_range: list[dict]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(RGB image, labels) of each readable sample; an unreadable one is appended to ``skipped``
    (``{file, reason}``) and left out, label values outside the table to ``out_of_range`` (scored as ignore)."""
    for i in indices:
        try:
            image, labels, bad_values = dataset.load(i)
        except BadSampleError as exc:
            skipped.append(exc.as_dict())
            continue
        if bad_values:
            reason = describe_out_of_range(bad_values, dataset.LABEL_TABLE)
            out_of_range.append({"file": str(dataset.samples[i][1]), "reason": reason})
        yield image, labels


def evaluate_segmenter(
    segmenter,
    dataset: SegmentationDataset,
    scales: Sequence[float] | None = None,
    flip: bool = False,
    max_images: int = 0,
    progress: bool = False,
) -> tuple[ConfusionMatrix, dict]:
    """(confusion matrix, stats) for ``segmenter`` over ``dataset``. stats: ``frames`` (scored),
    ``ms_per_frame``, ``skipped`` (``[{file, reason}]``, unreadable, not scored) and ``out_of_range``
    (``[{file, reason}]``, scored with those pixels ignored)."""
    check_same_classes(
        segmenter.classes, dataset.classes, f"model {segmenter.model_path}", f"dataset {dataset.root} ({dataset.split})"
    )
    return score_samples(
        dataset,
        lambda bgr: segmenter_labels(segmenter, bgr, scales, flip),
        max_images,
        "eval" if progress else None,
        prepare=lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
    )


def score_samples(
    dataset: SegmentationDataset,
    predict: Callable[[np.ndarray], np.ndarray],
    max_images: int = 0,
    progress: str | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[ConfusionMatrix, dict]:
    """(confusion matrix, stats) of ``predict`` (an input -> HxW labels) over the first
    ``max_images`` (0: all) readable samples of ``dataset``; ``prepare`` turns the RGB image into
    the input, outside the timing; ``progress``: the progress bar's name (None: no bar).
    stats: ``frames`` (scored), ``ms_per_frame``, ``skipped`` (``[{file, reason}]``, unreadable,
    not scored) and ``out_of_range`` (``[{file, reason}]``, scored with those pixels ignored)."""
    cm = ConfusionMatrix(len(dataset.classes))
    count = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    indices = range(count)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=progress, unit="img")
    total_ms, scored, skipped, out_of_range = 0.0, 0, [], []
    for image, labels in readable_samples(dataset, indices, skipped, out_of_range):
        x = prepare(image) if prepare is not None else image
        t0 = time.perf_counter()
        pred = predict(x)
        total_ms += (time.perf_counter() - t0) * 1e3
        cm.update(pred, labels)
        scored += 1
    stats = {"frames": scored, "ms_per_frame": total_ms / max(scored, 1), "skipped": skipped}
    return cm, {**stats, "out_of_range": out_of_range}
