"""Write predictions for a dataset split or a plain image folder, through ``Segmenter``.

Label formats: ``values`` (the pixel value of each class in the custom dataset's
``classes.yaml``, as in the user's own label files; the default for a model trained on one),
``trainIds`` (0..K-1, what the network predicts; the default otherwise), ``labelIds``
(Cityscapes ids, what the official evaluation and benchmark server read) and ``color`` (the
classes' colours).
Cityscapes predictions keep the frame's stem (``<out>/<city>/<stem>_<format>.png``), so
cityscapesscripts matches them to the ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from attanet_model import CITYSCAPES_CLASSES, labels_to_color
from attanet_model.atomic_write import make_folder, write_png

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

LABEL_FORMATS = ("values", "trainIds", "labelIds", "color")


def model_label_values(meta) -> tuple[int, ...] | None:
    """The classes.yaml value of each class, as recorded by the trainer; None for a model trained
    without a classes.yaml (Cityscapes, ADE20K, synthetic)."""
    values = (meta.training or {}).get("label_values")
    if not values:
        return None
    if len(values) != len(meta.classes):
        raise ValueError(
            f"the model records {len(values)} label values for {len(meta.classes)} classes; "
            "it cannot be written as label values (use --label-format trainIds)"
        )
    return tuple(int(v) for v in values)


def resolve_label_values(meta, dataset: SegmentationDataset | None = None) -> tuple[int, ...] | None:
    """The label values to write: the model's, checked against the dataset's classes.yaml when both
    exist (a mismatch is an error, not a relabelling); the dataset's for a model that recorded none
    but has the same class names."""
    own = model_label_values(meta)
    theirs = dataset.label_values if dataset is not None else None
    if own is not None and theirs is not None and tuple(theirs) != own:
        raise ValueError(
            f"the model was trained with label values {list(own)} for {[c.name for c in meta.classes]} "
            f"but the classes file says {list(theirs)} for {[c.name for c in dataset.classes]}; "
            "use the classes file it was trained with"
        )
    if own is None and theirs is not None:
        if [c.name for c in dataset.classes] != [c.name for c in meta.classes]:
            raise ValueError(
                f"the model's classes {[c.name for c in meta.classes]} are not the classes file's "
                f"{[c.name for c in dataset.classes]}"
            )
        return tuple(theirs)
    return own


def encode_labels(
    labels: np.ndarray, label_format: str, classes, label_values: Sequence[int] | None = None
) -> np.ndarray:
    """trainIds -> the image to write (BGR for colour, as OpenCV encodes it)."""
    if label_format == "trainIds":
        return labels
    if label_format == "values":
        if label_values is None:
            raise ValueError(
                "--label-format values needs a model trained on a custom dataset's classes.yaml "
                "(or --dataset custom with its classes file); use trainIds or color"
            )
        lut = np.full(256, 255, np.uint8)
        lut[: len(label_values)] = label_values
        return lut[labels]
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
    label_values: Sequence[int] | None = None,
) -> int:
    """Segment every job's image and write its prediction; returns the number written. An image
    that cannot be decoded is left out and appended to ``skipped`` as ``{file, reason}``; a file
    that cannot be written stops the run (``OutputError``), leaving no partial file.
    ``label_values`` (the class -> pixel value table) is what ``values`` writes."""
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label format {label_format!r} is not known; choose one of {', '.join(LABEL_FORMATS)}")
    encode_labels(np.zeros((1, 1), np.uint8), label_format, segmenter.classes, label_values)  # refuse before any work
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
        make_folder(out_path.parent)
        write_png(out_path, encode_labels(labels, label_format, segmenter.classes, label_values))
        written += 1
    return written
