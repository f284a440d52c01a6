"""The synthetic dataset: layout, determinism, class coverage, temporal coherence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from attanet_training.cityscapes_labels import label_ids_to_train_ids
from attanet_training.synth import generate_dataset, render_frame, render_sequence


def test_writes_the_cityscapes_layout_and_is_deterministic(tmp_path):
    a = generate_dataset(tmp_path / "a", 2, 64, 128, seed=3, split="val")
    b = generate_dataset(tmp_path / "b", 2, 64, 128, seed=3, split="val")
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert a[0].relative_to(tmp_path / "a").as_posix() == "leftImg8bit/val/synth3/synth3_000000_000019_leftImg8bit.png"
    gt = tmp_path / "a" / "gtFine" / "val" / "synth3"
    for suffix in ("labelIds", "labelTrainIds", "color"):
        assert (gt / f"synth3_000001_000019_gtFine_{suffix}.png").is_file()
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    other = generate_dataset(tmp_path / "c", 1, 64, 128, seed=4, split="val")
    assert other[0].read_bytes() != a[0].read_bytes()
    label = cv2.imread(str(gt / "synth3_000000_000019_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED)
    assert label.shape == (64, 128) and label.dtype == np.uint8


def test_scenes_cover_all_19_classes_and_colour_alone_does_not_give_the_class():
    seen = set()
    rgb_by_class: dict[int, list] = {}
    for i in range(4):
        rgb, label_ids = render_frame(seed=0, index=i, height=256, width=512)
        train = label_ids_to_train_ids(label_ids)
        seen |= set(np.unique(train).tolist()) - {255}
        for c in (0, 13):  # road and car
            rgb_by_class.setdefault(c, []).append(rgb[train == c].reshape(-1, 3))
    assert seen == set(range(19)), sorted(set(range(19)) - seen)
    # textured: a class is not one flat colour
    road = np.concatenate(rgb_by_class[0]).astype(float)
    assert road.std(0).mean() > 5


def test_sequence_frames_are_temporally_coherent():
    frames = [label_ids_to_train_ids(lab) for _, lab in render_sequence(seed=2, num=3, height=64, width=128)]
    independent = [label_ids_to_train_ids(render_frame(seed=2, index=i, height=64, width=128)[1]) for i in range(2)]
    consecutive = np.mean(frames[0] == frames[1])
    unrelated = np.mean(independent[0] == independent[1])
    assert consecutive > 0.8 and consecutive > unrelated + 0.1, (consecutive, unrelated)


def test_bad_arguments_say_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="num must be >= 1, got 0"):
        generate_dataset(tmp_path, 0)
    with pytest.raises(ValueError, match="split must be train, val or test, got 'dev'"):
        generate_dataset(tmp_path, 1, 64, 128, split="dev")


def test_parallel_jobs_write_the_same_files_as_one_process(tmp_path):
    serial = generate_dataset(tmp_path / "one", 3, 64, 128, seed=7, split="train", jobs=1)
    parallel = generate_dataset(tmp_path / "two", 3, 64, 128, seed=7, split="train", jobs=2)
    assert [p.name for p in parallel] == [p.name for p in serial]  # in index order
    for one in (tmp_path / "one").rglob("*.png"):
        assert one.read_bytes() == (tmp_path / "two" / one.relative_to(tmp_path / "one")).read_bytes(), one.name
    with pytest.raises(ValueError, match="jobs must be >= 1, got 0"):
        generate_dataset(tmp_path, 1, 64, 128, jobs=0)


@pytest.mark.parametrize("layout", ["cityscapes", "custom"])
def test_synth_on_a_full_disk_says_which_file_and_leaves_no_empty_png(tmp_path, layout):
    """cv2.imwrite reports success for a PNG a full disk left empty: synth wrote 0-byte frames and exited 0."""
    import subprocess
    import sys

    from storage_faults import files_under, full_disk

    disk = tmp_path / "disk"
    with full_disk(disk):
        done = subprocess.run(
            [sys.executable, "-m", "attanet_cli", "synth", "--out", str(disk / "data"), "--num", "2"]
            + ["--size", "64x128", "--layout", layout, "--no-progress"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        left = files_under(disk)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "no space left on" in line and str(disk) in line, line
    assert not [name for name, size in left.items() if size == 0 or name.rsplit("/", 1)[-1].startswith(".")], left
