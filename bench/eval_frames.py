"""Labelled frames for the benchmarks' mIoU: a Cityscapes-layout folder (what ``attanet synth`` writes).

``root/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` with
``root/gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png``. A frame whose label file is
missing or unreadable is skipped and named, never scored against nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np


@dataclass
class EvalFrames:
    """(BGR image, trainId labels) pairs, and the files left out with the reason."""

    pairs: list[tuple[np.ndarray, np.ndarray]]
    skipped: list[str] = field(default_factory=list)


def read_eval_frames(root: str | Path, split: str = "val", limit: int = 20) -> EvalFrames:
    """Up to ``limit`` frames, sorted by path; ValueError when the folder has none usable."""
    image_dir = Path(root) / "leftImg8bit" / split
    images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
    if not images:
        raise ValueError(
            f"no <city>/*_leftImg8bit.png under {image_dir}; make unseen frames with "
            f"`attanet synth --out {root} --num 20 --seed 1000 --split {split}`"
        )
    found = EvalFrames([])
    for image_path in images:
        if len(found.pairs) == limit:
            break
        stem = image_path.name[: -len("_leftImg8bit.png")]
        label_path = Path(root) / "gtFine" / split / image_path.parent.name / f"{stem}_gtFine_labelTrainIds.png"
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        labels = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED) if label_path.is_file() else None
        if image is None or labels is None or labels.ndim != 2 or labels.shape != image.shape[:2]:
            found.skipped.append(f"{image_path.name}: no readable {label_path.name} of the image's size")
            continue
        found.pairs.append((image, labels))
    if not found.pairs:
        raise ValueError(f"none of the frames under {image_dir} has a usable label file ({found.skipped[0]})")
    return found
