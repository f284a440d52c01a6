"""Helpers for the viewer tests: waiting on Qt, small generated scenes, a source of prepared frames."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
from PyQt5 import QtWidgets

from attanet_gui.frames import Frame
from attanet_gui.sources import FrameSource
from attanet_model import CITYSCAPES_CLASSES, AttentionQuery


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, app=None) -> object:
    """Process Qt events until ``predicate()`` is truthy; fail the test with a clear message on timeout."""
    app = app or QtWidgets.QApplication.instance()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app is not None:
            app.processEvents()
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s: {getattr(predicate, '__name__', predicate)}")


def street_image(height: int = 128, width: int = 256, seed: int = 0) -> np.ndarray:
    """A BGR street-like picture: sky, buildings, road, with noise (enough for the model to vary)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    img[: height // 3] = (180, 130, 70)
    img[height // 3 : 2 * height // 3] = (70, 70, 70)
    img[2 * height // 3 :] = (128, 64, 128)
    x0 = int(rng.integers(0, width // 2))
    cv2.rectangle(img, (x0, height // 2), (x0 + width // 6, 5 * height // 6), (142, 0, 0), -1)
    noise = rng.integers(-20, 21, size=img.shape)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def write_folder(folder, count: int = 3, height: int = 128, width: int = 256) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images = [street_image(height, width, seed=i) for i in range(count)]
    for i, img in enumerate(images):
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), img)
    return images


def two_class_frame(height: int = 60, width: int = 80, left: int = 0, right: int = 10) -> Frame:
    """A frame whose left half is class ``left`` and right half ``right``, on a flat grey camera image."""
    labels = np.full((height, width), left, np.uint8)
    labels[:, width // 2 :] = right
    confidence = np.linspace(0.2, 1.0, width, dtype=np.float32)[None, :].repeat(height, 0)
    image = np.full((height, width, 3), 100, np.uint8)
    return Frame(0, "two-class", 0, image, labels, CITYSCAPES_CLASSES, confidence, latency_ms=5.0)


class StaticSource(FrameSource):
    """A source that hands the window prepared frames (the window's own behaviour is under test).

    Attention queries are answered with a map that is 1 in the clicked column, so a test can
    see the window asked for the right thing.
    """

    name = "static"

    def __init__(self, frames: list[Frame]) -> None:
        super().__init__()
        self.frames = frames

    def run(self) -> None:
        for frame in self.frames:
            self.frames_processed += 1
            self.slot.put(frame)
        last = self.frames[-1]
        while self._wait_for_query() == "query":
            query: AttentionQuery | None = self._query
            attention = None
            if query is not None:
                attention = np.zeros(last.labels.shape, np.float32)
                attention[:, query.x] = 1.0
            self.slot.put(replace(last, attention=attention, attention_query=query))


def calibrated_model(path) -> None:
    """Write a small attanet_light checkpoint whose BatchNorm statistics come from street images.

    A freshly initialised network's activations shrink layer by layer, so its SAM attention is
    uniform to 1e-6 and every click would look the same; measuring BN statistics on a few
    scenes (as training would) gives unit-scale features and a SAM that prefers some strips.
    """
    import torch

    from attanet_model import ModelMeta, build_model, save_checkpoint
    from attanet_model.preprocess import normalize_bgr

    torch.manual_seed(0)
    model = build_model("attanet_light")
    meta = ModelMeta.for_model(model, "attanet_light")
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
    model.train()
    batch = [torch.from_numpy(normalize_bgr(street_image(128, 256, i), meta.mean, meta.std)) for i in range(4)]
    with torch.no_grad():
        model(torch.cat(batch))
    model.eval()
    save_checkpoint(path, model, meta)


# A library PyQt5's libqxcb.so itself links against (readelf -d), and a name for it of the same
# length that no system has, so a byte-edited copy of the plugin stays a valid ELF file.
HIDDEN = b"libxcb-xinerama.so.0"
RENAMED = b"libxcb-xinerama.so.7"


def xcb_plugin_needing(folder, needed: bytes = HIDDEN, instead: bytes = RENAMED):
    """A copy of PyQt5's xcb plugin under ``folder`` that links against ``instead`` where the real one needs
    ``needed``: Qt (and ldd) find that library only where a test puts it on LD_LIBRARY_PATH. Returns the
    folder to give Qt as QT_QPA_PLATFORM_PLUGIN_PATH."""
    import pytest

    from attanet_gui.qt_platform import platform_plugin

    real = platform_plugin("xcb", {})
    if real is None:
        pytest.skip("PyQt5 has no libqxcb.so here")
    data = real.read_bytes()
    assert data.count(needed + b"\0") == 1 and len(needed) == len(instead)
    platforms = folder / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (platforms / real.name).write_bytes(data.replace(needed + b"\0", instead + b"\0"))
    (folder / "lib").symlink_to(real.parent.parent.parent / "lib")  # the plugin's RUNPATH $ORIGIN/../../lib
    return platforms


def ros_domain_for_test(offset: int = 0) -> int:
    """A ROS domain for this test process, so parallel test runs on one machine do not hear each other."""
    import os

    return 20 + (os.getpid() + offset) % 80
