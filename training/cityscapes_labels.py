"""The official Cityscapes label table (cityscapesscripts ``helpers/labels.py``) as lookup arrays.

Ground truth on disk is in labelIds (0..33); the network trains on the 19 evaluation trainIds,
everything else is 255 (ignore). Submissions to the official evaluation are in labelIds again.
Taking the table from cityscapesscripts rather than copying it keeps one source of truth.
"""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import labels as _LABELS

IGNORE = 255


def _label_to_train() -> np.ndarray:
    lut = np.full(256, IGNORE, np.uint8)
    for label in _LABELS:
        if 0 <= label.id < 256 and 0 <= label.trainId < IGNORE:
            lut[label.id] = label.trainId
    return lut


def _train_to_label() -> np.ndarray:
    lut = np.zeros(256, np.uint8)  # 255 / unknown -> 0 "unlabeled", ignored by the official evaluation
    for label in _LABELS:
        if 0 <= label.id < 256 and 0 <= label.trainId < IGNORE and not label.ignoreInEval:
            lut[label.trainId] = label.id
    return lut


def _label_colors() -> np.ndarray:
    lut = np.zeros((256, 3), np.uint8)
    for label in _LABELS:
        if 0 <= label.id < 256:
            lut[label.id] = label.color
    return lut


LABEL_TO_TRAIN: np.ndarray = _label_to_train()
"""256-entry uint8 LUT: labelId -> trainId (255 for classes not evaluated)."""
TRAIN_TO_LABEL: np.ndarray = _train_to_label()
"""256-entry uint8 LUT: trainId -> labelId (255 -> 0 'unlabeled')."""
LABEL_COLORS: np.ndarray = _label_colors()
"""256x3 uint8 RGB LUT: labelId -> official colour (what ``*_gtFine_color.png`` shows)."""
LABEL_IDS: dict[str, int] = {label.name: label.id for label in _LABELS if label.id >= 0}
"""Official name -> labelId, e.g. ``LABEL_IDS["traffic light"] == 19``."""


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """HxW uint8 labelIds -> HxW uint8 trainIds (255 = ignore)."""
    if label_ids.dtype != np.uint8:
        raise ValueError(f"labelIds image must be uint8, got dtype {label_ids.dtype}")
    return LABEL_TO_TRAIN[label_ids]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """HxW uint8 trainIds -> HxW uint8 labelIds, the format the official evaluation reads."""
    if train_ids.dtype != np.uint8:
        raise ValueError(f"trainIds image must be uint8, got dtype {train_ids.dtype}")
    return TRAIN_TO_LABEL[train_ids]


def label_ids_to_color(label_ids: np.ndarray) -> np.ndarray:
    """HxW uint8 labelIds -> HxWx3 uint8 RGB in the official colours."""
    return LABEL_COLORS[label_ids]
