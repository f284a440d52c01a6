"""attanet bag-eval: frames that share a stamp are never both scored against one ground truth, and a
recording that did not end normally (a recorder killed with SIGKILL) gives partial results, exit 1."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_helpers import (
    FRAMES,
    IMAGE_TOPIC,
    LABEL_TOPIC,
    REPO,
    assert_same_scores,
    attanet_command,
    ros_env,
    run_json,
    stamp_of,
)
from test_bag_eval import PRED_TOPIC, expected, write_bag

from attanet_ros.bags.storage import BagReader, BagWriter, image_msg

DRIVE = Path(__file__).with_name("drive_probe.py")


@pytest.fixture(scope="module")
def frames(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """(BGR image, trainIds) of the split, in order."""
    return [(cv2.imread(str(i)), dataset.read_labels(lab)) for i, lab in dataset.samples]


def _with_extra_frame(path: Path, frames, extra_image: np.ndarray, at: int, topic: str = IMAGE_TOPIC) -> Path:
    """``write_bag``'s bag plus one more message on ``topic`` stamped like frame ``at``."""
    write_bag(path.with_name(path.name + "_base"), frames, preds={i: (f[1], 10_000_000) for i, f in enumerate(frames)})
    with BagReader(path.with_name(path.name + "_base")) as reader, BagWriter(path, "mcap") as writer:
        for msg in reader.messages():
            writer.write_raw(msg.topic, msg.log_time, msg.raw, msg.msgtype)
        encoding = "bgr8" if extra_image.ndim == 3 else "mono8"
        writer.write(topic, stamp_of(at) + 1, image_msg(extra_image, encoding, stamp_of(at), "camera"))
    return path


def test_two_different_frames_with_one_stamp_are_a_counted_named_skip(tmp_path, capsys, frames, segmenter):
    """Frame 3's image stamped like frame 2: ground truth paired by stamp cannot tell which one it shows,
    so neither is scored (before, both were scored against frame 2's ground truth); the rest are."""
    bag = _with_extra_frame(tmp_path / "two", frames, frames[3][0], at=2)
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 0, err
    assert (summary["frames"], summary["matched"], summary["ambiguous"], summary["duplicates"]) == (
        FRAMES + 1,
        FRAMES - 1,
        2,
        0,
    )
    skipped = [s for s in summary["skipped"] if s["reason"].startswith("ambiguous")]
    assert [(s["topic"], s["stamp"]) for s in skipped] == [(IMAGE_TOPIC, stamp_of(2) / 1e9)] * 2
    assert skipped[0]["reason"] == "ambiguous: 2 different frames have this stamp"
    assert any("share their stamp with a different frame and were not scored" in w for w in summary["warnings"])
    scored = [i for i in range(FRAMES) if i != 2]
    want = expected([(segmenter.segment(frames[i][0]).labels, frames[i][1]) for i in scored])
    assert_same_scores(summary, want)


def test_the_same_frame_recorded_twice_is_scored_once(tmp_path, capsys, frames, reference_summary):
    bag = _with_extra_frame(tmp_path / "twice", frames, frames[2][0], at=2)
    code, summary, err = run_json(capsys, "bag-eval", bag, "--no-progress")
    assert code == 0, err
    assert (summary["frames"], summary["matched"], summary["ambiguous"], summary["duplicates"]) == (
        FRAMES + 1,
        FRAMES,
        0,
        1,
    )
    assert_same_scores(summary, reference_summary)  # exactly the split's numbers: frame 2 counted once


def test_recorded_labels_of_one_stamp_that_differ_are_not_both_scored(tmp_path, capsys, frames):
    wrong = (frames[2][1] + 1) % 19
    bag = _with_extra_frame(tmp_path / "preds", frames, wrong.astype(np.uint8), at=2, topic=PRED_TOPIC)
    code, summary, err = run_json(capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--no-progress")
    assert code == 0, err
    assert (summary["matched"], summary["ambiguous"]) == (FRAMES - 1, 2)
    assert summary["miou"] == 1.0  # the other predictions are the ground truth itself


@pytest.fixture
def drive(domain_id):
    proc = subprocess.Popen(
        [sys.executable, str(DRIVE), "12", "256", "512"],
        env=ros_env(domain_id),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    yield proc
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_a_recording_killed_with_sigkill_is_partial_exit_1(drive, domain_id, tmp_path, capsys):
    """`attanet bag-record` killed with SIGKILL (no metadata.yaml, an MCAP without footer, its last chunk
    never written): --pred-topic must not report the frames lost at the end as dropped by the node with
    `partial: false`, exit 0, but say the recording did not end normally: partial, exit 1."""
    bag = tmp_path / "killed"
    rec = subprocess.Popen(
        attanet_command("bag-record", bag, "--topics", IMAGE_TOPIC, LABEL_TOPIC, PRED_TOPIC),
        env=ros_env(domain_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert drive.stdout.readline().strip() == "done", drive.stderr.read()  # every message delivered
        mcap = bag / f"{bag.name}.mcap"
        end = time.monotonic() + 60  # whole 1 MiB chunks reach the file as the recorder writes them
        while (not mcap.is_file() or mcap.stat().st_size < 3 << 20) and time.monotonic() < end:
            time.sleep(0.1)
        assert mcap.stat().st_size >= 3 << 20, f"the recorder wrote {mcap.stat().st_size} bytes"
    finally:
        rec.send_signal(signal.SIGKILL)
        rec.wait(10)
    assert rec.returncode == -signal.SIGKILL and not (bag / "metadata.yaml").exists()
    code, summary, err = run_json(
        capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--image-topic", IMAGE_TOPIC, "--no-progress"
    )
    assert code == 1, err
    assert summary["partial"] is True and summary["matched"] >= 1
    (error,) = summary["errors"]
    assert error.startswith(
        f"the recording of bag {bag} did not end normally (no metadata.yaml: the recorder did not close the bag)"
    )
    assert f"the scores cover the {summary['frames']} frames read" in error


@pytest.mark.parametrize("cut", [0.6, 0.97])
def test_a_recording_that_ends_inside_a_record_is_partial_exit_1_not_damage(tmp_path, capsys, frames, cut):
    """What a recorder killed while it writes a chunk leaves (no metadata.yaml, the MCAP ending inside a
    record), forced rather than left to where SIGKILL lands: the same single 'did not end normally' error
    as a kill between chunks, naming where the file ends, partial, exit 1, the intact frames scored."""
    bag = write_bag(tmp_path / "cut", frames, preds={i: (f[1], 10_000_000) for i, f in enumerate(frames)})
    (bag / "metadata.yaml").unlink()
    mcap = bag / "cut.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * cut)])
    code, summary, err = run_json(
        capsys, "bag-eval", bag, "--pred-topic", PRED_TOPIC, "--image-topic", IMAGE_TOPIC, "--no-progress"
    )
    assert code == 1, err
    assert summary["partial"] is True and 1 <= summary["matched"] < FRAMES
    (error,) = summary["errors"]
    assert error.startswith(
        f"the recording of bag {bag} did not end normally (no metadata.yaml: the recorder did not close the bag); "
        "cut.mcap ends inside a record: "
    ), error
    assert f"the scores cover the {summary['frames']} frames read" in error
    assert summary["miou"] == 1.0  # the predictions read are the ground truth itself
