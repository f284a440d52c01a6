"""The synthetic street scenes as a *custom* dataset: what a user's own labelled folder looks like.

``generate_custom_dataset`` renders ``synth.render_frame`` scenes and writes them in the custom
layout that ``CustomDataset`` reads (``images/<split>/*.png``, ``labels/<split>/*.png``,
``classes.yaml``), with three classes as a robotics user might label them: background (value 0:
everything else), road (1) and vehicle (2: car, truck, bus, train, motorcycle, bicycle), and
value 255 for the pixels the synthetic set leaves unlabelled (ego vehicle, parking), listed under
``ignore``. Labels are palette (indexed, mode "P") PNGs as VOC and most labelling tools write
them, or plain 8-bit grey with ``palette=False``. The same seed gives the same files.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from attanet_model.atomic_write import write_bytes_atomic, write_png

from .cityscapes_labels import label_ids_to_train_ids
from .synth import render_frame
from .synth.dataset import check_frames

# (name, colour, label value); Cityscapes trainIds mapped to each value below.
CUSTOM_CLASSES = (("background", (0, 0, 0), 0), ("road", (128, 64, 128), 1), ("vehicle", (0, 0, 142), 2))
IGNORE_VALUE = 255
_ROAD_TRAIN_IDS = (0,)
_VEHICLE_TRAIN_IDS = (13, 14, 15, 16, 17, 18)  # car, truck, bus, train, motorcycle, bicycle


def _value_table() -> np.ndarray:
    """Cityscapes trainId -> custom label value (0 background, 1 road, 2 vehicle, 255 stays ignore)."""
    table = np.zeros(256, np.uint8)
    table[list(_ROAD_TRAIN_IDS)] = 1
    table[list(_VEHICLE_TRAIN_IDS)] = 2
    table[IGNORE_VALUE] = IGNORE_VALUE
    return table


def classes_yaml_text() -> str:
    """The ``classes.yaml`` of the generated set."""
    entries = [{"name": name, "color": list(color), "value": value} for name, color, value in CUSTOM_CLASSES]
    return yaml.safe_dump({"classes": entries, "ignore": [IGNORE_VALUE]}, default_flow_style=None, sort_keys=False)


def write_palette_png(path: str | Path, values: np.ndarray, colors: dict[int, tuple[int, int, int]]) -> None:
    """An HxW uint8 label image as an indexed PNG (mode "P"): pixel = value, palette = colours."""
    image = Image.fromarray(values)  # mode "L"; putpalette makes it "P" with the same indices
    lut = np.zeros((256, 3), np.uint8)
    for value, color in colors.items():
        lut[value] = color
    image.putpalette(lut.flatten().tolist())
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    write_bytes_atomic(path, encoded.getvalue())


def generate_custom_dataset(
    out_dir: str | Path,
    num: int,
    height: int = 256,
    width: int = 512,
    seed: int = 0,
    split: str = "train",
    palette: bool = True,
) -> list[Path]:
    """Write ``num`` scenes (seed ``seed``) to ``out_dir/images/<split>`` and ``labels/<split>``
    plus ``out_dir/classes.yaml``; return the image paths. Use another seed for each split."""
    check_frames(num, height, width)
    out_dir = Path(out_dir)
    image_dir, label_dir = out_dir / "images" / split, out_dir / "labels" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / "classes.yaml", classes_yaml_text().encode())
    table = _value_table()
    colors = {value: color for _, color, value in CUSTOM_CLASSES}
    paths = []
    for index in range(num):
        rgb, label_ids = render_frame(seed, index, height, width)
        values = table[label_ids_to_train_ids(label_ids)]
        stem = f"{split}_{seed}_{index:04d}"
        image_path = image_dir / f"{stem}.png"
        write_png(image_path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if palette:
            write_palette_png(label_dir / f"{stem}.png", values, colors)
        else:
            write_png(label_dir / f"{stem}.png", values)
        paths.append(image_path)
    return paths
