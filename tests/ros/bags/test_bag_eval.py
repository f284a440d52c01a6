"""attanet bag-eval: equals `attanet eval`, every encoding, out-bag, recorded outputs, each problem case."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_helpers import FRAMES, IMAGE_TOPIC, LABEL_TOPIC, assert_same_scores, run_cli, run_json, stamp_of

from attanet_cli import main as attanet
from attanet_model import CITYSCAPES_CLASSES, labels_to_color, overlay
from attanet_model.metrics import ConfusionMatrix
from attanet_ros.bags.evaluate import EvalConfig, evaluate_bag
from attanet_ros.bags.storage import BagReader, BagWriter, compressed_msg, deserialize, image_msg
from attanet_ros.bags.storage import labels_from_bag_msg as labels_of

MS = 1_000_000
PRED_TOPIC = "/attanet/labels"
NAMES = [c.name for c in CITYSCAPES_CLASSES]


@pytest.fixture(scope="module")
def frames(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """(BGR image, trainIds) of the split, in order."""
    return [(cv2.imread(str(i)), dataset.read_labels(lab)) for i, lab in dataset.samples]


def expected(pairs) -> dict:
    """The summary ConfusionMatrix gives for (prediction, ground truth) pairs."""
    cm = ConfusionMatrix(len(NAMES))
    for pred, gt in pairs:
        cm.update(pred, gt)
    return cm.summary(NAMES)


def write_bag(path: Path, frames, *, storage="mcap", image=None, gt=None, gt_stamp=None, preds=None) -> Path:
    """A bag of camera frames and ground truth, each customisable per frame index.

    ``image(i, bgr, stamp)`` -> message or None (skip); ``gt(i, labels)`` -> labels or None (no ground
    truth); ``gt_stamp(i, stamp)``; ``preds`` {i: (labels, log delay ns)} written on PRED_TOPIC.
    """
    with BagWriter(path, storage) as writer:
        for i, (bgr, labels) in enumerate(frames):
            stamp = stamp_of(i)
            msg = image(i, bgr, stamp) if image else image_msg(bgr, "bgr8", stamp, "camera")
            if msg is not None:
                writer.write(
                    IMAGE_TOPIC if msg.__msgtype__.endswith("/Image") else f"{IMAGE_TOPIC}/compressed", stamp, msg
                )
            truth = gt(i, labels) if gt else labels
            if truth is not None:
                s = gt_stamp(i, stamp) if gt_stamp else stamp
                writer.write(LABEL_TOPIC, s, image_msg(truth, "mono8", s, "camera"))
            if preds and i in preds:
                pred, delay = preds[i]
                writer.write(PRED_TOPIC, stamp + delay, image_msg(pred, "mono8", stamp, "camera"))
    return path


def evaluate(bag: Path, segmenter, **config) -> dict:
    config.setdefault("image_topic", IMAGE_TOPIC)
    with BagReader(bag) as reader:
        report = evaluate_bag(
            reader,
            EvalConfig(label_topic=LABEL_TOPIC, progress=False, **config),
            segmenter.classes,
            lambda img: segmenter.segment(img).labels,
        )
    return report.to_dict()


# ---------------------------------------------------------------- equal to `attanet eval`


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_eval_equals_eval_on_the_same_frames(made_bags, capsys, reference_summary, storage) -> None:
    code, summary, err = run_json(capsys, "bag-eval", made_bags[storage], "--no-progress")
    assert code == 0, err
    assert_same_scores(summary, reference_summary)
    assert (summary["frames"], summary["matched"], summary["unmatched"]) == (FRAMES, FRAMES, 0)
    assert (summary["storage"], summary["mode"], summary["partial"], summary["errors"]) == (storage, "model", False, [])
    lat = summary["latency_ms"]
    assert lat["count"] == FRAMES and 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert summary["model"].endswith("attanet_light_synthetic.pt")


def test_bag_eval_equals_the_attanet_eval_command(made_bags, capsys, dataset_root) -> None:
    """The two commands, as a user runs them, print the same numbers for a split and its bag."""
    code, by_eval, err = run_json(capsys, "eval", "--data-root", dataset_root, "--split", "val")
    assert code == 0, err
    code, by_bag, err = run_json(capsys, "bag-eval", made_bags["mcap"], "--no-progress")
    assert code == 0, err
    assert by_eval["frames"] == by_bag["frames"] == by_bag["matched"] == FRAMES
    assert_same_scores(by_bag, by_eval)


def _raw_image(bgr: np.ndarray, encoding: str, stamp: int):
    """An Image in ``encoding`` built by hand, as a camera driver would send it."""
    rgb = bgr[:, :, ::-1]
    alpha = np.full(bgr.shape[:2] + (1,), 255, np.uint8)
    if encoding == "yuv422":  # UYVY: U Y0 V Y1, built from YUV by hand (OpenCV has no BGR->UYVY)
        yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV).astype(np.int32)
        u = (yuv[:, 0::2, 1] + yuv[:, 1::2, 1]) // 2
        v = (yuv[:, 0::2, 2] + yuv[:, 1::2, 2]) // 2
        pixels = np.stack([u, yuv[:, 0::2, 0], v, yuv[:, 1::2, 0]], -1).astype(np.uint8)
    else:
        pixels = {
            "rgb8": rgb,
            "bgra8": np.concatenate([bgr, alpha], 2),
            "rgba8": np.concatenate([rgb, alpha], 2),
            "bgr16": bgr.astype(np.uint16) * 257,  # decodes back to the same 8-bit values
            "rgb16": rgb.astype(np.uint16) * 257,
            "mono8": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
        }[encoding]
    h, w = bgr.shape[:2]
    data = np.ascontiguousarray(pixels).view(np.uint8).reshape(h, -1)
    msg = image_msg(bgr, "bgr8", stamp, "camera")
    msg.encoding, msg.step, msg.data = encoding, data.shape[1], data.reshape(-1)
    return msg


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "rgba8", "bgr16", "rgb16", "png"])
def test_lossless_encodings_score_like_bgr8(tmp_path, frames, segmenter, reference_summary, encoding) -> None:
    def image(i, bgr, stamp):
        return compressed_msg(bgr, "png", stamp, "camera") if encoding == "png" else _raw_image(bgr, encoding, stamp)

    bag = write_bag(tmp_path / "bag", frames, image=image)
    topic = f"{IMAGE_TOPIC}/compressed" if encoding == "png" else IMAGE_TOPIC
    summary = evaluate(bag, segmenter, image_topic=topic)
    assert summary["matched"] == FRAMES and summary["undecodable"] == 0
    assert_same_scores(summary, reference_summary)


@pytest.mark.parametrize("encoding", ["mono8", "yuv422", "jpeg"])
def test_lossy_encodings_are_decoded_and_scored(tmp_path, frames, segmenter, encoding) -> None:
    def image(i, bgr, stamp):
        return compressed_msg(bgr, "jpeg", stamp, "camera") if encoding == "jpeg" else _raw_image(bgr, encoding, stamp)

    bag = write_bag(tmp_path / "bag", frames, image=image)
    topic = f"{IMAGE_TOPIC}/compressed" if encoding == "jpeg" else IMAGE_TOPIC
    summary = evaluate(bag, segmenter, image_topic=topic)
    assert (summary["frames"], summary["matched"], summary["undecodable"]) == (FRAMES, FRAMES, 0)
    assert 0 <= summary["miou"] <= 1 and summary["pixel_acc"] > 0


# ---------------------------------------------------------------- --out-bag


def test_out_bag_round_trip(made_bags, capsys, tmp_path, frames, segmenter) -> None:
    out = tmp_path / "pred"
    code, summary, err = run_json(capsys, "bag-eval", made_bags["sqlite3"], "--out-bag", out, "--no-progress")
    assert code == 0, err
    assert summary["out_bag"] == str(out)
    with BagReader(out) as reader:
        assert reader.storage == "sqlite3" and any(p.suffix == ".db3" for p in out.iterdir())
        assert {t: i.count for t, i in reader.topics.items()} == {
            IMAGE_TOPIC: FRAMES,
            "/attanet/labels": FRAMES,
            "/attanet/color": FRAMES,
            "/attanet/overlay": FRAMES,
        }
        by_topic: dict[str, list] = {}
        for msg in reader.messages():
            by_topic.setdefault(msg.topic, []).append(msg)
    for i, (bgr, _) in enumerate(frames):
        decoded = {t: deserialize(by_topic[t][i]) for t in by_topic}
        for t, m in decoded.items():
            assert (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m.header.frame_id) == (stamp_of(i), "camera")
            assert by_topic[t][i].log_time == stamp_of(i)
        labels = segmenter.segment(bgr).labels
        np.testing.assert_array_equal(labels_of(decoded["/attanet/labels"], "sensor_msgs/msg/Image"), labels)
        color = decoded["/attanet/color"]
        assert color.encoding == "rgb8"
        np.testing.assert_array_equal(np.asarray(color.data).reshape(bgr.shape), labels_to_color(labels))
        blended = np.asarray(decoded["/attanet/overlay"].data).reshape(bgr.shape)
        np.testing.assert_array_equal(blended, overlay(bgr[:, :, ::-1].copy(), labels, 0.5))
        np.testing.assert_array_equal(np.asarray(decoded[IMAGE_TOPIC].data).reshape(bgr.shape), bgr)


# ---------------------------------------------------------------- --pred-topic


def test_pred_topic_scores_recorded_outputs_and_reports_drops(tmp_path, capsys, frames) -> None:
    """The node answered frames 0, 2, 3, 5 (1 and 4 dropped), 10..15 ms after each frame was recorded."""
    noisy = frames[3][1].copy()
    noisy[:40] = 13  # a wrong answer on part of frame 3
    preds = {
        0: (frames[0][1], 10 * MS),
        2: (np.zeros_like(frames[2][1]), 12 * MS),
        3: (noisy, 13 * MS),
        5: (frames[5][1], 15 * MS),
    }
    bag = write_bag(tmp_path / "rec", frames, preds=preds)
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    want = expected([(preds[i][0], frames[i][1]) for i in (0, 2, 3, 5)])
    assert_same_scores(summary, want)
    assert summary["mode"] == "recorded" and summary["model"] is None
    assert (summary["input_frames"], summary["dropped"], summary["frames"], summary["matched"]) == (6, 2, 4, 4)
    assert summary["drop_rate"] == pytest.approx(2 / 6)
    lat = summary["latency_ms"]
    assert (lat["p50"], lat["max"], lat["count"]) == (12.5, 15.0, 4)
    assert lat["source"].startswith("recorded")


def test_pred_topic_without_camera_topic_says_drops_are_unknown(tmp_path, capsys, frames) -> None:
    bag = write_bag(tmp_path / "rec", frames, image=lambda i, bgr, s: None, preds={0: (frames[0][1], 5 * MS)})
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    assert summary["miou"] == expected([(frames[0][1], frames[0][1])])["miou"] == 1.0
    assert summary["dropped"] is None and summary["latency_ms"] is None
    assert any("dropped frames and latency are unknown" in w for w in summary["warnings"])


# ---------------------------------------------------------------- stamps, missing ground truth, sizes


def test_tolerance_pairs_restamped_ground_truth(tmp_path, capsys, frames, reference_summary) -> None:
    bag = write_bag(tmp_path / "late", frames, gt_stamp=lambda i, s: s + 3 * MS)
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 1
    assert summary["miou"] is None and summary["matched"] == 0 and summary["unmatched"] == FRAMES
    assert "no frame could be scored" in err and "nearest unmatched ground truth is 0.003000 s away" in err

    code, summary, err = run_json(capsys, "bag-eval", bag, "--tolerance", "0.005", "--no-progress")
    assert code == 0, err
    assert_same_scores(summary, reference_summary)


def test_frames_without_ground_truth_are_counted_not_scored(tmp_path, frames, segmenter) -> None:
    bag = write_bag(tmp_path / "gaps", frames, gt=lambda i, labels: None if i in (2, 5) else labels)
    summary = evaluate(bag, segmenter)
    assert (summary["frames"], summary["matched"], summary["unmatched"]) == (FRAMES, 4, 2)
    assert any("2 of 6 frames have no ground truth" in w for w in summary["warnings"])
    want = expected([(segmenter.segment(frames[i][0]).labels, frames[i][1]) for i in (0, 1, 3, 4)])
    assert_same_scores(summary, want)


def test_ground_truth_of_another_size_is_reported(tmp_path, frames, segmenter) -> None:
    def gt(i, labels):
        return cv2.resize(labels, (128, 64), interpolation=cv2.INTER_NEAREST) if i == 1 else labels

    summary = evaluate(write_bag(tmp_path / "sizes", frames, gt=gt), segmenter)
    assert (summary["matched"], summary["size_mismatch"]) == (FRAMES - 1, 1)
    assert any("frame 128x256, ground truth 64x128 (HxW)" in w for w in summary["warnings"])
    want = expected([(segmenter.segment(b).labels, g) for i, (b, g) in enumerate(frames) if i != 1])
    assert_same_scores(summary, want)


def test_ground_truth_written_after_its_frames_is_still_paired(tmp_path, frames, segmenter, reference_summary) -> None:
    """Pairing is by stamp, not by order: here every label is logged 0.5 s after its frame."""
    with BagWriter(tmp_path / "late_log", "mcap") as writer:
        for i, (bgr, labels) in enumerate(frames):
            writer.write(IMAGE_TOPIC, stamp_of(i), image_msg(bgr, "bgr8", stamp_of(i), "c"))
            writer.write(LABEL_TOPIC, stamp_of(i) + 500 * MS, image_msg(labels, "mono8", stamp_of(i), "c"))
    assert_same_scores(evaluate(tmp_path / "late_log", segmenter), reference_summary)


# ---------------------------------------------------------------- damaged bags and bad messages


def test_truncated_bag_gives_partial_results_for_what_was_readable(made_bags, tmp_path, capsys, frames, segmenter):
    bag = tmp_path / "cut"
    shutil.copytree(made_bags["mcap"], bag)
    file = next(bag.glob("*.mcap"))
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * 0.6)])
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 1
    assert summary["partial"] is True
    assert any("truncated" in e and "the scores cover the" in e for e in summary["errors"])
    n = summary["matched"]
    assert 1 <= n < FRAMES and summary["frames"] >= n
    want = expected([(segmenter.segment(frames[i][0]).labels, frames[i][1]) for i in range(n)])
    assert_same_scores(summary, want)


def test_undecodable_frames_are_counted_with_the_reason(tmp_path, frames, segmenter) -> None:
    def image(i, bgr, stamp):
        msg = image_msg(bgr, "bgr8", stamp, "camera")
        if i == 1:
            msg.encoding = "bayer_xyz8"
        if i == 4:
            msg.step = 10  # smaller than a row
        return msg

    summary = evaluate(write_bag(tmp_path / "bad", frames, image=image), segmenter)
    assert (summary["frames"], summary["undecodable"], summary["matched"]) == (FRAMES, 2, FRAMES - 2)
    warning = next(w for w in summary["warnings"] if "could not be decoded" in w)
    assert warning.startswith("2 frames on /camera/image_raw could not be decoded")
    assert "'bayer_xyz8' is not supported" in warning and "step 10 is smaller" in warning


def test_corrupt_message_bytes_do_not_stop_the_evaluation(tmp_path, frames, segmenter) -> None:
    bag = write_bag(tmp_path / "ok", frames)
    out = tmp_path / "corrupt"
    with BagReader(bag) as reader, BagWriter(out, "mcap") as writer:
        for msg in reader.messages():
            raw = msg.raw
            if msg.topic == IMAGE_TOPIC and msg.log_time == stamp_of(2):
                raw = raw[:40]  # header intact, the rest cut off
            writer.write_raw(msg.topic, msg.log_time, raw, msg.msgtype)
    summary = evaluate(out, segmenter)
    assert (summary["undecodable"], summary["matched"]) == (1, FRAMES - 1)


# ---------------------------------------------------------------- usage errors, plots


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image-topic", "/front/image"], "topic '/front/image' (--image-topic) is not in bag"),
        (["--label-topic", "/camera/camera_info"], "has type sensor_msgs/msg/CameraInfo; expected one of"),
        (["--tolerance", "-1"], "--tolerance must be >= 0 seconds, got -1.0"),
        (["--pred-topic", "/x", "--out-bag", "o"], "cannot be combined with --pred-topic"),
        (["--model", "missing.pt"], "missing.pt"),
    ],
)
def test_user_errors_exit_2(made_bags, capsys, extra, message) -> None:
    code, out, err = run_cli(capsys, "bag-eval", made_bags["mcap"], *extra, "--no-progress")
    assert code == 2, err
    assert err.startswith("attanet bag-eval: ") and message in err and "Traceback" not in err
    if "--image-topic" in extra:  # the topics that do exist are listed
        assert "/camera/image_raw  [sensor_msgs/msg/Image]  6 msgs" in err


def test_not_a_bag_and_existing_out_bag_exit_2(made_bags, capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "bag-eval", tmp_path / "nothing")
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys, "bag-eval", made_bags["mcap"], "--out-bag", made_bags["sqlite3"])
    assert code == 2 and "exists already" in err


def test_plots_and_text_output(made_bags, capsys, tmp_path) -> None:
    code, out, err = run_cli(capsys, "bag-eval", made_bags["mcap"], "--plots", tmp_path / "plots", "--no-progress")
    assert code == 0, err
    for name in ("iou_per_class.png", "latency_hist.png"):
        image = cv2.imread(str(tmp_path / "plots" / name))
        assert image is not None and image.shape[0] > 200 and image.std() > 5
    assert "mIoU " in out and "frames 6 (scored 6" in out and "latency ms p50" in out
    assert f"plots: {tmp_path / 'plots' / 'iou_per_class.png'}" in out


def test_bag_make_and_bag_eval_run_without_ros(made_bags, dataset_root, tmp_path) -> None:
    """With rclpy made unimportable, both commands still work (bag-play is the only one needing ROS)."""
    script = (
        "import sys; sys.modules['rclpy'] = None; import attanet_cli; "
        f"a = attanet_cli.main(['bag-make', '--data-root', {str(dataset_root)!r}, '--split', 'val', "
        f"'--out', {str(tmp_path / 'b')!r}, '--limit', '2', '--no-progress']); "
        f"b = attanet_cli.main(['bag-eval', {str(tmp_path / 'b')!r}, '--json', '--no-progress']); "
        "sys.exit(10 * a + b)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout[done.stdout.index("{") :])["matched"] == 2


# ---------------------------------------------------------------- class tables, ground truth ids, bad frames


@pytest.fixture(scope="module")
def custom_bags(tmp_path_factory) -> dict[str, Path]:
    """bag-make of a 2-class custom dataset (floor 1, obstacle 2; 0 not scored), in both storages."""
    root = tmp_path_factory.mktemp("custom")
    rng = np.random.default_rng(3)
    for kind in ("images", "labels"):
        (root / kind / "val").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(root / "images" / "val" / f"f{i}.png"), rng.integers(0, 256, (64, 128, 3), np.uint8))
        labels = np.ones((64, 128), np.uint8)
        labels[40:, :] = 2
        labels[:4, :] = 0
        cv2.imwrite(str(root / "labels" / "val" / f"f{i}.png"), labels)
    (root / "classes.yaml").write_text(
        "classes:\n"
        "  - {name: floor, color: [0, 255, 0], value: 1}\n"
        "  - {name: obstacle, color: [255, 0, 0], value: 2}\n"
        "ignore: [0]\n"
    )
    bags = {}
    for storage in ("mcap", "sqlite3"):
        bags[storage] = root / f"bag_{storage}"
        argv = ["bag-make", "--dataset", "custom", "--data-root", root, "--out", bags[storage], "--storage", storage]
        assert attanet([*map(str, argv), "--no-progress"]) == 0
    return bags


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_model_of_another_class_table_is_refused(custom_bags, capsys, storage) -> None:
    """The bundled 19-class Cityscapes model on a floor/obstacle bag: no score, one line naming both tables."""
    code, out, err = run_cli(capsys, "bag-eval", custom_bags[storage], "--no-progress")
    assert code == 2 and out == ""
    assert err.strip() == (
        "attanet bag-eval: class tables differ: the model predicts the 19 Cityscapes classes, but the bag's ground "
        "truth (/camera/class_info) is labelled with 2 classes: floor, obstacle; "
        "score a model trained on this label set"
    )


def test_recorded_outputs_are_scored_in_the_bags_own_class_table(custom_bags, tmp_path, capsys) -> None:
    """Recorded mode without --model: the class names come from the bag, not the Cityscapes default."""
    bag = tmp_path / "recorded"
    with BagReader(custom_bags["mcap"]) as reader, BagWriter(bag, "mcap") as writer:
        for msg in reader.messages():
            writer.write_raw(msg.topic, msg.log_time, msg.raw, msg.msgtype)
            if msg.topic == LABEL_TOPIC:  # a "prediction" that gets the upper obstacle rows wrong
                truth = deserialize(msg)
                pred = labels_of(truth, msg.msgtype).copy()
                pred[40:48, :] = 0
                stamp = truth.header.stamp.sec * 10**9 + truth.header.stamp.nanosec
                writer.write(PRED_TOPIC, msg.log_time + MS, image_msg(pred, "mono8", stamp, "c"))
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    assert summary["class_table"] == "/camera/class_info"
    # floor: 36 rows of 128 right, obstacle: 16 of 24 rows right, 8 rows predicted as floor (id 0)
    assert summary["iou"] == {"floor": 36 / 44, "obstacle": 16 / 24}
    assert summary["miou"] == (36 / 44 + 16 / 24) / 2


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_ground_truth_with_only_out_of_range_ids_fails_with_the_reason(tmp_path, capsys, frames, storage) -> None:
    """Labels in another id scheme (Cityscapes labelIds 24..33 instead of trainIds): rc 1, not a silent null."""
    bag = write_bag(tmp_path / "ids", frames, storage=storage, gt=lambda i, labels: np.full_like(labels, 26))
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 1
    assert summary["miou"] is None and summary["matched"] == FRAMES
    (error,) = summary["errors"]
    assert error.startswith(f"nothing to score: the ground truth of the {FRAMES} paired frames on /camera/gt_labels")
    assert "only ids outside the class table (ids 0..18: the 19 Cityscapes classes; 255 = ignore): 26 (" in error
    assert f"attanet bag-eval: error: {error}" in err


def test_some_out_of_range_ids_are_counted_in_a_warning(tmp_path, frames, segmenter) -> None:
    def gt(i, labels):
        labels = labels.copy()
        labels[:2, :] = 40  # two rows of 256 pixels in each frame
        return labels

    summary = evaluate(write_bag(tmp_path / "some", frames, gt=gt), segmenter)
    assert summary["miou"] is not None and summary["errors"] == []
    assert any(f"{2 * 256 * FRAMES} ground-truth pixels" in w and ": 40 (" in w for w in summary["warnings"])


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_one_bad_frame_is_skipped_and_named_not_fatal(tmp_path, capsys, frames, segmenter, storage) -> None:
    """A 600x4 frame (the model cannot take it), an undecodable one and ground truth of another size:
    each is skipped and named, and the other frames are scored exactly."""

    def image(i, bgr, stamp):
        if i == 1:
            return image_msg(np.zeros((600, 4, 3), np.uint8), "bgr8", stamp, "camera")
        msg = image_msg(bgr, "bgr8", stamp, "camera")
        if i == 3:
            msg.encoding = "bayer_xyz8"
        return msg

    def gt(i, labels):
        return labels[:64] if i == 4 else labels

    bag = write_bag(tmp_path / "bad", frames, storage=storage, image=image, gt=gt)
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 0, err
    assert (summary["matched"], summary["model_failed"], summary["undecodable"], summary["size_mismatch"]) == (
        3,
        1,
        1,
        1,
    )
    by_index = {s["index"]: s for s in summary["skipped"]}
    assert sorted(by_index) == [1, 3, 4]
    assert (
        by_index[1]["reason"] == "model: image size 600x4 (HxW) is outside the supported range 8..16384 pixels per side"
    )
    assert by_index[1]["stamp"] == stamp_of(1) / 1e9 and by_index[1]["topic"] == IMAGE_TOPIC
    assert by_index[3]["reason"].startswith("undecodable: ") and "bayer_xyz8" in by_index[3]["reason"]
    assert by_index[4]["reason"] == "ground truth is 64x256, the frame 128x256 (HxW)"
    want = expected([(segmenter.segment(frames[i][0]).labels, frames[i][1]) for i in (0, 2, 5)])
    assert_same_scores(summary, want)
    code, out, _ = run_cli(capsys, "bag-eval", bag, "--no-progress")
    assert code == 0
    assert f"skipped 3: {IMAGE_TOPIC} #1 at {stamp_of(1) / 1e9:.6f}: model: image size 600x4 (HxW)" in out


def test_nothing_scorable_exits_1(tmp_path, capsys, frames) -> None:
    bag = write_bag(tmp_path / "tiny", frames, image=lambda i, bgr, s: image_msg(bgr[:4, :4], "bgr8", s, "camera"))
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 1 and summary["miou"] is None
    assert summary["model_failed"] == FRAMES and len(summary["skipped"]) == FRAMES
    assert any(e.startswith(f"no frame could be scored ({FRAMES} frames read)") for e in summary["errors"])


def test_undecodable_ground_truth_is_named_in_skipped(tmp_path, frames, segmenter) -> None:
    with BagWriter(tmp_path / "gt", "mcap") as writer:
        for i, (bgr, labels) in enumerate(frames):
            writer.write(IMAGE_TOPIC, stamp_of(i), image_msg(bgr, "bgr8", stamp_of(i), "c"))
            truth = image_msg(np.dstack([labels] * 3), "rgb8", stamp_of(i), "c") if i == 2 else None
            writer.write(LABEL_TOPIC, stamp_of(i), truth or image_msg(labels, "mono8", stamp_of(i), "c"))
    summary = evaluate(tmp_path / "gt", segmenter)
    assert (summary["matched"], summary["bad_ground_truth"], summary["unmatched"]) == (FRAMES - 1, 1, 1)
    (skipped,) = summary["skipped"]
    assert skipped["topic"] == LABEL_TOPIC and skipped["index"] is None and skipped["stamp"] == stamp_of(2) / 1e9
    assert skipped["reason"] == "undecodable ground truth: label images must be mono8 trainIds, got encoding 'rgb8'"
    want = expected([(segmenter.segment(frames[i][0]).labels, frames[i][1]) for i in (0, 1, 3, 4, 5)])
    assert_same_scores(summary, want)
