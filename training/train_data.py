"""A run's data: its train and val splits, the training augmentation, and this rank's batches of
the sample stream (from data-loading workers or the split cached on the device: ``batches.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .batches import BatchSource
from .config import TrainConfig
from .datasets import SegmentationDataset, build_dataset
from .distributed import DistInfo
from .sample_stream import StreamSampler
from .transforms import TrainTransform, check_augment

ENDLESS = 2**40  # a stream the loop stops by itself (a schedule a time budget may lengthen)


@dataclass
class TrainData:
    train_set: SegmentationDataset
    val_set: SegmentationDataset | None  # None: no validation (no val split or val_interval 0)
    transform: TrainTransform

    @classmethod
    def for_config(cls, cfg: TrainConfig) -> TrainData:
        """The splits ``cfg`` names and its augmentation (a wrong one raises before any training)."""
        train_set = build_dataset(cfg.dataset, cfg.data_root, cfg.train_split, None, cfg.classes_file)
        val_set = None
        if cfg.val_split and cfg.val_interval > 0:
            val_set = build_dataset(cfg.dataset, cfg.data_root, cfg.val_split, None, cfg.classes_file)
        transform = TrainTransform(
            cfg.crop_size, cfg.scales, cfg.base_scale, cfg.flip, cfg.color_jitter, cfg.color_jitter, cfg.color_jitter
        )
        transform.official = check_augment(cfg.augment, cfg.device_augment)
        return cls(train_set, val_set, transform)

    def batches(
        self,
        cfg: TrainConfig,
        info: DistInfo,
        device: torch.device,
        start_iteration: int,
        *,
        endless: bool,
        worker_start: str | None,
        progress: bool,
        report_problems: Callable[[str], dict | None],
    ) -> BatchSource:
        """This rank's batches from ``start_iteration``; ``endless``: the stream does not end at
        ``cfg.iterations`` (the loop stops at the schedule's length either way)."""
        sampler = StreamSampler(
            start_iteration,
            ENDLESS if endless else cfg.iterations,
            cfg.batch_size // info.world_size,
            info.rank,
            info.world_size,
        )
        return BatchSource(
            cfg,
            self.train_set,
            self.transform,
            sampler,
            device,
            worker_start=worker_start,
            progress=progress,
            report_problems=report_problems,
        )
