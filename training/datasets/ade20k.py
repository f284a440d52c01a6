"""ADE20K SceneParsing (ADEChallengeData2016): ``images/`` and ``annotations/`` by split, 150
classes (annotation 0 is "other", not scored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attanet_model import ClassInfo
from attanet_model.classes import generic_classes

from .common import (
    DatasetLayoutError,
    SegmentationDataset,
    Transform,
    out_of_range_values,
    pair_by_stem,
    read_label,
    require_dir,
)

# The 150 ADE20K SceneParsing classes (objectInfo150), in label order 1..150.
ADE20K_NAMES = (
    "wall",
    "building",
    "sky",
    "floor",
    "tree",
    "ceiling",
    "road",
    "bed",
    "windowpane",
    "grass",
    "cabinet",
    "sidewalk",
    "person",
    "earth",
    "door",
    "table",
    "mountain",
    "plant",
    "curtain",
    "chair",
    "car",
    "water",
    "painting",
    "sofa",
    "shelf",
    "house",
    "sea",
    "mirror",
    "rug",
    "field",
    "armchair",
    "seat",
    "fence",
    "desk",
    "rock",
    "wardrobe",
    "lamp",
    "bathtub",
    "railing",
    "cushion",
    "base",
    "box",
    "column",
    "signboard",
    "chest_of_drawers",
    "counter",
    "sand",
    "sink",
    "skyscraper",
    "fireplace",
    "refrigerator",
    "grandstand",
    "path",
    "stairs",
    "runway",
    "case",
    "pool_table",
    "pillow",
    "screen_door",
    "stairway",
    "river",
    "bridge",
    "bookcase",
    "blind",
    "coffee_table",
    "toilet",
    "flower",
    "book",
    "hill",
    "bench",
    "countertop",
    "stove",
    "palm",
    "kitchen_island",
    "computer",
    "swivel_chair",
    "boat",
    "bar",
    "arcade_machine",
    "hovel",
    "bus",
    "towel",
    "light",
    "truck",
    "tower",
    "chandelier",
    "awning",
    "streetlight",
    "booth",
    "television_receiver",
    "airplane",
    "dirt_track",
    "apparel",
    "pole",
    "land",
    "bannister",
    "escalator",
    "ottoman",
    "bottle",
    "buffet",
    "poster",
    "stage",
    "van",
    "ship",
    "fountain",
    "conveyer_belt",
    "canopy",
    "washer",
    "plaything",
    "swimming_pool",
    "stool",
    "barrel",
    "basket",
    "waterfall",
    "tent",
    "bag",
    "minibike",
    "cradle",
    "oven",
    "ball",
    "food",
    "step",
    "tank",
    "trade_name",
    "microwave",
    "pot",
    "animal",
    "bicycle",
    "lake",
    "dishwasher",
    "screen",
    "blanket",
    "sculpture",
    "hood",
    "sconce",
    "vase",
    "traffic_light",
    "tray",
    "ashcan",
    "fan",
    "pier",
    "crt_screen",
    "plate",
    "monitor",
    "bulletin_board",
    "shower",
    "radiator",
    "glass",
    "clock",
    "flag",
)
assert len(ADE20K_NAMES) == 150, len(ADE20K_NAMES)


def ade20k_classes() -> tuple[ClassInfo, ...]:
    colors = generic_classes(150)
    return tuple(ClassInfo(i, name.replace("_", " "), colors[i].color) for i, name in enumerate(ADE20K_NAMES))


class ADE20KDataset(SegmentationDataset):
    """``root/images/{training,validation}/*.jpg`` + ``root/annotations/.../*.png`` (ADEChallengeData2016).

    Annotation 0 ("other") becomes 255; 1..150 become trainIds 0..149. ``split`` accepts
    train/val as well as the folder names.
    """

    SPLITS = {"train": "training", "val": "validation", "training": "training", "validation": "validation"}

    def __init__(self, root: str | Path, split: str = "train", transform: Transform | None = None) -> None:
        self.root, self.transform = Path(root), transform
        if split not in self.SPLITS:
            raise DatasetLayoutError(f"ADE20K split {split!r} is not known; use train or val")
        self.split = self.SPLITS[split]
        self.classes = ade20k_classes()
        if not self.root.is_dir():
            raise DatasetLayoutError(f"dataset root {self.root} does not exist (expected ADEChallengeData2016/)")
        require_dir(self.root / "images", "ADE20K images (images/training, images/validation)")
        require_dir(self.root / "annotations", "ADE20K annotations (annotations/training, annotations/validation)")
        image_dir, label_dir = self.root / "images" / self.split, self.root / "annotations" / self.split
        require_dir(image_dir, f"ADE20K {self.split} images (*.jpg)")
        require_dir(label_dir, f"ADE20K {self.split} annotations (*.png)")
        self.samples = pair_by_stem(
            image_dir, label_dir, "; expected files like ADE_train_00000001.jpg", "ADE20K images have no annotation"
        )

    LABEL_TABLE = "ADE20K annotation values 0..150"

    def read_labels(self, label_path: Path) -> np.ndarray:
        return self.read_labels_checked(label_path)[0]

    def read_labels_checked(self, label_path: Path) -> tuple[np.ndarray, dict[int, int]]:
        raw = read_label(label_path)
        labels = (raw.astype(np.int16) - 1).astype(np.uint8)  # 0 -> 255 (ignore), k -> k-1
        out_of_range = out_of_range_values(raw, len(ADE20K_NAMES) + 1)
        if out_of_range:  # 151.. would be trainIds past the classifier: ignore them instead
            labels[raw > len(ADE20K_NAMES)] = 255
        return labels, out_of_range
