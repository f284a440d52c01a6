"""The viewer window on offscreen Qt: drawn pixels, legend toggles, hover, clicks, pause/step, files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from gui_helpers import StaticSource, two_class_frame, wait_until, write_folder
from PyQt5 import QtCore
from PyQt5.QtTest import QTest

from attanet_gui.readers import FolderReader
from attanet_gui.render import ViewSettings
from attanet_gui.sources import SegmentingSource
from attanet_gui.views import qimage_to_rgb
from attanet_gui.window import ViewerWindow
from attanet_model import CITYSCAPES_CLASSES, AttentionQuery, Segmenter


@pytest.fixture
def static_window(qapp):
    source = StaticSource([two_class_frame(120, 160, left=0, right=10)])
    window = ViewerWindow(source, ViewSettings("overlay", 1.0))
    window.resize(900, 500)
    window.show()
    source.start()
    wait_until(lambda: window.frame is not None)
    yield window
    window.close()


def widget_pixel(window: ViewerWindow, x: int, y: int) -> tuple[int, int, int]:
    """The colour the image widget really paints at image pixel (x, y)."""
    view = window.image_view
    view.repaint()
    grabbed = qimage_to_rgb(view.grab().toImage())
    point = view.to_widget_coords(x, y)
    return tuple(int(v) for v in grabbed[int(point.y()), int(point.x())])


def test_overlay_pixels_carry_the_palette_colours(static_window):
    assert widget_pixel(static_window, 20, 60) == CITYSCAPES_CLASSES[0].color  # road half
    assert widget_pixel(static_window, 140, 60) == CITYSCAPES_CLASSES[10].color  # sky half
    static_window.set_alpha(0.5)
    blended = np.array(widget_pixel(static_window, 20, 60))
    expected = (np.array(CITYSCAPES_CLASSES[0].color) + 100) / 2
    assert np.abs(blended - expected).max() <= 1
    assert static_window.alpha_slider.value() == 50


def test_legend_toggle_changes_the_picture(static_window):
    before = static_window.shown_image().copy()
    assert static_window.legend.share_text(0) == "50.0 %"
    assert static_window.legend.share_text(13) == "0.0 %"
    static_window.legend.set_visible_class(10, False)  # as a click on the sky's check box
    assert static_window.settings.hidden == frozenset({10})
    after = static_window.shown_image()
    assert np.array_equal(after[:, :80], before[:, :80])  # road untouched
    assert widget_pixel(static_window, 140, 60) == (100, 100, 100)  # sky hidden: camera grey
    static_window.legend.set_visible_class(10, True)
    assert widget_pixel(static_window, 140, 60) == CITYSCAPES_CLASSES[10].color


def test_hover_readout_names_class_and_confidence(static_window):
    view = static_window.image_view
    QTest.mouseMove(view, view.to_widget_coords(150, 30).toPoint())
    wait_until(lambda: static_window.readout.text())
    text = static_window.readout.text()
    assert "sky" in text and "y=30" in text and "confidence 0.9" in text
    QTest.mouseMove(view, view.to_widget_coords(5, 30).toPoint())
    wait_until(lambda: "road" in static_window.readout.text())


def test_click_asks_for_attention_at_that_column(static_window):
    view = static_window.image_view
    static_window.attention_box.setCurrentText("column")
    QTest.mouseClick(view, QtCore.Qt.LeftButton, pos=view.to_widget_coords(37, 50).toPoint())
    frame = wait_until(lambda: static_window.frame.attention is not None and static_window.frame)
    assert frame.attention_query == AttentionQuery(37)
    assert static_window.settings.view == "attention"
    assert np.flatnonzero(frame.attention[0]).tolist() == [37]


def test_screenshot_and_overlay_recording(static_window, tmp_path):
    path = static_window.save_screenshot(tmp_path / "shot.png")
    shot = cv2.imread(str(path))
    assert shot.shape[:2] == (static_window.height(), static_window.width())
    video = static_window.start_recording(tmp_path / "overlay.mp4", fps=5)
    for _ in range(3):
        static_window.source.slot.put(static_window.frame)
        assert static_window.poll()
    written = static_window.stop_recording()
    capture = cv2.VideoCapture(str(written))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    assert written.parent == video.parent and len(frames) == 3
    # the recorded overlay at alpha 1: road colour on the left (BGR in the file, lossy codec)
    assert np.abs(frames[0][60, 20].astype(int) - CITYSCAPES_CLASSES[0].color[::-1]).max() < 30


def test_the_buttons_say_in_the_status_line_when_the_output_folder_cannot_be_written(static_window, tmp_path):
    """Qt slots must not raise (PyQt aborts the whole viewer): a read-only output folder is a message."""
    from storage_faults import read_only_folder

    with read_only_folder(tmp_path / "ro") as folder:
        static_window.output_dir = folder
        static_window.screenshot_button.click()
        assert f"{folder} is on a read-only file system" in static_window.statusBar().currentMessage()
        static_window.record_button.click()
        assert not static_window.record_button.isChecked() and static_window.recorder is None
        assert f"{folder} is on a read-only file system" in static_window.recording_error
    static_window.output_dir = tmp_path
    static_window.record_button.click()
    assert static_window.record_button.isChecked() and static_window.recording_error is None
    static_window.record_button.click()  # stopped before any frame: nothing is written, and it says so
    assert "nothing recorded" in static_window.statusBar().currentMessage() and list(tmp_path.iterdir()) == [folder]


def test_model_source_attention_follows_the_clicked_column(qapp, tmp_path, model_path):
    images = write_folder(tmp_path / "imgs", count=2, height=256, width=512)
    source = SegmentingSource(FolderReader(tmp_path / "imgs"), lambda hw: Segmenter(model_path))
    window = ViewerWindow(source, ViewSettings("overlay"))
    window.resize(900, 500)
    window.show()
    source.start()
    try:
        wait_until(lambda: source.finished.is_set() and window.frame is not None and window.frame.index == 1, 60)
        maps = {}
        for x in (40, 470):
            window.attention_box.setCurrentText("column")
            window.click(x, 10)
            frame = wait_until(lambda x=x: window.frame.attention_query == AttentionQuery(x) and window.frame, 60)
            maps[x] = frame.attention
        reference = source.segmenter.segment(images[1], AttentionQuery(470)).attention
        assert np.allclose(maps[470], reference, atol=1e-6)  # the model's own answer, on the shown frame
        assert np.abs(maps[40] - maps[470]).max() > 0.2  # a different strip attends differently
        assert window.shown_image().shape == (256, 512, 3)
        assert "processed" in window.stats_text() and "dropped for display" in window.stats_text()
    finally:
        window.close()


def test_pause_and_single_step(qapp, tmp_path, model_path):
    write_folder(tmp_path / "imgs", count=4, height=64, width=128)
    source = SegmentingSource(FolderReader(tmp_path / "imgs"), lambda hw: Segmenter(model_path))
    window = ViewerWindow(source)
    window.set_paused(True)
    source.start()
    try:
        assert source.ready.wait(30)
        QTest.qWait(300)
        assert source.frames_processed == 0 and window.pause_button.text() == "Resume"
        window.step_button.click()
        wait_until(lambda: window.frame is not None and window.frame.index == 0)
        QTest.qWait(300)
        assert source.frames_processed == 1
        window.set_paused(False)
        wait_until(lambda: source.finished.is_set())
        assert source.frames_processed == 4
    finally:
        window.close()


def test_click_on_a_model_without_sam_says_why(qapp, tmp_path):
    from attanet_model import ModelMeta, build_model, save_checkpoint

    model = build_model("attanet_light", use_sam=False).eval()
    save_checkpoint(tmp_path / "no_sam.pt", model, ModelMeta.for_model(model, "attanet_light"))
    write_folder(tmp_path / "imgs", count=1, height=64, width=128)
    source = SegmentingSource(FolderReader(tmp_path / "imgs"), lambda hw: Segmenter(tmp_path / "no_sam.pt"))
    window = ViewerWindow(source)
    source.start()
    try:
        wait_until(lambda: window.frame is not None)
        window.click(10, 10)
        wait_until(lambda: source.notice is not None)
        assert "SAM is switched off" in source.notice and "SAM is switched off" in window.stats_text()
        assert window.frame.attention is None and source.error is None  # the viewer keeps working
    finally:
        window.close()


def test_a_frame_the_model_cannot_take_is_skipped_counted_and_shown(qapp, tmp_path, model_path):
    images = write_folder(tmp_path / "imgs", count=3, height=64, width=128)
    cv2.imwrite(str(tmp_path / "imgs" / "frame_001.png"), np.zeros((600, 4, 3), np.uint8))  # 4 pixels wide
    source = SegmentingSource(FolderReader(tmp_path / "imgs"), lambda hw: Segmenter(model_path))
    window = ViewerWindow(source)
    source.start()
    try:
        wait_until(lambda: source.finished.is_set() and window.frame is not None and window.frame.index == 2, 60)
        assert source.error is None  # the model went on after the bad frame
        assert source.frames_processed == 2 and source.frames_skipped == 1
        assert window.frame.name == "frame_002.png" and np.array_equal(window.frame.image_bgr, images[2])
        stats = window.stats_text()
        assert "skipped 1 frame (frame_001.png: image size 600x4 (HxW) is outside the supported range" in stats
    finally:
        window.close()
