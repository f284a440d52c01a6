"""``attanet demo`` end to end: synthetic drive -> bag -> node process -> scored overlays, or the viewer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import ros_domain_for_test

from attanet_model import Segmenter
from attanet_model.metrics import ConfusionMatrix

pytestmark = pytest.mark.slow
SMALL = ["--frames", "4", "--height", "128", "--width", "256", "--no-progress"]


def attanet(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attanet_cli", *args],
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def headless_env() -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


def test_headless_demo_scores_every_frame(demo_out, model_path):
    proc = attanet(
        "demo",
        "--out",
        str(demo_out),
        *SMALL,
        "--model",
        str(model_path),
        "--json",
        "--domain-id",
        str(ros_domain_for_test(1)),
        env=headless_env(),
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["frames"] == summary["frames_played"] == 4 and summary["unmatched"] == 0
    assert json.loads((demo_out / "summary.json").read_text()) == summary
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] < 30_000
    assert "running headless" in err  # no display: said so, did not fail

    # mIoU: the same model run here on the same frames, against the same ground truth
    images = sorted((demo_out / "data" / "leftImg8bit" / "val").rglob("*.png"))
    truths = sorted((demo_out / "data" / "gtFine" / "val").rglob("*_labelTrainIds.png"))
    segmenter, matrix = Segmenter(model_path), ConfusionMatrix(19)
    for image_path, truth_path in zip(images, truths, strict=True):
        matrix.update(segmenter.segment(cv2.imread(str(image_path))).labels, cv2.imread(str(truth_path), 0))
    assert summary["miou"] == pytest.approx(matrix.miou(), abs=0.01)

    overlays = sorted(Path(summary["outputs"]["overlays"]).glob("*.png"))
    assert len(overlays) == 4 and cv2.imread(str(overlays[0])).shape == (128, 256, 3)
    first = cv2.imread(str(images[0])).astype(int)
    assert not np.array_equal(cv2.imread(str(overlays[0])).astype(int), first)  # labels were drawn on it
    capture = cv2.VideoCapture(summary["outputs"]["video"])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()


def test_demo_viewer_screenshot_reuses_the_cached_sequence(demo_out, model_path):
    shot = demo_out / "viewer.png"
    proc = attanet(
        "demo",
        "--out",
        str(demo_out),
        *SMALL,
        "--model",
        str(model_path),
        "--screenshot",
        str(shot),
        "--domain-id",
        str(ros_domain_for_test(2)),
        env=headless_env(),
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "reusing the synthetic sequence" in out and "reusing the bag" in out
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600


def test_ctrl_c_stops_the_demo_and_its_node(demo_out, model_path):
    env = dict(headless_env(), DISPLAY=":99", QT_QPA_PLATFORM="offscreen")  # the viewer path, drawn offscreen
    proc = attanet(
        "demo",
        "--out",
        str(demo_out),
        *SMALL,
        "--model",
        str(model_path),
        "--domain-id",
        str(ros_domain_for_test(3)),
        env=env,
    )
    lines = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "viewer is open" in line:
            break
    text = "".join(lines)
    assert "viewer is open" in text, text + proc.stderr.read()
    node_pid = int(text.split("waiting for the node (pid ")[1].split(";")[0])
    os.kill(node_pid, 0)  # the node runs
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    with pytest.raises(ProcessLookupError):
        os.kill(node_pid, 0)


def test_bad_arguments_fail_with_one_line(tmp_path):
    proc = attanet("demo", "--frames", "0", env=headless_env())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--frames must be in 1..10000, got 0" in err
    proc = attanet("viewer", "--source", str(tmp_path / "not" / "here.mp4"), env=headless_env())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err.strip().endswith("(expected an image folder, a video file or a rosbag2)")
