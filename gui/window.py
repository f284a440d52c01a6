"""The viewer's main window: view selector, alpha, legend, readouts, pause/step, screenshot, recording.

The window never calls the model or ROS: a timer takes the newest ``Frame`` from the source's
slot (frames that arrived in between are dropped for display only), renders it with
``render_view`` and draws it. Clicks become attention queries that the source's worker answers.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtWidgets

from attanet_model import AttentionQuery
from attanet_model.atomic_write import write_bytes_atomic

from .frames import Frame
from .legend import ClassLegend
from .recorder import VideoRecorder
from .render import VIEWS, ViewSettings, class_shares, readout_text, render_view
from .sources import FrameSource
from .views import ImageView

POLL_MS = 15
ATTENTION_MODES = ("pixel", "column")
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPG", ".jpeg": "JPG", ".bmp": "BMP"}  # screenshot suffix -> Qt format


class RateMeter:
    """Events per second over the last ``window`` seconds (FPS readouts)."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None, count: int = 1) -> None:
        now = time.monotonic() if now is None else now
        self._times.extend([now] * count)
        self._trim(now)

    def rate(self, now: float | None = None) -> float | None:
        """Events per second, or None until two events give a measurement."""
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return None
        span = max(now - self._times[0], 1e-6)
        return (len(self._times) - 1) / span if span < self.window else len(self._times) / self.window

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()


def _fps(rate: float | None) -> str:
    return "-- FPS" if rate is None else f"{rate:.1f} FPS"


