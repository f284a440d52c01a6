"""The headless demo's overlay writer: every frame written, in order, off the demo's thread; a failed
write ends the demo with the file's name instead of being lost."""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np
import pytest
from gui_helpers import street_image

from attanet_demo_steps import OverlayWriter
from attanet_gui.frames import Frame
from attanet_gui.recorder import VideoRecorder
from attanet_gui.render import ViewSettings, render_view
from attanet_model import CITYSCAPES_CLASSES
from attanet_model.atomic_write import OutputError


def frame(index: int) -> Frame:
    image = street_image(64, 128, seed=index)
    labels = np.random.default_rng(index).integers(0, 19, (64, 128), dtype=np.uint8)
    return Frame(index, f"f{index}", index, image, labels, CITYSCAPES_CLASSES)


def test_every_overlay_is_written_in_order_as_a_png_and_a_video_frame(tmp_path):
    recorder = VideoRecorder(tmp_path / "demo.avi", fps=10)
    writer = OverlayWriter(tmp_path, recorder, alpha=0.5, depth=2)  # a queue shorter than the frames: put() waits
    frames = [frame(i) for i in range(6)]
    for i, f in enumerate(frames):
        writer.put(i, f)
    writer.close()
    assert writer.written == 6
    for i, f in enumerate(frames):
        png = cv2.imread(str(tmp_path / f"frame_{i:04d}.png"))
        expected = render_view(f, ViewSettings("overlay", 0.5))[:, :, ::-1]
        assert np.array_equal(png, expected)
    video = cv2.VideoCapture(str(recorder.path))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_the_writer_thread_runs_at_the_lowest_priority(tmp_path, monkeypatch):
    seen = {}
    real = os.setpriority

    def record(which, who, value):
        seen[threading.current_thread().name] = (which, who == threading.get_native_id(), value)
        real(which, who, value)

    monkeypatch.setattr(os, "setpriority", record)
    writer = OverlayWriter(tmp_path, VideoRecorder(tmp_path / "v.avi"), alpha=0.5)
    writer.put(0, frame(0))
    writer.close()
    assert seen == {"demo-overlay-writer": (os.PRIO_PROCESS, True, 19)}  # its own thread id, nobody else's
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19  # the demo's thread keeps its priority


def test_a_full_disk_ends_the_demo_with_the_file_named(tmp_path):
    from storage_faults import full_disk

    with full_disk(tmp_path / "out") as out:
        writer = OverlayWriter(out, VideoRecorder(tmp_path / "v.avi"), alpha=0.5)
        with pytest.raises(OutputError, match="frame_0000.png"):
            for i in range(50):  # the error comes back at a later put() or at close(), never lost
                writer.put(i, frame(i))
            writer.close()
        assert not any(p.name.startswith("frame_") for p in out.iterdir())  # no empty or partial PNG left
