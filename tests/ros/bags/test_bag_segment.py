"""attanet bag-segment: a drive without ground truth segmented into a new bag with the camera's stamps,
read back with the project's reader and with rosbags itself; bad frames named, output atomic."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from bag_helpers import FRAMES, IMAGE_TOPIC, INFO_TOPIC, run_cli, run_json, stamp_of
from rosbags.highlevel import AnyReader

from attanet_ros.bags.storage import BagReader, BagWriter, deserialize, image_msg
from attanet_ros.bags.storage import labels_from_bag_msg as labels_of

OUTPUTS = ("/attanet/labels", "/attanet/color", "/attanet/confidence")


@pytest.fixture(scope="module")
def images(dataset) -> list[np.ndarray]:
    return [cv2.imread(str(i)) for i, _ in dataset.samples]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_segmented_bag_has_the_camera_stamps_and_the_models_labels(made_bags, capsys, tmp_path, images, segmenter,
                                                                   storage) -> None:  # fmt: skip
    out = tmp_path / "seg"
    code, summary, err = run_json(capsys, "bag-segment", made_bags[storage], out, "--no-progress")
    assert code == 0, err
    assert (summary["frames"], summary["segmented"], summary["miou"]) == (FRAMES, FRAMES, None)
    assert summary["latency_ms"]["count"] == FRAMES and summary["latency_ms"]["p50"] > 0
    with BagReader(out) as reader:  # the project's reader
        assert reader.storage == storage
        counts = {t: i.count for t, i in reader.topics.items()}
        by_topic: dict[str, list] = {}
        for msg in reader.messages():
            by_topic.setdefault(msg.topic, []).append(msg)
        assert reader.class_table("/attanet/class_info") == segmenter.classes
    assert counts == {IMAGE_TOPIC: FRAMES, INFO_TOPIC: FRAMES, "/attanet/class_info": 1} | dict.fromkeys(
        OUTPUTS, FRAMES
    )
    for i, bgr in enumerate(images):
        result = segmenter.segment(bgr)
        decoded = {t: deserialize(by_topic[t][i]) for t in OUTPUTS}
        for t, m in decoded.items():
            assert (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m.header.frame_id) == (stamp_of(i), "camera")
            assert by_topic[t][i].log_time == stamp_of(i)
        np.testing.assert_array_equal(labels_of(decoded["/attanet/labels"], "sensor_msgs/msg/Image"), result.labels)
        confidence = np.asarray(decoded["/attanet/confidence"].data).reshape(bgr.shape[:2])
        np.testing.assert_array_equal(confidence, np.clip(result.confidence * 255 + 0.5, 0, 255).astype(np.uint8))

    with AnyReader([out]) as reader:  # rosbags on its own, as other tools read it
        stamps, labels = [], []
        for conn, _, raw in reader.messages([c for c in reader.connections if c.topic == "/attanet/labels"]):
            msg = reader.deserialize(raw, conn.msgtype)
            stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            labels.append(np.asarray(msg.data).reshape(msg.height, msg.width))
    assert stamps == [stamp_of(i) for i in range(FRAMES)]
    np.testing.assert_array_equal(labels[2], segmenter.segment(images[2]).labels)


def test_bad_frames_are_counted_and_named_and_the_rest_segmented(tmp_path, capsys, images, segmenter) -> None:
    bag = tmp_path / "drive"
    with BagWriter(bag, "mcap") as writer:
        for i, bgr in enumerate(images):
            msg = image_msg(bgr, "bgr8", stamp_of(i), "cam")
            if i == 1:
                msg.encoding = "bayer_xyz8"
            if i == 3:
                msg = image_msg(bgr[:4, :4], "bgr8", stamp_of(i), "cam")  # too small for the network
            writer.write(IMAGE_TOPIC, stamp_of(i), msg)
    out = tmp_path / "seg"
    code, summary, err = run_json(capsys, "bag-segment", bag, out, "--no-progress")
    assert code == 0, err
    assert (summary["frames"], summary["segmented"], summary["undecodable"], summary["model_failed"]) == (
        FRAMES, FRAMES - 2, 1, 1,
    )  # fmt: skip
    assert [(s["index"], s["stamp"]) for s in summary["skipped"]] == [(1, stamp_of(1) / 1e9), (3, stamp_of(3) / 1e9)]
    assert "'bayer_xyz8' is not supported" in summary["skipped"][0]["reason"]
    assert "could not be decoded" in err and "rejected by the model" in err
    with BagReader(out) as reader:
        assert reader.topics[IMAGE_TOPIC].count == FRAMES  # every camera frame kept
        got = [deserialize(m) for m in reader.messages(["/attanet/labels"])]
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in got] == [stamp_of(i) for i in (0, 2, 4, 5)]
    np.testing.assert_array_equal(labels_of(got[1], "sensor_msgs/msg/Image"), segmenter.segment(images[2]).labels)


def test_user_errors_exit_2_and_leave_nothing(made_bags, capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "bag-segment", made_bags["mcap"], made_bags["sqlite3"])
    assert code == 2 and "exists already" in err
    out = tmp_path / "seg"
    code, _, err = run_cli(capsys, "bag-segment", made_bags["mcap"], out, "--image-topic", "/nope")
    assert code == 2 and "/nope" in err
    assert list(tmp_path.iterdir()) == []  # no output, no staging folder left behind


def test_bag_eval_on_a_drive_without_ground_truth_points_to_bag_segment(tmp_path, capsys, images) -> None:
    bag = tmp_path / "drive"
    with BagWriter(bag, "mcap") as writer:
        writer.write(IMAGE_TOPIC, stamp_of(0), image_msg(images[0], "bgr8", stamp_of(0), "cam"))
    code, _, err = run_cli(capsys, "bag-eval", bag, "--no-progress")
    assert code == 2 and "no ground truth on /camera/gt_labels" in err
    assert f"attanet bag-segment {bag} OUT" in err and IMAGE_TOPIC in err


@pytest.mark.parametrize("command", ["bag_eval_main", "bag_segment_main"])
def test_the_offline_bag_tools_tune_glibc_for_frames_before_reading(monkeypatch, tmp_path, command):
    """bag-eval and bag-segment decode and make camera-size arrays every frame, like the node: they set the
    same glibc thresholds first (30 frames of 1024x2048 with overlay: 7.9 -> 6.3 s here, docs/SPEED.md)."""
    from attanet_ros.bags import eval_cli

    calls = []
    monkeypatch.setattr(eval_cli, "tune_for_frames", lambda: calls.append(True) or "tuned")
    argv = [str(tmp_path / "no_such_bag")] + ([str(tmp_path / "out")] if command == "bag_segment_main" else [])
    code = getattr(eval_cli, command)(argv)
    assert code != 0 and calls == [True]