class ViewerWindow(QtWidgets.QMainWindow):
    """Main window over one ``FrameSource``; the caller starts the source, the window stops it on close."""

    frameShown = QtCore.pyqtSignal(object)  # the Frame just drawn

    def __init__(
        self,
        source: FrameSource,
        settings: ViewSettings | None = None,
        title: str = "AttaNet viewer",
        output_dir: Path | str = ".",
        attention_mode: str = "pixel",
    ) -> None:
        super().__init__()
        if attention_mode not in ATTENTION_MODES:
            raise ValueError(f"attention mode {attention_mode!r} is not one of {', '.join(ATTENTION_MODES)}")
        self.source = source
        self.settings = settings or ViewSettings()
        self.output_dir = Path(output_dir)
        self.frame: Frame | None = None
        self.frames_shown = 0
        self.recorder: VideoRecorder | None = None
        self.recording_error: str | None = None  # why the last recording failed; `attanet viewer` exits 2 with it
        self.last_recording: Path | None = None  # the last video written whole
        self._shown_rgb: np.ndarray | None = None
        self._hover: tuple[int, int] | None = None
        self._display_rate, self._model_rate = RateMeter(), RateMeter()
        self._processed_seen = 0
        self.setWindowTitle(title)
        self._build(attention_mode)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.poll)
        self._timer.start(POLL_MS)
        self._stats_timer = QtCore.QTimer(self)
        self._stats_timer.timeout.connect(self._update_stats)
        self._stats_timer.start(500)

    # --- layout ---
    def _build(self, attention_mode: str) -> None:
        bar = self.addToolBar("controls")
        bar.setMovable(False)
        self.view_box = QtWidgets.QComboBox()
        self.view_box.addItems(VIEWS)
        self.view_box.setCurrentText(self.settings.view)
        self.view_box.currentTextChanged.connect(self.set_view)
        bar.addWidget(QtWidgets.QLabel(" view "))
        bar.addWidget(self.view_box)
        self.alpha_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(int(round(self.settings.alpha * 100)))
        self.alpha_slider.setFixedWidth(120)
        self.alpha_slider.setToolTip("overlay opacity")
        self.alpha_slider.valueChanged.connect(lambda v: self.set_alpha(v / 100.0))
        bar.addWidget(QtWidgets.QLabel("  alpha "))
        bar.addWidget(self.alpha_slider)
        self.attention_box = QtWidgets.QComboBox()
        self.attention_box.addItems(ATTENTION_MODES)
        self.attention_box.setCurrentText(attention_mode)
        self.attention_box.setToolTip(
            "click a pixel: which column strips it attends to (paper Fig. 9); column: that strip's reach"
        )
        bar.addWidget(QtWidgets.QLabel("  click shows attention of "))
        bar.addWidget(self.attention_box)
        bar.addSeparator()
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.step_button = QtWidgets.QPushButton("Step")
        self.step_button.setToolTip("process one more frame while paused")
        self.step_button.clicked.connect(self.source.step)
        self.screenshot_button = QtWidgets.QPushButton("Screenshot")
        self.screenshot_button.clicked.connect(self._on_screenshot_clicked)
        self.record_button = QtWidgets.QPushButton("Record overlay")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._on_record_toggled)
        for button in (self.pause_button, self.step_button, self.screenshot_button, self.record_button):
            bar.addWidget(button)

        self.image_view = ImageView()
        self.image_view.set_placeholder(f"waiting for the first frame from {self.source.describe()} ...")
        self.image_view.hovered.connect(self._on_hover)
        self.image_view.left.connect(self._on_leave)
        self.image_view.clicked.connect(self.click)
        self.legend = ClassLegend()
        self.legend.setMinimumWidth(190)
        self.legend.hiddenChanged.connect(self._on_hidden_changed)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.image_view)
        splitter.addWidget(self.legend)
        splitter.setStretchFactor(0, 1)
        self.setCentralWidget(splitter)

        self.readout = QtWidgets.QLabel("")
        self.stats = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.readout, 1)
        self.statusBar().addPermanentWidget(self.stats)

    # --- user actions (also the API tests drive) ---
    def set_view(self, view: str) -> None:
        self.settings = ViewSettings(view, self.settings.alpha, self.settings.hidden)
        if self.view_box.currentText() != view:
            self.view_box.setCurrentText(view)
        self.redraw()

    def set_alpha(self, alpha: float) -> None:
        self.settings = ViewSettings(self.settings.view, alpha, self.settings.hidden)
        if self.alpha_slider.value() != int(round(alpha * 100)):
            self.alpha_slider.setValue(int(round(alpha * 100)))
        self.redraw()

    def set_paused(self, paused: bool) -> None:
        self.source.set_paused(paused)
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")

    def click(self, x: int, y: int) -> None:
        """Ask the model for SAM's attention at this pixel (or its column) and show it."""
        mode = self.attention_box.currentText()
        query = AttentionQuery(int(x), int(y)) if mode == "pixel" else AttentionQuery(int(x))
        self.source.set_attention_query(query)
        if self.settings.view != "attention":
            self.set_view("attention")
        where = f"pixel ({x}, {y})" if mode == "pixel" else f"column x={x}"
        self.statusBar().showMessage(f"computing SAM attention for {where}...", 3000)

    def save_screenshot(self, path: Path | str | None = None) -> Path:
        """Save the whole window as an image (default: a time-stamped PNG in the output folder), written
        atomically; ``OutputError`` (a ValueError) names the file and the cause when it cannot be."""
        path = Path(path) if path else self.output_dir / time.strftime("attanet_screenshot_%Y%m%d_%H%M%S.png")
        image_format = IMAGE_FORMATS.get(path.suffix.lower())
        if image_format is None:
            raise ValueError(f"screenshot {path} must end in one of {', '.join(IMAGE_FORMATS)}")
        buffer = QtCore.QBuffer()
        buffer.open(QtCore.QIODevice.WriteOnly)
        if not self.grab().save(buffer, image_format):
            raise ValueError(f"Qt could not encode the screenshot {path} as {image_format}")
        write_bytes_atomic(path, bytes(buffer.data()))
        self.statusBar().showMessage(f"screenshot saved to {path}", 5000)
        return path

    def start_recording(self, path: Path | str | None = None, fps: float = 10.0) -> Path:
        """Record the overlay (current alpha and hidden classes) of every frame shown from now on.
        ``OutputError`` at once when the folder cannot take a file (read-only, no permission)."""
        path = Path(path) if path else self.output_dir / time.strftime("attanet_overlay_%Y%m%d_%H%M%S.mp4")
        self.recorder = VideoRecorder(path, fps)
        self.recording_error = None
        self._show_recording(True)
        self.statusBar().showMessage(f"recording the overlay to {path}", 5000)
        return path

    def stop_recording(self) -> Path | None:
        """Finish the recording: the file written, or None when no frame was recorded. ``OutputError``
        when the video could not be written whole (nothing is left then)."""
        if self.recorder is None:
            return None
        recorder, self.recorder = self.recorder, None
        self._show_recording(False)
        path = recorder.close()
        if path is None:
            self.statusBar().showMessage(f"no frame was shown; nothing recorded to {recorder.path}", 5000)
            return None
        self.last_recording = path
        self.statusBar().showMessage(f"recorded {recorder.frames} frames to {path}", 5000)
        return path

    def shown_image(self) -> np.ndarray | None:
        """The RGB picture the image widget is showing now (at the frame's own size)."""
        return self._shown_rgb

    # --- frame flow ---
    def poll(self) -> bool:
        """Take the newest frame from the source, if any, and draw it. Returns whether one came."""
        processed = self.source.frames_processed
        if processed > self._processed_seen:
            self._model_rate.tick(count=processed - self._processed_seen)
            self._processed_seen = processed
        frame = self.source.slot.take()
        if frame is None:
            if self.source.error and self.frame is None:
                self.image_view.set_placeholder(self.source.error)
            return False
        self.frame = frame
        self.frames_shown += 1
        self._display_rate.tick()
        self.legend.set_classes(frame.classes)
        self.legend.set_shares(class_shares(frame.labels, frame.classes))
        self.redraw()
        if self.recorder is not None:
            self._record(frame)
        if self._hover is not None:
            self._on_hover(*self._hover)
        if frame.attention is not None and frame.attention_query == self.source.attention_query:
            self.statusBar().clearMessage()  # the "computing attention..." note is answered
        self._update_stats()
        self.frameShown.emit(frame)
        return True

    def redraw(self) -> None:
        if self.frame is None:
            return
        self._shown_rgb = render_view(self.frame, self.settings)
        self.image_view.set_image(self._shown_rgb)

    def _on_hidden_changed(self, hidden: frozenset[int]) -> None:
        self.settings = ViewSettings(self.settings.view, self.settings.alpha, frozenset(hidden))
        self.redraw()

    def _on_hover(self, x: int, y: int) -> None:
        self._hover = (x, y)
        if self.frame is not None:
            self.readout.setText(readout_text(self.frame, x, y))

    def _on_leave(self) -> None:
        self._hover = None
        self.readout.setText("")

    def _record(self, frame: Frame) -> None:
        try:
            self.recorder.write(render_view(frame, ViewSettings("overlay", self.settings.alpha, self.settings.hidden)))
        except ValueError as exc:  # OutputError: OpenCV cannot write this video there
            recorder, self.recorder = self.recorder, None
            recorder.abort()
            self._recording_failed(exc)

    def _on_record_toggled(self, on: bool) -> None:
        # Qt slots must not raise (PyQt aborts the process): a failure goes to the status line.
        try:
            if on:
                self.start_recording()
            else:
                self.stop_recording()
        except ValueError as exc:
            self._recording_failed(exc)

    def _on_screenshot_clicked(self) -> None:
        try:
            self.save_screenshot()
        except ValueError as exc:
            self.statusBar().showMessage(str(exc), 10000)

    def _recording_failed(self, exc: Exception) -> None:
        self.recording_error = str(exc)
        self._show_recording(False)
        self.statusBar().showMessage(self.recording_error, 10000)

    def _show_recording(self, on: bool) -> None:
        if self.record_button.isChecked() != on:
            self.record_button.blockSignals(True)
            self.record_button.setChecked(on)
            self.record_button.blockSignals(False)

    def _update_stats(self) -> None:
        parts = []
        if self.frame is not None:
            parts.append(f"frame {self.frame.index} ({self.frame.name})")
        parts += [f"processed {_fps(self._model_rate.rate())}", f"shown {_fps(self._display_rate.rate())}"]
        if self.frame is not None and self.frame.latency_ms is not None:
            parts.append(f"latency {self.frame.latency_ms:.0f} ms")
        parts.append(f"dropped for display {self.source.slot.dropped}")
        if self.source.frames_skipped:
            parts.append(self.source.skip_summary())
        if self.source.notice:
            parts.append(self.source.notice)
        if self.source.error:
            parts.append(self.source.error)
        self.stats.setText("   ".join(parts))

    def stats_text(self) -> str:
        self._update_stats()
        return self.stats.text()

    def closeEvent(self, event) -> None:
        self._timer.stop()
        self._stats_timer.stop()
        try:
            self.stop_recording()
        except ValueError as exc:  # an event handler must not raise; `attanet viewer` reports it
            self._recording_failed(exc)
        self.source.stop()
        super().closeEvent(event)
