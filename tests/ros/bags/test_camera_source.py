"""attanet camera and bag-make --source: a video file or an unlabelled image folder as camera frames,
received by a subscriber in another process over Fast DDS, or written to a bag; undecodable files named."""

from __future__ import annotations

import subprocess
import time

import cv2
import numpy as np
import pytest
from bag_helpers import IMAGE_TOPIC, INFO_TOPIC, REPO, attanet_command, ros_env, run_cli, run_json

from attanet_ros.bags.storage import BagReader, deserialize, image_from_bag_msg

COUNT, HEIGHT, WIDTH = 5, 48, 64


def frame(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """COUNT PNGs and, sorted between them, one file that is not an image."""
    root = tmp_path / "frames"
    root.mkdir()
    for i in range(COUNT):
        assert cv2.imwrite(str(root / f"f{i:02d}.png"), frame(i))
    (root / "f02_broken.png").write_bytes(b"not a png at all")
    return root


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for i in range(COUNT):
        writer.write(np.full((HEIGHT, WIDTH, 3), 40 * i, np.uint8))
    writer.release()
    return path


def video_frames(path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    while (read := capture.read())[0]:
        frames.append(read[1])
    return frames


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_camera_plays_to_a_subscriber_in_another_process(kind, folder, video, domain_id) -> None:
    """The camera is a child process; this process subscribes (reliable, before it starts) to Image and
    CameraInfo over Fast DDS with the shipped profile and gets every frame, in order, stamps increasing."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    source = folder if kind == "folder" else video
    expected = [frame(i) for i in range(COUNT)] if kind == "folder" else video_frames(video)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node("camera_test_subscriber", context=context)
    try:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
        images: list = []
        infos: list = []
        node.create_subscription(Image, IMAGE_TOPIC, images.append, qos)
        node.create_subscription(CameraInfo, INFO_TOPIC, infos.append, qos)
        camera = subprocess.Popen(
            attanet_command("camera", "--source", source, "--rate", 20, "--wait-subscribers", 30, "--frame-id", "cam"),
            env=ros_env(domain_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 60
        while (len(images) < COUNT or len(infos) < COUNT) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        executor.shutdown()
        out, err = camera.communicate(timeout=60)
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert camera.returncode == 0, err
    assert f"published {COUNT} frames" in out
    if kind == "folder":
        assert "skipped f02_broken.png: OpenCV cannot decode it" in err and "(1 skipped)" in out
    assert len(images) == len(infos) == COUNT
    for msg, want in zip(images, expected, strict=True):
        assert (msg.encoding, msg.height, msg.width, msg.header.frame_id) == ("bgr8", HEIGHT, WIDTH, "cam")
        np.testing.assert_array_equal(np.asarray(msg.data).reshape(want.shape), want)
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in images]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in infos] == stamps
    assert {(i.height, i.width, i.k[0], i.header.frame_id) for i in infos} == {(HEIGHT, WIDTH, 0.0, "cam")}


def test_camera_refuses_what_it_cannot_play(tmp_path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run_cli(capsys, "camera", "--source", tmp_path / "notes.txt")
    assert code == 2 and "neither a folder of images" in err
    code, _, err = run_cli(capsys, "camera", "--source", tmp_path, "--rate", "0")
    assert code == 2 and "--rate must be > 0 Hz, got 0.0" in err
    code, _, err = run_cli(capsys, "camera", "--source", tmp_path)
    assert code == 2 and f"no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, .ppm) under {tmp_path}" in err


def test_bag_make_source_folder_skips_and_names_undecodable_files(folder, tmp_path, capsys) -> None:
    out = tmp_path / "bag"
    code, summary, err = run_json(
        capsys, "bag-make", "--source", folder, "--out", out, "--rate", 5, "--start-time", 100, "--no-progress"
    )
    assert code == 0, err
    assert summary["frames"] == COUNT and [s["name"] for s in summary["skipped"]] == ["f02_broken.png"]
    assert "skipped f02_broken.png" in err
    with BagReader(out) as reader:
        assert set(reader.topics) == {IMAGE_TOPIC, INFO_TOPIC}  # no ground truth invented
        msgs = [deserialize(m) for m in reader.messages([IMAGE_TOPIC])]
        infos = [deserialize(m) for m in reader.messages([INFO_TOPIC])]
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]
    assert stamps == [100 * 10**9 + i * 200_000_000 for i in range(COUNT)]
    for i, m in enumerate(msgs):
        np.testing.assert_array_equal(image_from_bag_msg(m, "sensor_msgs/msg/Image"), frame(i))
    assert [(i.height, i.width, float(i.k[0])) for i in infos] == [(HEIGHT, WIDTH, 0.0)] * COUNT  # uncalibrated


def test_bag_make_source_refuses_dataset_flags(folder, tmp_path, capsys) -> None:
    code, _, err = run_cli(capsys, "bag-make", "--source", folder, "--out", tmp_path / "b", "--split", "train")
    assert code == 2 and "--split describe a dataset; --source plays unlabelled files" in err
    assert not (tmp_path / "b").exists()


def test_bag_make_source_video_takes_its_rate_and_frames(video, tmp_path, capsys) -> None:
    out = tmp_path / "bag"
    code, summary, err = run_json(capsys, "bag-make", "--source", video, "--out", out, "--storage", "sqlite3",
                                  "--start-time", 0, "--no-progress")  # fmt: skip
    assert code == 0, err
    assert (summary["frames"], summary["rate_hz"], summary["skipped"]) == (COUNT, 12.0, [])
    capture, expected = cv2.VideoCapture(str(video)), []
    while (read := capture.read())[0]:
        expected.append(read[1])
    with BagReader(out) as reader:
        got = [image_from_bag_msg(deserialize(m), m.msgtype) for m in reader.messages([IMAGE_TOPIC])]
    assert len(got) == len(expected) == COUNT
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_a_video_cut_short_names_the_frames_it_lost(tmp_path, capsys) -> None:
    whole, cut, total = tmp_path / "whole.avi", tmp_path / "cut.avi", 10
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (WIDTH, HEIGHT))
    for i in range(total):
        writer.write(frame(i))  # noise: every frame takes its share of the file
    writer.release()
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    readable = len(video_frames(cut))
    assert 0 < readable < total  # the file really is damaged, and OpenCV still reads its start
    code, summary, err = run_json(capsys, "bag-make", "--source", cut, "--out", tmp_path / "b", "--no-progress")
    assert code == 0, err
    assert summary["frames"] == readable
    assert summary["skipped"] == [
        {
            "name": f"cut.avi#{readable}..#{total - 1}",
            "reason": f"the video ends after {readable} of the {total} frames its header announces (truncated or "
            "damaged; the rest cannot be decoded)",
        }
    ]
