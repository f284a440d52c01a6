"""Frame readers (folder, video, rosbag2), the viewer command on each, and the live-source plumbing."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from gui_helpers import street_image, write_folder

from attanet_gui.cli import is_topic
from attanet_gui.readers import BagReader, FolderReader, VideoReader, open_reader
from attanet_gui.recorder import VideoRecorder
from attanet_gui.ros_source import StampPairer, mono8_array, parse_class_info
from attanet_model import CITYSCAPES_CLASSES
from attanet_ros.bags.storage import BagWriter, header_stamp_ns, image_msg, restamp


def write_bag(path, images, compressed_too: bool = False):
    with BagWriter(path, "mcap") as bag:
        for i, image in enumerate(images):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            bag.write("/cam/gt_labels", stamp, image_msg(np.zeros(image.shape[:2], np.uint8), "mono8", stamp, "cam"))
            bag.write("/cam/image_raw", stamp, image_msg(image[:, :, ::-1].copy(), "rgb8", stamp, "cam"))
    return path


def test_folder_reader_sorted_and_recursive(tmp_path):
    images = write_folder(tmp_path / "a" / "city", count=3)
    reader = open_reader(tmp_path / "a")
    assert isinstance(reader, FolderReader) and len(reader) == 3
    got = list(reader)
    assert [g.name for g in got] == [f"city/frame_{i:03d}.png" for i in range(3)]
    assert all(np.array_equal(g.image_bgr, im) for g, im in zip(got, images, strict=True))
    single = open_reader(tmp_path / "a" / "city" / "frame_001.png")
    assert [g.name for g in single] == ["frame_001.png"]
    with pytest.raises(ValueError, match="no images"):
        FolderReader(tmp_path / "a", "*.jpg")


def test_video_round_trip_through_the_recorder(tmp_path):
    frames = [street_image(64, 128, seed=i)[:, :, ::-1] for i in range(5)]  # RGB into the recorder
    with VideoRecorder(tmp_path / "clip.avi", fps=12) as recorder:
        for frame in frames:
            recorder.write(frame)
    reader = open_reader(tmp_path / "clip.avi")
    assert isinstance(reader, VideoReader) and reader.fps == pytest.approx(12)
    got = list(reader)
    assert len(got) == 5 and got[0].image_bgr.shape == (64, 128, 3)
    assert np.abs(got[2].image_bgr.astype(int) - frames[2][:, :, ::-1]).mean() < 12  # MJPG is lossy
    with pytest.raises(ValueError, match="cannot open the video"):
        VideoReader(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="must end in one of"):
        VideoRecorder(tmp_path / "clip.gif")


def test_bag_reader_picks_the_camera_and_decodes_like_the_node(tmp_path):
    images = [street_image(64, 128, seed=i) for i in range(3)]
    bag = write_bag(tmp_path / "bag", images)
    reader = open_reader(bag)
    assert isinstance(reader, BagReader) and reader.topic == "/cam/image_raw" and len(reader) == 3
    got = list(reader)
    assert all(np.array_equal(g.image_bgr, im) for g, im in zip(got, images, strict=True))  # rgb8 -> BGR
    assert got[1].stamp_ns - got[0].stamp_ns == 100_000_000
    with pytest.raises(ValueError, match="'/nope'.*gt_labels"):
        BagReader(bag, "/nope")


def test_viewer_command_screenshots_a_bag(tmp_path, model_path):
    bag = write_bag(tmp_path / "bag", [street_image(128, 256, seed=i) for i in range(2)])
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attanet_cli",
            "viewer",
            "--source",
            str(bag),
            "--model",
            str(model_path),
            "--view",
            "labels",
            "--screenshot",
            str(out),
            "--threads",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"screenshot: {out}" in proc.stdout and proc.stderr.strip() == ""  # no Qt noise
    shot = cv2.imread(str(out))
    assert shot.shape == (720, 1280, 3)
    palette_bgr = {tuple(c.color[::-1]) for c in CITYSCAPES_CLASSES}
    pixels = {tuple(p) for p in shot[200:500, 100:900].reshape(-1, 3)}
    assert len(pixels & palette_bgr) >= 2  # the labels view is painted in class colours


def test_topic_or_path():
    assert is_topic("/camera/image_raw") and is_topic("/image")
    assert not is_topic("/tmp/frames") and not is_topic("/data/drive.mp4") and not is_topic("frames")


def test_stamp_pairing_and_message_helpers():
    pairer = StampPairer(("camera", "labels"), max_pending=2)
    assert pairer.add(1, "camera", "c1") is None
    assert pairer.add(2, "camera", "c2") is None
    assert pairer.add(2, "labels", "l2") == {"camera": "c2", "labels": "l2"}
    assert pairer.given_up == 1  # stamp 1 can no longer complete
    for stamp in (3, 4, 5):
        pairer.add(stamp, "camera", "c")
    assert pairer.given_up == 2  # only max_pending stamps are kept

    padded = np.arange(3 * 8, dtype=np.uint8).reshape(3, 8)
    msg = SimpleNamespace(encoding="mono8", height=3, width=6, step=8, data=padded.tobytes())
    assert np.array_equal(mono8_array(msg), padded[:, :6])
    with pytest.raises(ValueError, match="'rgb8'"):
        mono8_array(SimpleNamespace(encoding="rgb8", height=1, width=1, step=3, data=b"abc"))
    classes = parse_class_info('{"classes": [{"id": 0, "name": "road", "color": [128, 64, 128]}]}')
    assert classes == (CITYSCAPES_CLASSES[0],)
    with pytest.raises(ValueError, match="class_info"):
        parse_class_info("{}")

    raw = bytes([0, 1, 0, 0]) + (5).to_bytes(4, "little") + (7).to_bytes(4, "little") + b"rest"
    moved = restamp(raw, 12_000_000_034)
    assert header_stamp_ns(moved) == 12_000_000_034 and moved[12:] == b"rest"


def test_viewer_on_a_folder_of_undecodable_images_exits_2_naming_them(tmp_path, model_path):
    folder = tmp_path / "broken"
    write_folder(folder, count=1, height=64, width=128)
    data = (folder / "frame_000.png").read_bytes()
    (folder / "frame_000.png").write_bytes(data[: len(data) // 2])  # truncated
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_bytes(b"not an image" * 10)
    out = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "attanet_cli", "viewer", "--source", str(folder), "--model", str(model_path)]
        + ["--screenshot", str(out), "--timeout", "600", "--threads", "1"],
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=300,  # well under --timeout: the viewer must not wait for frames that cannot come
    )
    assert proc.returncode == 2, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("attanet viewer:")]
    assert len(ours) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert ours[0].startswith(f"attanet viewer: no frame of {folder} could be shown: skipped 3 frames (")
    for name in ("empty.jpg", "frame_000.png", "notes.png"):
        assert f"{name}: OpenCV cannot decode it" in ours[0]
    assert not out.exists()
