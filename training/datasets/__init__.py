"""Datasets: Cityscapes (and the synthetic set in its layout), ADE20K, and custom image/label
folders, one module each, with what they share in ``common``.

Each dataset lists ``samples`` as (image path, label path) pairs, reads labels as trainIds
(0..K-1, 255 = ignore) and returns ``(image RGB uint8 HxWx3, labels uint8 HxW)``, passed through
an optional ``transform(image, labels)``. A wrong or partial layout fails at construction with a
``DatasetLayoutError`` that names the missing folder and what was expected there. One file that
cannot be used raises ``BadSampleError`` when it is read, naming it, so the caller can skip and
count it; label values outside a dataset's table are read as ignore (255) and reported by ``load``
per file.
"""

from __future__ import annotations

from pathlib import Path

from .ade20k import ADE20K_NAMES, ADE20KDataset, ade20k_classes
from .cityscapes import CITYSCAPES_LABEL_ID_LIMIT, CityscapesDataset, read_train_ids
from .common import (
    IMAGE_SUFFIXES,
    BadSampleError,
    DatasetLayoutError,
    SegmentationDataset,
    Transform,
    decode_image,
    describe_out_of_range,
    read_image_rgb,
    read_label,
)
from .custom import ClassTable, CustomDataset, check_label_values, load_classes_yaml, scan_label_values

__all__ = [
    "ADE20K_NAMES",
    "CITYSCAPES_LABEL_ID_LIMIT",
    "DATASETS",
    "IMAGE_SUFFIXES",
    "ADE20KDataset",
    "BadSampleError",
    "CityscapesDataset",
    "ClassTable",
    "CustomDataset",
    "DatasetLayoutError",
    "SegmentationDataset",
    "Transform",
    "ade20k_classes",
    "build_dataset",
    "check_label_values",
    "decode_image",
    "describe_out_of_range",
    "load_classes_yaml",
    "read_image_rgb",
    "read_label",
    "read_train_ids",
    "scan_label_values",
]


DATASETS = ("cityscapes", "ade20k", "custom")


def build_dataset(
    kind: str, root: str | Path, split: str, transform: Transform | None = None, classes_file: str | Path | None = None
) -> SegmentationDataset:
    """Dataset by name: cityscapes (also the synthetic set), ade20k or custom."""
    if kind == "cityscapes":
        return CityscapesDataset(root, split, transform)
    if kind == "ade20k":
        return ADE20KDataset(root, split, transform)
    if kind == "custom":
        return CustomDataset(root, split, transform, classes_file)
    raise DatasetLayoutError(f"unknown dataset kind {kind!r}; choose one of {', '.join(DATASETS)}")
