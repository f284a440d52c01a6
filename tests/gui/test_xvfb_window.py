"""The real viewer window on a real X server (Xvfb, Qt's xcb platform), grabbed from the X server.

Every other viewer test draws offscreen; this one proves the window opens on X11 and shows the
frame's labels. `.ci/run` installs Xvfb and the xcb libraries; elsewhere the test skips, saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import write_folder

from attanet_gui.qt_platform import check_display
from attanet_model import CITYSCAPES_CLASSES, Segmenter

pytestmark = pytest.mark.slow
GRABBER = Path(__file__).with_name("x_screen_grab.py")


@pytest.fixture
def x_display():
    """A fresh Xvfb server on a free display number (Xvfb picks it: -displayfd)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it: apt-get install xvfb and the xcb libraries)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()  # written once the server accepts connections
    if not number:
        server.kill()
        pytest.fail("Xvfb exited without reporting a display")
    display = f":{number}"
    check = check_display(desktop_env(display))
    if check.problem is not None:
        server.kill()
        pytest.skip(f"Qt cannot use X11 here: {check.problem}")
    yield display
    server.terminate()
    server.wait(10)


def desktop_env(display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    return dict(env, DISPLAY=display, OMP_NUM_THREADS="1")


def palette_shares(rgb: np.ndarray) -> dict[int, float]:
    """Share of each class colour among the palette-coloured pixels of a picture."""
    counts = {c.id: int(np.all(rgb == c.color, axis=-1).sum()) for c in CITYSCAPES_CLASSES}
    total = sum(counts.values())
    return {cid: n / total for cid, n in counts.items() if n}


def test_viewer_window_on_an_x_server_shows_the_frames_labels(x_display, tmp_path, model_path):
    images = write_folder(tmp_path / "imgs", count=1, height=256, width=512)
    reference = Segmenter(model_path).segment(images[0]).labels
    expected = {int(c): float(np.mean(reference == c)) for c in np.unique(reference)}
    env = desktop_env(x_display)
    viewer = subprocess.Popen(
        [sys.executable, "-m", "attanet_cli", "viewer", "--source", str(tmp_path / "imgs")]
        + ["--model", str(model_path), "--view", "labels", "--threads", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the labels, scaled into a ~1000x500 area of the 1280x720 window: far more than the legend's swatches
        grab = subprocess.run(
            [sys.executable, str(GRABBER), str(tmp_path / "screen.png"), "100000", "120"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert viewer.poll() is None, viewer.communicate()[1]
        assert grab.returncode == 0, f"no labels on the X screen; grabber: {grab.stderr}"
    finally:
        viewer.send_signal(signal.SIGTERM)  # closes the window like the user would
        _, err = viewer.communicate(timeout=60)
    assert viewer.returncode == 130, err
    screen = cv2.imread(str(tmp_path / "screen.png"))[:, :, ::-1]
    shown = palette_shares(screen)
    for cid, share in expected.items():
        if share > 0.02:  # the class areas on the X screen are the model's labels, scaled
            assert shown.get(cid, 0.0) == pytest.approx(share, abs=0.02), (cid, shown, expected)
