"""Cityscapes (and the synthetic city set, written in its layout): ``leftImg8bit/`` images with
``gtFine/`` labelIds, mapped to the 19 trainIds by cityscapesscripts' table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attanet_model import CITYSCAPES_CLASSES

from ..cityscapes_labels import LABEL_IDS, label_ids_to_train_ids
from .common import (
    DatasetLayoutError,
    SegmentationDataset,
    Transform,
    out_of_range_values,
    read_label,
    require_dir,
)

CITYSCAPES_LABEL_ID_LIMIT = max(LABEL_IDS.values()) + 1  # labelIds 0..33 are defined


def read_train_ids(label_path: str | Path) -> np.ndarray:
    """A Cityscapes ``*_gtFine_labelIds.png`` -> HxW uint8 trainIds via the official table."""
    return label_ids_to_train_ids(read_label(label_path))


class CityscapesDataset(SegmentationDataset):
    """``root/leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with ``root/gtFine/<split>/<city>/*_gtFine_labelIds.png``.

    labelIds map to the 19 trainIds with cityscapesscripts' table. ``require_labels=False``
    allows image-only splits (Cityscapes' test set), with all-ignore labels.
    """

    def __init__(
        self, root: str | Path, split: str = "train", transform: Transform | None = None, require_labels: bool = True
    ) -> None:
        self.root, self.split, self.transform = Path(root), split, transform
        self.classes = CITYSCAPES_CLASSES
        if not self.root.is_dir():
            raise DatasetLayoutError(f"dataset root {self.root} does not exist or is not a folder")
        require_dir(self.root / "leftImg8bit", "Cityscapes images (leftImg8bit/<split>/<city>/*_leftImg8bit.png)")
        image_dir = self.root / "leftImg8bit" / split
        require_dir(image_dir, f"the {split!r} split of leftImg8bit (one folder per city)")
        images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        if not images:
            raise DatasetLayoutError(
                f"no *_leftImg8bit.png images in {image_dir}/<city>/; expected files like "
                f"{image_dir}/aachen/aachen_000000_000019_leftImg8bit.png"
            )
        label_dir = self.root / "gtFine" / split
        if require_labels:
            require_dir(self.root / "gtFine", "Cityscapes fine labels (gtFine/<split>/<city>/*_gtFine_labelIds.png)")
            require_dir(label_dir, f"the {split!r} split of gtFine (one folder per city)")
        self.samples = []
        missing = []
        for image in images:
            stem = image.name[: -len("_leftImg8bit.png")]
            label = label_dir / image.parent.name / f"{stem}_gtFine_labelIds.png"
            if label.is_file():
                self.samples.append((image, label))
            elif require_labels:
                missing.append(label)
            else:
                self.samples.append((image, None))
        if missing:
            raise DatasetLayoutError(
                f"{len(missing)} of {len(images)} images in {image_dir} have no label; first missing: {missing[0]}"
            )

    LABEL_TABLE = "Cityscapes labelIds 0..33"

    @staticmethod
    def read_train_ids(label_path: str | Path) -> np.ndarray:
        """HxW uint8 trainIds of a ``*_gtFine_labelIds.png`` (255 = ignore)."""
        return read_train_ids(label_path)

    def read_labels(self, label_path: Path) -> np.ndarray:
        return read_train_ids(label_path)

    def read_labels_checked(self, label_path: Path) -> tuple[np.ndarray, dict[int, int]]:
        raw = read_label(label_path)  # the official table maps unknown ids to 255 already
        return label_ids_to_train_ids(raw), out_of_range_values(raw, CITYSCAPES_LABEL_ID_LIMIT)

    @staticmethod
    def stem(image_path: str | Path) -> str:
        """``aachen_000000_000019`` from ``.../aachen_000000_000019_leftImg8bit.png``."""
        name = Path(image_path).name
        return name[: -len("_leftImg8bit.png")] if name.endswith("_leftImg8bit.png") else Path(name).stem
