"""attanet bag-make: what lands in the bag is the dataset, pixel for pixel, with shared stamps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_helpers import (
    FRAMES,
    HEIGHT,
    IMAGE_TOPIC,
    INFO_TOPIC,
    LABEL_TOPIC,
    START_S,
    WIDTH,
    run_cli,
    run_json,
    stamp_of,
)

from attanet_model import CITYSCAPES_CLASSES
from attanet_ros.bags.storage import (
    COMPRESSED_IMAGE,
    BagReader,
    class_info_topic,
    deserialize,
    header_stamp_ns,
    image_from_bag_msg,
)
from attanet_ros.bags.storage import labels_from_bag_msg as labels_of

CLASS_TABLE_TOPIC = class_info_topic(LABEL_TOPIC)  # /camera/class_info, beside the labels


def _by_topic(bag: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    with BagReader(bag) as reader:
        for msg in reader.messages():
            out.setdefault(msg.topic, []).append(msg)
        assert reader.damage is None
    return out


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_frames_labels_and_camera_info_match_the_dataset(made_bags, dataset, storage: str) -> None:
    msgs = _by_topic(made_bags[storage])
    assert sorted(msgs) == sorted([INFO_TOPIC, LABEL_TOPIC, CLASS_TABLE_TOPIC, IMAGE_TOPIC])
    (table,) = msgs[CLASS_TABLE_TOPIC]
    assert table.log_time == stamp_of(0)
    with BagReader(made_bags[storage]) as reader:
        assert reader.class_table(CLASS_TABLE_TOPIC) == dataset.classes == CITYSCAPES_CLASSES
    for i, (image_path, label_path) in enumerate(dataset.samples):
        image, labels, info = (msgs[t][i] for t in (IMAGE_TOPIC, LABEL_TOPIC, INFO_TOPIC))
        for m in (image, labels, info):
            assert header_stamp_ns(m.raw) == m.log_time == stamp_of(i)
        decoded = deserialize(image)
        assert (decoded.encoding, decoded.header.frame_id) == ("bgr8", "camera")
        np.testing.assert_array_equal(image_from_bag_msg(decoded, image.msgtype), cv2.imread(str(image_path)))
        np.testing.assert_array_equal(labels_of(deserialize(labels), labels.msgtype), dataset.read_labels(label_path))
        cam = deserialize(info)
        assert (cam.height, cam.width) == (HEIGHT, WIDTH)
        # Cityscapes' intrinsics scaled from 2048x1024 to the frame: fx 2262.52 * 256/2048
        np.testing.assert_allclose(cam.k[[0, 2, 4, 5]], [282.815, 137.1225, 283.1625, 64.142125])


@pytest.mark.parametrize(
    ("encoding", "compress"), [("rgb8", "none"), ("mono8", "none"), ("bgr8", "png"), ("bgr8", "jpeg")]
)
def test_encodings_and_compression(tmp_path: Path, capsys, dataset_root, dataset, encoding, compress) -> None:
    bag = tmp_path / "bag"
    code, summary, err = run_json(
        capsys,
        "bag-make",
        "--data-root",
        dataset_root,
        "--split",
        "val",
        "--out",
        bag,
        "--encoding",
        encoding,
        "--compress",
        compress,
        "--limit",
        2,
        "--start-time",
        START_S,
        "--no-progress",
    )
    assert code == 0, err
    topic = IMAGE_TOPIC if compress == "none" else f"{IMAGE_TOPIC}/compressed"
    assert summary["frames"] == 2 and summary["topics"][topic] == 2
    msg = _by_topic(bag)[topic][1]
    decoded = deserialize(msg)
    assert msg.msgtype == (COMPRESSED_IMAGE if compress != "none" else "sensor_msgs/msg/Image")
    if compress != "none":
        assert decoded.format == f"bgr8; {compress} compressed bgr8"
    else:
        assert decoded.encoding == encoding
    original = cv2.imread(str(dataset.samples[1][0]))
    if encoding == "mono8":
        original = cv2.cvtColor(cv2.cvtColor(original, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    got = image_from_bag_msg(decoded, msg.msgtype)
    if compress == "jpeg":
        assert np.abs(got.astype(int) - original).mean() < 6  # lossy, but the same picture
    else:
        np.testing.assert_array_equal(got, original)


def test_summary_and_metadata_agree(made_bags, capsys, tmp_path: Path, dataset_root) -> None:
    code, out, _ = run_cli(
        capsys,
        "bag-make",
        "--data-root",
        dataset_root,
        "--split",
        "val",
        "--out",
        tmp_path / "b",
        "--rate",
        20,
        "--no-progress",
    )
    assert code == 0
    assert out.startswith(f"wrote {FRAMES} frames to {tmp_path / 'b'} [mcap], 0.2 s at 20 Hz")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data-root", "{tmp}/nowhere"], "dataset root {tmp}/nowhere does not exist"),
        (["--split", "train"], "missing folder"),
        (["--rate", "0"], "rate must be > 0 Hz, got 0.0"),
        (["--limit", "0"], "--limit must be >= 1, got 0"),
        (["--topic-prefix", "camera"], "topic prefix must be absolute"),
        (["--out", "{existing}"], "exists already"),
        (["--start-time", "-5"], "start time must be in 0..2147483647 seconds since the epoch"),
        (["--start-time", "2147483647"], "end at 2147483648 s, past a ROS stamp's range"),
        (["--dataset", "custom", "--classes", "{tmp}/broken.yaml"], "cannot read the class table {tmp}/broken.yaml"),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(capsys, tmp_path, dataset_root, made_bags, args, message) -> None:
    fill = {"tmp": tmp_path, "existing": made_bags["mcap"]}
    (tmp_path / "broken.yaml").write_text("classes: [{name: floor\n")
    argv = {"--data-root": str(dataset_root), "--split": "val", "--out": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[flag] = value.format(**fill)
    flat = [x for kv in argv.items() for x in kv]
    code, out, err = run_cli(capsys, "bag-make", *flat, "--no-progress")
    assert code == 2
    assert err.startswith("attanet bag-make: ") and message.format(**fill) in err
    assert "Traceback" not in err and err.count("\n") <= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yaml"]  # nothing written, not even a temp folder


def test_parent_folders_of_out_are_created(capsys, tmp_path, dataset_root) -> None:
    bag = tmp_path / "new" / "folders" / "bag"
    code, _, err = run_cli(capsys, "bag-make", "--data-root", dataset_root, "--out", bag, "--limit", 1, "--no-progress")
    assert code == 0, err
    with BagReader(bag) as reader:
        assert reader.topics[IMAGE_TOPIC].count == 1
    assert sorted(p.name for p in bag.parent.iterdir()) == ["bag"]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_failure_half_way_leaves_no_bag(capsys, tmp_path, dataset_root, storage) -> None:
    """The third image is unreadable: the first two were written, but no half bag is left behind."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(dataset_root, root)
    third = sorted((root / "leftImg8bit" / "val").rglob("*.png"))[2]
    third.write_bytes(b"not a png")
    out = tmp_path / "out" / "bag"
    code, _, err = run_cli(capsys, "bag-make", "--data-root", root, "--out", out, "--storage", storage, "--no-progress")
    assert code == 1
    assert f"frame 2 ({third.name}): cannot read image {third}" in err and f"nothing was written to {out}" in err
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("fault", ["full-at-start", "full-half-way", "read-only"])
def test_a_full_or_read_only_disk_is_one_line_exit_2_and_leaves_nothing(capsys, tmp_path, dataset_root, storage, fault):
    """A full disk was a traceback from the MCAP writer or sqlite ('database or disk is full'), rc 1."""
    from storage_faults import files_under, full_disk, read_only_folder

    disk = tmp_path / "disk"
    faulty = (
        read_only_folder(disk) if fault == "read-only" else full_disk(disk, 0 if fault == "full-at-start" else 200_000)
    )
    with faulty:
        out = disk / "bags" / "drive"
        code, _, err = run_cli(
            capsys, "bag-make", "--data-root", dataset_root, "--out", out, "--storage", storage, "--no-progress"
        )
        left = files_under(disk)
        folders = [p for p in disk.rglob("*") if p.is_dir()]
    assert code == 2, err
    [line] = err.strip().splitlines()
    cause = f"{disk} is on a read-only file system" if fault == "read-only" else f"no space left on {disk / 'bags'}"
    assert line.startswith("attanet bag-make: cannot ") and cause in line, line
    assert "Traceback" not in err
    assert left == {} and all(not p.name.endswith(".partial") for p in folders)
