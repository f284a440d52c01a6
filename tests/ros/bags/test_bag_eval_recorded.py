"""attanet bag-eval --pred-topic: class names from the recorded ~/class_info, refused when another
class table disagrees, and labels recorded at the network's resolution scored against resized
ground truth."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from bag_helpers import FRAMES, run_cli, run_json, stamp_of
from test_bag_eval import MS, PRED_TOPIC, write_bag

from attanet_model import ClassInfo, Segmenter
from attanet_model.metrics import ConfusionMatrix
from attanet_ros.bags.storage import TYPESTORE, BagReader, BagWriter

CUSTOM = (ClassInfo(0, "floor", (10, 10, 10)), ClassInfo(1, "wall", (20, 20, 20)), ClassInfo(2, "thing", (0, 0, 200)))


@pytest.fixture(scope="module")
def frames(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """(BGR image, labels in 0..2 with 255 kept): the split relabelled to a 3-class table."""
    out = []
    for image, labels in dataset.samples:
        trainids = dataset.read_labels(labels)
        out.append((cv2.imread(str(image)), np.where(trainids == 255, 255, trainids % 3).astype(np.uint8)))
    return out


def json_table(classes):
    data = json.dumps({"classes": [c.to_dict() for c in classes], "ignore_index": 255, "arch": "x"})
    return TYPESTORE.types["std_msgs/msg/String"](data=data)


def label_info(classes, threshold: float = 0.5):
    """vision_msgs/LabelInfo as the node publishes it (classes, then 255 = unlabeled), built by rosbags."""
    types = TYPESTORE.types
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="cam")
    entries = [(c.id, c.name) for c in classes] + [(255, "unlabeled")]
    class_map = [types["vision_msgs/msg/VisionClass"](class_id=i, class_name=name) for i, name in entries]
    return types["vision_msgs/msg/LabelInfo"](header=header, class_map=class_map, threshold=threshold)


def recorded_bag(path, frames, preds, class_tables: dict[str, tuple] | None = None):
    """write_bag's bag plus class tables {topic: classes} (written first, as latched topics are): class_info
    JSON, or vision_msgs/LabelInfo on a topic named */label_info."""
    path.mkdir(exist_ok=True)
    write_bag(path / "base", frames, preds=preds)
    with BagReader(path / "base") as reader, BagWriter(path / "bag", "mcap") as writer:
        for topic, classes in (class_tables or {}).items():
            writer.write(
                topic, stamp_of(0) - MS, label_info(classes) if topic.endswith("/label_info") else json_table(classes)
            )
        for msg in reader.messages():
            writer.write_raw(msg.topic, msg.log_time, msg.raw, msg.msgtype)
    return path / "bag"


def expected(pairs, classes=CUSTOM) -> dict:
    cm = ConfusionMatrix(len(classes))
    for pred, gt in pairs:
        cm.update(pred, gt)
    return cm.summary([c.name for c in classes])


def _wrong_on_top(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[:20] = (out[:20] + 1) % 3
    return out


def test_class_names_come_from_the_recorded_class_info(tmp_path, capsys, frames) -> None:
    preds = {i: (_wrong_on_top(frames[i][1]), 10 * MS) for i in range(FRAMES)}
    bag = recorded_bag(tmp_path, frames, preds, {"/attanet/class_info": CUSTOM})
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    want = expected([(p, frames[i][1]) for i, (p, _) in preds.items()])
    assert list(summary["iou"]) == ["floor", "wall", "thing"]
    assert summary["iou"] == want["iou"] and summary["miou"] == want["miou"] < 1.0
    assert summary["classes_from"] == "the recorded /attanet/class_info"
    assert not any("class table" in w for w in summary["warnings"])


def test_class_names_come_from_the_recorded_label_info(tmp_path, capsys, frames) -> None:
    """A bag recorded with the node's vision_msgs/LabelInfo only (what a Nav2 setup records) is scored by it."""
    preds = {i: (_wrong_on_top(frames[i][1]), 10 * MS) for i in range(FRAMES)}
    bag = recorded_bag(tmp_path, frames, preds, {"/attanet/label_info": CUSTOM})
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    want = expected([(p, frames[i][1]) for i, (p, _) in preds.items()])
    assert list(summary["iou"]) == ["floor", "wall", "thing"]
    assert summary["iou"] == want["iou"] and summary["miou"] == want["miou"]
    assert summary["classes_from"] == "the recorded /attanet/label_info"


