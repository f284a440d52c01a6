"""Run the viewer: the Qt application, the window over a source, and the ``--screenshot`` mode.

``--screenshot`` renders the first processed frame (after the requested click's attention map,
if any) offscreen, saves the window and exits: usable in CI and for the README's pictures.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PyQt5 import QtCore, QtWidgets

from attanet_model import AttentionQuery

from .render import ViewSettings
from .sources import FrameSource
from .window import ViewerWindow

WINDOW_SIZE = (1280, 720)


@dataclass
class ScreenshotRequest:
    """Save the window to ``path`` once a frame (with attention at ``click``, if given) is shown."""

    path: Path
    click: tuple[int, int | None] | None = None  # (x, y) pixel or (x, None) column
    timeout_s: float = 120.0


# Harmless lines Qt prints on the offscreen platform (CI, --screenshot); users would take them for errors.
QUIET_QT_MESSAGES = ("propagateSizeHints", "XDG_RUNTIME_DIR")


def _qt_message(mode, context, message: str) -> None:
    if not any(quiet in message for quiet in QUIET_QT_MESSAGES):
        print(message, file=sys.stderr)


def application(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The process's QApplication (created once; Qt allows only one)."""
    app = QtWidgets.QApplication.instance()
    if app is not None:
        return app
    QtCore.qInstallMessageHandler(_qt_message)
    return QtWidgets.QApplication(argv or [sys.argv[0]])


def run_viewer(
    source: FrameSource,
    settings: ViewSettings,
    title: str,
    output_dir: Path,
    attention_mode: str = "pixel",
    screenshot: ScreenshotRequest | None = None,
    record: Path | None = None,
) -> int:
    """Show the window until the user closes it (or the screenshot is saved). Returns an exit code: 2 when
    the screenshot or the recording could not be written (said in one line)."""
    outcome = {"code": 0}
    # Signals first: a Ctrl-C that lands inside Qt code must not raise there (PyQt aborts the process).
    with _quit_on_signals(outcome) as wake:
        app = application()
        if wake is not None:
            wake.start(200)
        window = ViewerWindow(
            source,
            settings,
            title=title,
            output_dir=output_dir,
            attention_mode="column"
            if screenshot and screenshot.click and screenshot.click[1] is None
            else attention_mode,
        )
        window.resize(*WINDOW_SIZE)
        if record is not None:
            try:
                window.start_recording(record)
            except ValueError as exc:  # OutputError: a read-only or unwritable folder, before anything runs
                print(f"attanet viewer: {exc}", file=sys.stderr)
                return 2
        window.show()
        if screenshot is not None:
            _arm_screenshot(app, window, screenshot, outcome)
        source.start()
        try:
            if outcome["code"] != 130:  # not interrupted while starting up
                app.exec_()
        finally:
            _finish_recording(window)
            source.stop()
    if record is not None and window.recording_error is not None:
        print(f"attanet viewer: {window.recording_error}", file=sys.stderr)
        return 2
    if record is not None and window.last_recording is None and outcome["code"] == 0:
        print(f"attanet viewer: no frame was shown, so nothing was recorded to {record}", file=sys.stderr)
        return 1
    return outcome["code"]


def _finish_recording(window: ViewerWindow) -> None:
    """Close the recording, if one runs; a failure is kept in ``window.recording_error``."""
    try:
        window.stop_recording()
    except ValueError as exc:  # OutputError: the video could not be written whole
        window.recording_error = str(exc)


@contextmanager
def _quit_on_signals(outcome: dict):
    """Ctrl-C / SIGTERM close the window like the user would (exit code 130), so the caller's cleanup runs.

    Qt's event loop does not run Python code by itself; a short timer (started once the
    application exists) lets the handler in.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        outcome["code"] = 130
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.quit()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    wake = QtCore.QTimer()
    wake.timeout.connect(lambda: None)
    try:
        yield wake
    finally:
        wake.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)


def _arm_screenshot(
    app: QtWidgets.QApplication, window: ViewerWindow, request: ScreenshotRequest, outcome: dict
) -> None:
    """Watch the window's frames; save and quit once the wanted one is on screen, or fail on timeout."""
    deadline = time.monotonic() + request.timeout_s
    state = {"clicked": False}

    def check() -> None:
        frame, source = window.frame, window.source
        if source.error and frame is None:
            print(f"attanet viewer: {source.error}", file=sys.stderr)
            outcome["code"] = source.error_code
            app.quit()
            return
        if time.monotonic() > deadline:
            skipped = source.skip_summary()
            why = f"; {skipped}" if skipped else " (is the source publishing? for a topic: is the node running?)"
            print(f"attanet viewer: no frame to screenshot after {request.timeout_s:.0f} s{why}", file=sys.stderr)
            outcome["code"] = 1
            app.quit()
            return
        if frame is None:
            return
        if request.click is not None:
            x, y = request.click
            if not state["clicked"] and window.source.attention_query != AttentionQuery(x, y):
                window.click(x, y if y is not None else 0)
            state["clicked"] = True
            if frame.attention is None or frame.attention_query != AttentionQuery(x, y):
                return
        timer.stop()  # no re-entry while saving (grab() runs the event loop)
        window.image_view.repaint()
        try:  # a timer slot must not raise: PyQt would abort the process
            print(f"screenshot: {window.save_screenshot(request.path)}")
        except ValueError as exc:  # OutputError: a full or read-only folder
            print(f"attanet viewer: {exc}", file=sys.stderr)
            outcome["code"] = 2
        app.quit()

    timer = QtCore.QTimer(window)
    timer.timeout.connect(check)
    timer.start(50)
