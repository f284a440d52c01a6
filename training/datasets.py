"""Datasets: Cityscapes (and the synthetic set in its layout), ADE20K, and custom image/label folders.

Each dataset lists ``samples`` as (image path, label path) pairs, reads labels as trainIds
(0..K-1, 255 = ignore) and returns ``(image RGB uint8 HxWx3, labels uint8 HxW)``, passed through
an optional ``transform(image, labels)``. A wrong or partial layout fails at construction with a
``DatasetLayoutError`` that names the missing folder and what was expected there. One file that
cannot be used (truncated, corrupt, a label of the wrong size) raises ``BadSampleError`` when it is
read, naming it, so the caller can skip and count it; label values outside a dataset's table are
read as ignore (255) and reported by ``load`` per file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from attanet_model import CITYSCAPES_CLASSES, ClassInfo
from attanet_model.classes import generic_classes

from .cityscapes_labels import LABEL_IDS, label_ids_to_train_ids

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
CITYSCAPES_LABEL_ID_LIMIT = max(LABEL_IDS.values()) + 1  # labelIds 0..33 are defined
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


def read_train_ids(label_path: str | Path) -> np.ndarray:
    """A Cityscapes ``*_gtFine_labelIds.png`` -> HxW uint8 trainIds via the official table."""
    return label_ids_to_train_ids(read_label(label_path))


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


def _out_of_range(raw: np.ndarray, limit: int) -> dict[int, int]:
    """{raw value >= limit: pixel count} of a label image (empty for a valid one)."""
    if int(raw.max(initial=0)) < limit:
        return {}
    values, counts = np.unique(raw[raw >= limit], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def describe_out_of_range(values: dict[int, int], table: str) -> str:
    """``1024 pixels with label values 40, 77 outside the ... table, read as ignore (255)``."""
    shown = ", ".join(str(v) for v in sorted(values)[:8]) + (", ..." if len(values) > 8 else "")
    return f"{sum(values.values())} pixels with label values {shown} outside the {table}, read as ignore (255)"


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        parent = path.parent
        present = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
        found = f"; {parent} contains {present}" if present else ""
        raise DatasetLayoutError(f"missing folder {path}: expected {what}{found}")


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
        _require_dir(self.root / "leftImg8bit", "Cityscapes images (leftImg8bit/<split>/<city>/*_leftImg8bit.png)")
        image_dir = self.root / "leftImg8bit" / split
        _require_dir(image_dir, f"the {split!r} split of leftImg8bit (one folder per city)")
        images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        if not images:
            raise DatasetLayoutError(
                f"no *_leftImg8bit.png images in {image_dir}/<city>/; expected files like "
                f"{image_dir}/aachen/aachen_000000_000019_leftImg8bit.png"
            )
        label_dir = self.root / "gtFine" / split
        if require_labels:
            _require_dir(self.root / "gtFine", "Cityscapes fine labels (gtFine/<split>/<city>/*_gtFine_labelIds.png)")
            _require_dir(label_dir, f"the {split!r} split of gtFine (one folder per city)")
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
        return label_ids_to_train_ids(raw), _out_of_range(raw, CITYSCAPES_LABEL_ID_LIMIT)

    @staticmethod
    def stem(image_path: str | Path) -> str:
        """``aachen_000000_000019`` from ``.../aachen_000000_000019_leftImg8bit.png``."""
        name = Path(image_path).name
        return name[: -len("_leftImg8bit.png")] if name.endswith("_leftImg8bit.png") else Path(name).stem


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
        _require_dir(self.root / "images", "ADE20K images (images/training, images/validation)")
        _require_dir(self.root / "annotations", "ADE20K annotations (annotations/training, annotations/validation)")
        image_dir, label_dir = self.root / "images" / self.split, self.root / "annotations" / self.split
        _require_dir(image_dir, f"ADE20K {self.split} images (*.jpg)")
        _require_dir(label_dir, f"ADE20K {self.split} annotations (*.png)")
        self.samples = _pair_by_stem(
            image_dir, label_dir, "; expected files like ADE_train_00000001.jpg", "ADE20K images have no annotation"
        )

    LABEL_TABLE = "ADE20K annotation values 0..150"

    def read_labels(self, label_path: Path) -> np.ndarray:
        return self.read_labels_checked(label_path)[0]

    def read_labels_checked(self, label_path: Path) -> tuple[np.ndarray, dict[int, int]]:
        raw = read_label(label_path)
        labels = (raw.astype(np.int16) - 1).astype(np.uint8)  # 0 -> 255 (ignore), k -> k-1
        out_of_range = _out_of_range(raw, len(ADE20K_NAMES) + 1)
        if out_of_range:  # 151.. would be trainIds past the classifier: ignore them instead
            labels[raw > len(ADE20K_NAMES)] = 255
        return labels, out_of_range


def _pair_by_stem(image_dir: Path, label_dir: Path, empty_hint: str, missing_what: str) -> list[tuple[Path, Path]]:
    """(image, label) pairs for every image with a same-stem ``.png`` label; a missing label is an error."""
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetLayoutError(f"no images in {image_dir}{empty_hint}")
    pairs = [(image, label_dir / f"{image.stem}.png") for image in images]
    missing = [label for _, label in pairs if not label.is_file()]
    if missing:
        raise DatasetLayoutError(f"{len(missing)} of {len(images)} {missing_what}; first missing: {missing[0]}")
    return pairs


@dataclass(frozen=True)
class ClassTable:
    """A custom dataset's ``classes.yaml``: the classes in output order, the label value of each
    in the PNGs, and the values that are not scored (trainId 255)."""

    classes: tuple[ClassInfo, ...]
    values: tuple[int, ...]
    ignore: tuple[int, ...]
    source: Path

    def lookup(self) -> np.ndarray:
        """256-entry table: label value -> trainId (class index), 255 for ignored values."""
        lut = np.full(256, 255, np.uint8)
        for train_id, value in enumerate(self.values):
            lut[value] = train_id
        return lut


_CLASS_KEYS = {"name", "color", "value"}
_TABLE_KEYS = {"classes", "ignore"}


def load_classes_yaml(path: str | Path) -> ClassTable:
    """Read a custom dataset's class table::

        classes:                 # in output order
          - {name: background, color: [0, 0, 0], value: 0}
          - {name: floor, color: [128, 64, 128], value: 1}
        ignore: [255]            # label values that are not scored

    ``value`` (default: the index) is the pixel value in the label PNGs. Every value that occurs
    in the labels must be a class or listed under ``ignore`` (``CustomDataset`` checks this), so
    that no pixel is dropped from training by omission.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"classes file {path} not found; expected a YAML file with a 'classes:' list")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise DatasetLayoutError(
            f"cannot read the class table {path}: it is not valid YAML{where} ({problem})"
        ) from exc
    entries = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DatasetLayoutError(f"{path} must contain 'classes:', a list of {{name, color[, value]}} entries")
    unknown = sorted(set(data) - _TABLE_KEYS)
    if unknown:
        raise DatasetLayoutError(f"{path}: unknown key(s) {', '.join(unknown)}; expected 'classes' and 'ignore'")
    classes, values = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry:
            raise DatasetLayoutError(f"{path}: class #{i} must be a mapping with a 'name', got {entry!r}")
        extra = sorted(set(entry) - _CLASS_KEYS)
        if extra:
            raise DatasetLayoutError(
                f"{path}: class {entry['name']!r} has unknown key(s) {', '.join(map(str, extra))}; "
                f"expected {', '.join(sorted(_CLASS_KEYS))}"
            )
        color = entry.get("color", generic_classes(len(entries))[i].color)
        if not isinstance(color, (list, tuple)) or len(color) != 3 or not all(_is_int(c, 0, 255) for c in color):
            raise DatasetLayoutError(f"{path}: class {entry['name']!r} colour {color} must be three values 0..255")
        value = entry.get("value", i)
        if not _is_int(value, 0, 254) or value in values:
            raise DatasetLayoutError(f"{path}: class {entry['name']!r} pixel value {value} must be unique in 0..254")
        classes.append(ClassInfo(i, str(entry["name"]), tuple(int(c) for c in color)))
        values.append(int(value))
    ignore = [] if data.get("ignore") is None else data["ignore"]
    if not isinstance(ignore, list) or not all(_is_int(v, 0, 255) for v in ignore):
        raise DatasetLayoutError(f"{path}: 'ignore' must be a list of label values 0..255, got {ignore!r}")
    both = sorted(set(values) & set(ignore))
    if both:
        raise DatasetLayoutError(f"{path}: label value(s) {both} are listed both as a class and under 'ignore'")
    return ClassTable(tuple(classes), tuple(values), tuple(sorted(set(int(v) for v in ignore))), path)