def test_a_label_info_that_disagrees_with_the_ground_truth_is_refused(tmp_path, capsys, frames) -> None:
    preds = {0: (frames[0][1], 5 * MS)}
    renamed = (CUSTOM[0], ClassInfo(1, "obstacle", (1, 2, 3)), CUSTOM[2])
    bag = recorded_bag(tmp_path, frames, preds, {"/attanet/label_info": renamed, "/camera/class_info": CUSTOM})
    code, _, err = run_cli(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC)
    assert code == 2
    assert (
        "class tables disagree: the recorded /attanet/label_info and the ground truth's /camera/class_info "
        "(3 classes vs 3; first difference: id 1 'obstacle' vs 'wall')" in err
    )


def test_a_class_table_that_disagrees_is_refused_in_one_line(tmp_path, capsys, frames) -> None:
    preds = {i: (frames[i][1], 10 * MS) for i in range(FRAMES)}
    renamed = (CUSTOM[0], ClassInfo(1, "obstacle", (1, 2, 3)), CUSTOM[2])
    bag = recorded_bag(tmp_path, frames, preds, {"/attanet/class_info": CUSTOM, "/camera/class_info": renamed})
    code, out, err = run_cli(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 2 and out == ""
    assert err.strip() == (
        "attanet bag-eval: class tables disagree: the recorded /attanet/class_info and the ground truth's "
        "/camera/class_info (3 classes vs 3; first difference: id 1 'wall' vs 'obstacle'); "
        "score labels against ground truth of the same class table"
    )
    # the bundled model's 19 Cityscapes classes are not the recorded three either
    code, _, err = run_cli(
        capsys,
        "bag-eval",
        recorded_bag(tmp_path / "m", frames, preds, {"/attanet/class_info": CUSTOM}),
        "--pred-topic",
        PRED_TOPIC,
        "--model",
        Segmenter().model_path,
        "--no-progress",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "3 classes vs 19; first difference: id 0 'floor' vs 'road'" in err


def test_without_any_class_table_cityscapes_is_assumed_and_said(tmp_path, capsys, frames) -> None:
    preds = {0: (frames[0][1], 5 * MS)}
    code, summary, err = run_json(capsys, "bag-eval", recorded_bag(tmp_path, frames, preds), "--pred-topic", PRED_TOPIC)
    assert code == 0, err
    assert summary["classes_from"] == "default (Cityscapes)" and len(summary["iou"]) == 19
    assert any(
        "no class table: /attanet/class_info or /attanet/label_info is not in the bag" in w for w in summary["warnings"]
    )


def test_network_resolution_labels_are_scored_against_resized_ground_truth(tmp_path, capsys, frames) -> None:
    h, w = frames[0][1].shape
    small = {
        i: (_wrong_on_top(cv2.resize(gt, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)), 10 * MS)
        for i, (_, gt) in enumerate(frames)
    }
    bag = recorded_bag(tmp_path, frames, small, {"/attanet/class_info": CUSTOM})
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    want = expected(
        [
            (p, cv2.resize(frames[i][1], (w // 2, h // 2), interpolation=cv2.INTER_NEAREST))
            for i, (p, _) in small.items()
        ]
    )
    assert summary["miou"] == want["miou"] and summary["iou"] == want["iou"]
    assert (summary["matched"], summary["size_mismatch"], summary["gt_resized"]) == (FRAMES, 0, FRAMES)
    assert summary["gt_resized_to"] == [h // 2, w // 2]
    code, out, _ = run_cli(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert f"ground truth resized (nearest) to the labels' {h // 2}x{w // 2} for {FRAMES} frames" in out
    assert "recorded mode, class names from the recorded /attanet/class_info" in out.splitlines()[0]


def test_class_info_topic_needs_pred_topic_and_must_exist(tmp_path, capsys, frames) -> None:
    bag = recorded_bag(tmp_path, frames, {0: (frames[0][1], 5 * MS)})
    code, _, err = run_cli(capsys, "bag-eval", bag, "--class-info-topic", "/x/class_info")
    assert code == 2 and "--class-info-topic names the class table of recorded labels; it needs --pred-topic" in err
    code, _, err = run_cli(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--class-info-topic", "/x/class_info")
    assert code == 2 and "topic '/x/class_info' (--class-info-topic) is not in bag" in err
