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
from gui_helpers import ros_domain_for_test, xcb_plugin_needing

from attanet_model import Segmenter
from attanet_model.metrics import ConfusionMatrix

pytestmark = pytest.mark.slow
SMALL = ["--frames", "4", "--size", "128x256", "--no-progress"]


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
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):  # conftest's offscreen too: a user's shell
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


def test_two_headless_demos_at_once_each_score_their_own_frames(demo_out, model_path, tmp_path):
    """Two demos started together on one machine, no --domain-id: each finds a ROS domain of its own, so
    neither pairs the other's frames. The second runs on a desktop whose xcb plugin cannot load (one of its
    libraries hidden) and falls back to headless, saying why."""
    broken_desktop = dict(
        headless_env(), DISPLAY=":231", QT_QPA_PLATFORM_PLUGIN_PATH=str(xcb_plugin_needing(tmp_path / "qt"))
    )
    runs = [
        attanet("demo", "--out", str(out), *SMALL, "--model", str(model_path), "--json", env=env)
        for out, env in ((demo_out, headless_env()), (tmp_path / "second", broken_desktop))
    ]
    results = [proc.communicate(timeout=300) for proc in runs]
    summaries = []
    for proc, (out, err) in zip(runs, results, strict=True):
        assert proc.returncode == 0, err
        summary = json.loads(out)
        assert summary["frames"] == summary["frames_played"] == 4 and summary["unmatched"] == 0, err
        assert "free on this machine" in err
        summaries.append(summary)
    domains = [int(err.split("running in ROS domain ")[1].split(",")[0]) for _, err in results]
    assert domains[0] != domains[1]
    assert "running headless" in results[0][1]  # no display: said so, did not fail
    second_err = results[1][1]
    assert "running headless" in second_err
    from attanet_gui.qt_platform import check_display

    own = check_display({k: v for k, v in broken_desktop.items() if k != "QT_QPA_PLATFORM_PLUGIN_PATH"}).problem
    if own and "libraries" in own:  # this machine lacks xcb libraries itself (CI installs them): Qt names those
        assert "xcb platform plugin cannot load: the system libraries" in second_err and "apt-get install" in second_err
    else:
        assert "libxcb-xinerama.so.7" in second_err and "apt-get install libxcb-xinerama0" in second_err
    assert "running headless instead" in second_err
    summary = summaries[0]
    assert json.loads((demo_out / "summary.json").read_text()) == summary
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] < 30_000

    # mIoU: the same model run here on the same frames, against the same ground truth
    images = sorted((demo_out / "data" / "leftImg8bit" / "val").rglob("*.png"))
    truths = sorted((demo_out / "data" / "gtFine" / "val").rglob("*_labelTrainIds.png"))
    segmenter, matrix = Segmenter(model_path, input_scale=summary["input_scale"]), ConfusionMatrix(19)
    for image_path, truth_path in zip(images, truths, strict=True):
        matrix.update(segmenter.segment(cv2.imread(str(image_path))).labels, cv2.imread(str(truth_path), 0))
    assert summary["miou"] == pytest.approx(matrix.miou(), abs=0.01)
    assert summaries[1]["miou"] == pytest.approx(summary["miou"], abs=1e-6)  # same drive, same model

    overlays = sorted(Path(summary["outputs"]["overlays"]).glob("*.png"))
    assert len(overlays) == 4 and cv2.imread(str(overlays[0])).shape == (128, 256, 3)
    first = cv2.imread(str(images[0])).astype(int)
    assert not np.array_equal(cv2.imread(str(overlays[0])).astype(int), first)  # labels were drawn on it
    capture = cv2.VideoCapture(summary["outputs"]["video"])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()


# A plain rclpy process with a node named like AttaNet's (the demo's check is about the name; no model needed).
NAMESAKE_NODE = (
    "import rclpy, sys, time; rclpy.init(); node = rclpy.create_node('attanet'); print('up', flush=True); "
    "sys.stdin.read()"
)


def test_demo_refuses_a_domain_where_an_attanet_node_runs(tmp_path):
    from attanet_gui.ros_domain import nodes_named

    domain = ros_domain_for_test(4)
    namesake = subprocess.Popen(
        [sys.executable, "-c", NAMESAKE_NODE],
        env=dict(os.environ, ROS_DOMAIN_ID=str(domain)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert namesake.stdout.readline().strip() == "up"
        deadline = time.monotonic() + 60
        while not nodes_named(domain, "attanet", wait_s=1.0):  # visible to discovery before the demo looks
            assert time.monotonic() < deadline, "the namesake node never appeared in discovery"
        proc = attanet("demo", "--out", str(tmp_path / "out"), *SMALL, "--domain-id", str(domain), env=headless_env())
        _, err = proc.communicate(timeout=120)
    finally:
        namesake.stdin.close()  # ends it
        namesake.wait(30)
    assert proc.returncode == 2, err
    assert err.strip() == (
        f"attanet demo: ROS domain {domain} already has a node named attanet (/attanet), whose frames would mix "
        "with the demo's; stop it, choose another --domain-id, or leave --domain-id out to run in a free domain"
    )
    assert not (tmp_path / "out").exists()  # refused before writing anything


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
        env=headless_env(),
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "reusing the synthetic sequence" in out and "reusing the bag" in out
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600


def test_ctrl_c_stops_the_demo_and_its_node(demo_out, model_path):
    """Ctrl-C while frames are being published (0.1 Hz: the 4 frames take 30 s, so the demo is mid-run when the
    signal lands). The viewer path's own Ctrl-C/SIGTERM handling is in test_xvfb_window."""
    proc = attanet(
        "demo", "--out", str(demo_out), *SMALL, "--model", str(model_path), "--rate", "0.1", env=headless_env()
    )
    lines = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "publishing 4 frames" in line:
            break
    text = "".join(lines)
    assert "publishing 4 frames" in text, text + proc.stderr.read()
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
    for command in ("demo", "viewer"):  # one --input-scale flag, one check, wherever a model runs
        proc = attanet(command, "--source", "x", "--input-scale", "0", env=headless_env())
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and "--input-scale must be a number in (0, 4], e.g. 0.5 or 1.0; got '0'" in err
    proc = attanet("viewer", "--source", str(tmp_path / "not" / "here.mp4"), env=headless_env())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err.strip().endswith("(expected an image folder, a video file or a rosbag2)")
