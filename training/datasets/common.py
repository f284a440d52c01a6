"""What every dataset shares: the errors, reading an image and a label file, the (image, labels)
item protocol of ``SegmentationDataset``, and the folder checks that name what is missing.

One file that cannot be used (truncated, corrupt, a label of the wrong size) raises
``BadSampleError`` when it is read, naming it, so the caller can skip and count it; label values
outside a dataset's table are read as ignore (255) and reported by ``load`` per file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from attanet_model import CITYSCAPES_CLASSES, ClassInfo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
Transform = Callable[[np.ndarray, np.ndarray], tuple]


class DatasetLayoutError(ValueError):
    """A dataset folder that does not look like what was asked for; the message says what is missing."""


class BadSampleError(DatasetLayoutError):
    """One file of a split that cannot be used; ``file`` and ``reason`` say which and why."""

    def __init__(self, file: str | Path, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file, self.reason = str(file), reason

    def __reduce__(self):  # picklable with its two fields (raised in data-loading workers)
        return type(self), (self.file, self.reason)

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


def decode_image(path: str | Path, flags: int) -> np.ndarray:
    """``cv2.imdecode`` of the file's bytes. Unlike ``cv2.imread``, which returns the decoded top of
    a truncated JPEG with only a warning, it refuses an incomplete file."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as exc:
        raise BadSampleError(path, f"cannot be read ({exc.strerror})") from exc
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        what = "an empty file" if not data.size else "truncated, corrupt or not an image file"
        raise BadSampleError(path, f"cannot be decoded ({what})")
    return image


def read_image_rgb(path: str | Path) -> np.ndarray:
    return cv2.cvtColor(decode_image(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_label(path: str | Path) -> np.ndarray:
    """An HxW uint8 label image: 8-bit grey values, or the indices of a palette (mode "P") PNG as
    VOC and most labelling tools write them (the palette's colours are only for display). A file
    that is missing, cut short or corrupt is a ``BadSampleError`` naming it (skipped and counted)."""
    if not Path(path).is_file():
        raise BadSampleError(path, "cannot be read (no such file)")
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode in ("L", "P", "1"):  # "1": bilevel masks, read as 0 / 1
                return np.array(image, dtype=np.uint8)  # decodes the whole file: a truncated one raises
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadSampleError(path, f"cannot be decoded (truncated, corrupt or not an image file: {exc})") from exc
    kind = "a colour mask is not a label image" if mode in ("RGB", "RGBA", "LA", "PA") else "not 8-bit"
    raise BadSampleError(
        path,
        f"label image has mode {mode!r}; expected single-channel 8-bit values or a palette PNG "
        f"({kind}: write one label value per pixel)",
    )


class SegmentationDataset:
    """Base: ``samples``, ``classes``, ``read_labels`` and the (image, labels) item protocol."""

    classes: tuple[ClassInfo, ...] = CITYSCAPES_CLASSES
    label_values: tuple[int, ...] | None = None  # a custom set's value of each class in its label files
    samples: list[tuple[Path, Path | None]]
    transform: Transform | None = None
    LABEL_TABLE = "class table"  # what a label value must be in, for messages

    def __len__(self) -> int:
        return len(self.samples)

    def read_labels(self, label_path: Path) -> np.ndarray:
        raise NotImplementedError

    def read_labels_checked(self, label_path: Path) -> tuple[np.ndarray, dict[int, int]]:
        """(labels, {raw value outside the dataset's table: pixel count}); those pixels are 255."""
        return self.read_labels(label_path), {}

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
        """(image, labels, out-of-range label values and their pixel counts) of sample ``index``,
        without the transform; ``BadSampleError`` if one of its files cannot be used."""
        image_path, label_path = self.samples[index]
        image = read_image_rgb(image_path)
        if label_path is None:
            return image, np.full(image.shape[:2], 255, np.uint8), {}
        labels, out_of_range = self.read_labels_checked(label_path)
        if labels.shape != image.shape[:2]:
            raise BadSampleError(
                label_path,
                f"is {labels.shape[0]}x{labels.shape[1]} (HxW) but its image {image_path.name} is "
                f"{image.shape[0]}x{image.shape[1]}; they must match",
            )
        return image, labels, out_of_range

    def __getitem__(self, index: int):
        image, labels, _ = self.load(index)
        if self.transform is not None:
            return self.transform(image, labels)
        return image, labels


def out_of_range_values(raw: np.ndarray, limit: int) -> dict[int, int]:
    """{raw value >= limit: pixel count} of a label image (empty for a valid one)."""
    if int(raw.max(initial=0)) < limit:
        return {}
    values, counts = np.unique(raw[raw >= limit], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def describe_out_of_range(values: dict[int, int], table: str) -> str:
    """``1024 pixels with label values 40, 77 outside the ... table, read as ignore (255)``."""
    shown = ", ".join(str(v) for v in sorted(values)[:8]) + (", ..." if len(values) > 8 else "")
    return f"{sum(values.values())} pixels with label values {shown} outside the {table}, read as ignore (255)"


def require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        parent = path.parent
        present = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
        found = f"; {parent} contains {present}" if present else ""
        raise DatasetLayoutError(f"missing folder {path}: expected {what}{found}")


def pair_by_stem(image_dir: Path, label_dir: Path, empty_hint: str, missing_what: str) -> list[tuple[Path, Path]]:
    """(image, label) pairs for every image with a same-stem ``.png`` label; a missing label is an error."""
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetLayoutError(f"no images in {image_dir}{empty_hint}")
    pairs = [(image, label_dir / f"{image.stem}.png") for image in images]
    missing = [label for _, label in pairs if not label.is_file()]
    if missing:
        raise DatasetLayoutError(f"{len(missing)} of {len(images)} {missing_what}; first missing: {missing[0]}")
    return pairs
