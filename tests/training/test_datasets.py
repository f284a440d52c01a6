"""Dataset parsing on generated trees, each layout error, and the labelId -> trainId mapping."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label, labels, trainId2label

from attanet_training.cityscapes_labels import LABEL_TO_TRAIN, TRAIN_TO_LABEL, label_ids_to_train_ids
from attanet_training.datasets import (
    ADE20KDataset,
    CityscapesDataset,
    CustomDataset,
    DatasetLayoutError,
    build_dataset,
    read_train_ids,
)


def test_cityscapes_samples_pair_images_with_their_labels(mini_cityscapes):
    ds = CityscapesDataset(mini_cityscapes, "train")
    assert len(ds) == 6 and len(ds.samples) == 6
    for image_path, label_path in ds.samples:
        stem = CityscapesDataset.stem(image_path)
        assert label_path.name == f"{stem}_gtFine_labelIds.png"
        assert label_path.parent.name == image_path.parent.name  # same city
    image, train_ids = ds[0]
    assert image.dtype == np.uint8 and image.shape == (64, 128, 3)
    assert train_ids.dtype == np.uint8 and train_ids.shape == (64, 128)
    assert set(np.unique(train_ids)) <= set(range(19)) | {255}


def test_label_mapping_matches_cityscapesscripts():
    every_id = np.arange(256, dtype=np.uint8).reshape(16, 16)
    mapped = label_ids_to_train_ids(every_id)
    for label_id in range(256):
        expected = id2label[label_id].trainId if label_id in id2label else 255
        expected = 255 if expected in (-1, 255) else expected
        assert mapped.flat[label_id] == expected, (label_id, id2label.get(label_id))
    # the 19 evaluation classes round-trip trainId -> labelId -> trainId
    for train_id in range(19):
        assert TRAIN_TO_LABEL[train_id] == trainId2label[train_id].id
        assert LABEL_TO_TRAIN[TRAIN_TO_LABEL[train_id]] == train_id
    assert sum(1 for lab in labels if 0 <= lab.trainId < 255) == 19


def test_read_train_ids_agrees_with_the_written_train_id_files(mini_cityscapes):
    ds = CityscapesDataset(mini_cityscapes, "val")
    for _, label_path in ds.samples:
        ours = read_train_ids(label_path)
        raw = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        official = np.vectorize(lambda i: 255 if id2label[int(i)].trainId in (-1, 255) else id2label[int(i)].trainId)(
            raw
        )
        np.testing.assert_array_equal(ours, official.astype(np.uint8))
        written = cv2.imread(str(label_path).replace("_labelIds", "_labelTrainIds"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(ours, written)
        assert np.array_equal(ds.read_train_ids(label_path), ours)


def _copy(root, tmp_path):
    dst = tmp_path / "cs"
    shutil.copytree(root, dst)
    return dst


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda r: shutil.rmtree(r / "leftImg8bit"), "missing folder .*leftImg8bit"),
        (
            lambda r: shutil.rmtree(r / "leftImg8bit" / "val"),
            "missing folder .*leftImg8bit/val.*contains \\['train'\\]",
        ),
        (lambda r: shutil.rmtree(r / "gtFine"), "missing folder .*gtFine: expected Cityscapes fine labels"),
        (lambda r: shutil.rmtree(r / "gtFine" / "val"), "missing folder .*gtFine/val"),
        (
            lambda r: next((r / "gtFine" / "val").glob("*/*_labelIds.png")).unlink(),
            "1 of 3 images .* have no label; first missing: .*_gtFine_labelIds.png",
        ),
        (lambda r: [p.unlink() for p in (r / "leftImg8bit" / "val").glob("*/*.png")], "no \\*_leftImg8bit.png images"),
    ],
)
def test_cityscapes_layout_errors_name_what_is_missing(mini_cityscapes, tmp_path, break_it, expected):
    root = _copy(mini_cityscapes, tmp_path)
    break_it(root)
    with pytest.raises(DatasetLayoutError, match=expected):
        CityscapesDataset(root, "val")


def test_missing_root_and_unknown_kind(tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        CityscapesDataset(tmp_path / "nope", "val")
    with pytest.raises(DatasetLayoutError, match="unknown dataset kind 'kitti'"):
        build_dataset("kitti", tmp_path, "val")


def test_test_split_without_labels_is_allowed_when_asked(mini_cityscapes, tmp_path):
    root = _copy(mini_cityscapes, tmp_path)
    shutil.rmtree(root / "gtFine")
    ds = CityscapesDataset(root, "val", require_labels=False)
    assert len(ds) == 3 and all(label is None for _, label in ds.samples)
    assert (ds[0][1] == 255).all()


def _ade_tree(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    for split in ("training", "validation"):
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(
            str(root / "images" / "validation" / f"ADE_val_{i:08d}.jpg"), rng.integers(0, 255, (32, 48, 3), np.uint8)
        )
        cv2.imwrite(
            str(root / "annotations" / "validation" / f"ADE_val_{i:08d}.png"),
            np.tile(np.arange(0, 151, 50, dtype=np.uint8), (32, 12)),
        )
    return root


def test_ade20k_maps_other_to_ignore_and_shifts_classes(tmp_path):
    root = _ade_tree(tmp_path)
    ds = ADE20KDataset(root, "val")
    assert len(ds) == 2 and len(ds.classes) == 150 and ds.classes[0].name == "wall"
    _, labels = ds[0]
    assert set(np.unique(labels)) == {255, 49, 99, 149}
    shutil.rmtree(root / "annotations" / "validation")
    with pytest.raises(DatasetLayoutError, match="annotations/validation"):
        ADE20KDataset(root, "val")


def test_custom_dataset_maps_pixel_values_through_the_classes_yaml(tmp_path):
    root = tmp_path / "custom"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.yaml").write_text(
        "classes:\n  - {name: floor, color: [10, 20, 30], value: 7}\n  - {name: wall, color: [200, 0, 0], value: 9}\n"
        "ignore: [0, 3]\n"
    )
    cv2.imwrite(str(root / "images" / "train" / "a.jpg"), np.zeros((16, 16, 3), np.uint8))
    cv2.imwrite(str(root / "labels" / "train" / "a.png"), np.array([[7, 9, 3, 0]] * 16, np.uint8).repeat(4, 1))
    ds = CustomDataset(root, "train")
    assert [c.name for c in ds.classes] == ["floor", "wall"] and ds.classes[1].color == (200, 0, 0)
    _, labels = ds[0]
    np.testing.assert_array_equal(labels[0, ::4], [0, 1, 255, 255])
    cv2.imwrite(str(root / "images" / "train" / "b.png"), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(DatasetLayoutError, match="1 of 2 images have no label; first missing: .*b.png"):
        CustomDataset(root, "train")
    (root / "classes.yaml").write_text("names: [a, b]\n")
    with pytest.raises(DatasetLayoutError, match="must contain 'classes:'"):
        CustomDataset(root, "train")
