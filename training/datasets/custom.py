"""Your own data: image and label folders with a ``classes.yaml`` class table; every label value
must be a class or ignored, checked over every label file when the split is built."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from attanet_model import ClassInfo
from attanet_model.classes import generic_classes

from .common import (
    IMAGE_SUFFIXES,
    DatasetLayoutError,
    SegmentationDataset,
    Transform,
    pair_by_stem,
    read_label,
    require_dir,
)


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
        require_dir(image_dir, "the images (any of " + ", ".join(IMAGE_SUFFIXES) + ")")
        require_dir(label_dir, "the label images (8-bit grey or palette PNG, same file stem as each image)")
        self.samples = pair_by_stem(image_dir, label_dir, "", "images have no label")
        self.pixel_counts, first = scan_label_values([label for _, label in self.samples])
        check_label_values(self.table, self.pixel_counts, first, label_dir)

    def read_labels(self, label_path: Path) -> np.ndarray:
        return self._lut[read_label(label_path)]
