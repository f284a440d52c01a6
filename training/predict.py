"""Write predictions for a dataset split or a plain image folder, through ``Segmenter``.

Label formats: ``trainIds`` (0..K-1, what the network predicts), ``labelIds`` (Cityscapes ids,
what the official evaluation and benchmark server read) and ``color`` (official colours).
Cityscapes predictions keep the frame's stem (``<out>/<city>/<stem>_<format>.png``), so
cityscapesscripts matches them to the ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from attanet_model import CITYSCAPES_CLASSES, labels_to_color

from .cityscapes_labels import train_ids_to_label_ids
from .datasets import (
    IMAGE_SUFFIXES,
    BadSampleError,
    CityscapesDataset,
    DatasetLayoutError,
    SegmentationDataset,
    decode_image,
)
from .evaluate import segmenter_labels

LABEL_FORMATS = ("trainIds", "labelIds", "color")


def encode_labels(labels: np.ndarray, label_format: str, classes) -> np.ndarray:
    """trainIds -> the image to write (BGR for colour, as cv2.imwrite expects)."""
    if label_format == "trainIds":
        return labels
    if label_format == "labelIds":
        if tuple(classes) != tuple(CITYSCAPES_CLASSES):
            raise ValueError(
                "--label-format labelIds needs a model with the 19 Cityscapes classes; "
                "use trainIds or color for other class tables"
            )
        return train_ids_to_label_ids(labels)
    if label_format == "color":
        return cv2.cvtColor(labels_to_color(labels, classes), cv2.COLOR_RGB2BGR)
    raise ValueError(f"label format {label_format!r} is not known; choose one of {', '.join(LABEL_FORMATS)}")


def folder_images(folder: str | Path) -> list[Path]:
    """Every image under ``folder`` (recursively), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError(f"input folder {folder} does not exist or is not a folder")
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DatasetLayoutError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {folder}")
    return images


def prediction_jobs(
    out_dir: Path, label_format: str, dataset: SegmentationDataset | None = None, folder: str | Path | None = None
) -> Iterator[tuple[Path, Path]]:
    """(image path, output path) pairs; Cityscapes keeps ``<city>/<stem>``, folders keep their tree."""
    if dataset is not None:
        for image_path, _ in dataset.samples:
            if isinstance(dataset, CityscapesDataset):
                rel = Path(image_path.parent.name) / CityscapesDataset.stem(image_path)
            else:
                rel = Path(image_path.stem)
            yield image_path, out_dir / f"{rel}_{label_format}.png"
    else:
        root = Path(folder)
        for image_path in folder_images(root):
            rel = image_path.relative_to(root).with_suffix("")
            yield image_path, out_dir / f"{rel}_{label_format}.png"


def predict_to_folder(
    segmenter,
    jobs: Sequence[tuple[Path, Path]],
    label_format: str,
    scales: Sequence[float] | None = None,
    flip: bool = False,
    progress: bool = False,
    skipped: list[dict] | None = None,
) -> int:
    """Segment every job's image and write its prediction; returns the number written. An image
    that cannot be decoded is left out and appended to ``skipped`` as ``{file, reason}``."""
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label format {label_format!r} is not known; choose one of {', '.join(LABEL_FORMATS)}")
    items = jobs
    if progress:
        from tqdm import tqdm

        items = tqdm(jobs, desc="predict", unit="img")
    written = 0
    for image_path, out_path in items:
        try:
            image = decode_image(image_path, cv2.IMREAD_COLOR)
        except BadSampleError as exc:
            if skipped is None:
                raise
            skipped.append(exc.as_dict())
            continue
        labels = segmenter_labels(segmenter, image, scales, flip)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out_path), encode_labels(labels, label_format, segmenter.classes)):
            raise OSError(f"could not write {out_path}")
        written += 1
    return written