def _is_int(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _label_histogram(path: Path) -> np.ndarray:
    return np.bincount(read_label(path).ravel(), minlength=256)


@functools.lru_cache(maxsize=8)
def _scan_label_values(files: tuple[tuple[str, int, int], ...]) -> tuple[np.ndarray, dict[int, str]]:
    """(pixel count per label value, the first file holding each value) over ``files``, given as
    (path, mtime_ns, size) so a cached scan is reused only while the files are unchanged (the
    trainer builds a split again for the run after a --budget-minutes probe)."""
    counts = np.zeros(256, np.int64)
    first: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # decoders release the GIL
        for (name, _, _), hist in zip(files, pool.map(_label_histogram, [Path(f[0]) for f in files]), strict=True):
            for value in np.flatnonzero(hist):
                first.setdefault(int(value), name)
            counts += hist
    counts.setflags(write=False)  # shared by every dataset built from this cache entry
    return counts, first


def scan_label_values(paths: list[Path]) -> tuple[np.ndarray, dict[int, str]]:
    """Pixel count of each label value (256 entries) over the label files, and the first file
    holding each value present."""
    keys = []
    for path in paths:
        stat = path.stat()
        keys.append((str(path), stat.st_mtime_ns, stat.st_size))
    return _scan_label_values(tuple(keys))


def _share(count: int, total: int) -> str:
    percent = 100.0 * count / max(total, 1)
    return f"{percent:.0f} %" if percent >= 1 else f"{percent:.2g} %"


def check_label_values(table: ClassTable, counts: np.ndarray, first: dict[int, str], label_dir: Path) -> None:
    """Every label value found must be a class or ignored; else one error naming each stray value,
    its share of the pixels and a file holding it."""
    known = set(table.values) | set(table.ignore)
    stray = [int(v) for v in np.flatnonzero(counts) if int(v) not in known]
    if not stray:
        return
    total = int(counts.sum())
    listed = ", ".join(f"{v} ({_share(int(counts[v]), total)} of pixels, e.g. {Path(first[v]).name})" for v in stray)
    found = ", ".join(f"{int(v)}: {_share(int(counts[v]), total)}" for v in np.flatnonzero(counts))
    noun = "label value" if len(stray) == 1 else "label values"
    verb = "is" if len(stray) == 1 else "are"
    hint = " (255 is the usual 'unlabelled' value: ignore: [255])" if 255 in stray else ""
    raise DatasetLayoutError(
        f"{noun} {listed} {verb} not in {table.source}: add {'it' if len(stray) == 1 else 'each'} as a class or "
        f"to 'ignore: [...]'{hint}; values found in {label_dir}: {found}"
    )


class CustomDataset(SegmentationDataset):
    """Images in ``root/images/<split>/`` and same-stem PNG labels in ``root/labels/<split>/``, plus
    ``root/classes.yaml`` (see ``load_classes_yaml``). ``split=""`` reads ``images/`` and ``labels/``
    directly. Every label file is scanned once at construction: a value that is neither a class nor
    ignored is an error (``pixel_counts`` keeps the histogram of label values)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        classes_file: str | Path | None = None,
    ) -> None:
        self.root, self.split, self.transform = Path(root), split, transform
        if not self.root.is_dir():
            raise DatasetLayoutError(f"dataset root {self.root} does not exist or is not a folder")
        self.table = load_classes_yaml(classes_file or self.root / "classes.yaml")
        self.classes, self.label_values = self.table.classes, self.table.values
        self._lut = self.table.lookup()
        image_dir = self.root / "images" / split if split else self.root / "images"
        label_dir = self.root / "labels" / split if split else self.root / "labels"
        _require_dir(image_dir, "the images (any of " + ", ".join(IMAGE_SUFFIXES) + ")")
        _require_dir(label_dir, "the label images (8-bit grey or palette PNG, same file stem as each image)")
        self.samples = _pair_by_stem(image_dir, label_dir, "", "images have no label")
        self.pixel_counts, first = scan_label_values([label for _, label in self.samples])
        check_label_values(self.table, self.pixel_counts, first, label_dir)

    def read_labels(self, label_path: Path) -> np.ndarray:
        return self._lut[read_label(label_path)]


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
