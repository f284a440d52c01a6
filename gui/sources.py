"""Frame sources that run on worker threads and hand ``Frame``s to the UI through a ``LatestSlot``.

``SegmentingSource`` runs the model in-process (folder, video or bag readers). The live ROS
source lives in ``ros_source.py`` so that this module, and the viewer on files, never import
rclpy. Both share ``FrameSource``: start/stop, pause/single-step, and the attention query
the user set by clicking, which the worker (the only thread that touches the model) answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from attanet_model import AttentionQuery, Segmenter

from .frames import Frame, LatestSlot
from .readers import SkippedImage, SourceImage

log = logging.getLogger(__name__)

MAX_SKIPS_KEPT = 20  # named in messages; the count goes on


class NothingToShow(ValueError):
    """A source ended without one usable frame (every item undecodable or refused by the model)."""


class FrameSource:
    """Base of the viewer's sources: a worker thread, a newest-only output slot, controls.

    ``slot`` holds the newest frame for the UI; ``error`` is set (and the worker ends) when the
    source fails, so the window can show why instead of freezing.
    """

    name = "source"

    def __init__(self) -> None:
        self.slot: LatestSlot[Frame] = LatestSlot()
        self.error: str | None = None
        self.notice: str | None = None  # a non-fatal message for the status line
        self.error_code = 1  # exit code of a --screenshot run that ends on ``error`` (2: the input is unusable)
        self.finished = threading.Event()
        self.frames_processed = 0
        self.frames_skipped = 0
        self.skipped: list[str] = []  # "name: reason" of the first skipped frames (MAX_SKIPS_KEPT)
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._paused = False
        self._steps = 0
        self._query: AttentionQuery | None = None
        self._query_changed = False
        self._thread: threading.Thread | None = None

    # --- controls (called from the UI thread) ---
    def start(self) -> None:
        """Start the worker (a second call while it runs does nothing)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run_guarded, name=f"attanet-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        with self._wake:
            self._paused = paused
            self._wake.notify_all()

    def step(self) -> None:
        """Process exactly one more frame while paused."""
        with self._wake:
            self._steps += 1
            self._wake.notify_all()

    def set_attention_query(self, query: AttentionQuery | None) -> None:
        """Ask for SAM's attention at ``query`` on the current frame and every later one (None: stop)."""
        with self._wake:
            self._query = query
            self._query_changed = True
            self._wake.notify_all()

    @property
    def attention_query(self) -> AttentionQuery | None:
        return self._query

    def describe(self) -> str:
        """Where frames come from, for the window's messages."""
        return self.name

    # --- worker side ---
    def skip(self, name: str, reason: str) -> None:
        """Count a frame that cannot be shown and say which and why (status line, log); the source goes on."""
        self.frames_skipped += 1
        if len(self.skipped) < MAX_SKIPS_KEPT:  # a camera with a wrong encoding must not flood the log
            self.skipped.append(f"{name}: {reason}")
            log.warning("skipped %s: %s", name, reason)

    def skip_summary(self) -> str:
        """'skipped N frames (name: reason, ...)' for messages, or '' when nothing was skipped."""
        if not self.frames_skipped:
            return ""
        named = "; ".join(self.skipped[:3]) + (
            f"; and {self.frames_skipped - 3} more" if self.frames_skipped > 3 else ""
        )
        return f"skipped {self.frames_skipped} frame{'s' if self.frames_skipped > 1 else ''} ({named})"

    def _run_guarded(self) -> None:
        try:
            self.run()
        except NothingToShow as exc:
            self.error, self.error_code = str(exc), 2
        except Exception as exc:  # shown in the window's status line; the UI keeps running
            log.exception("%s failed", self.name)
            self.error = f"{self.name} stopped: {exc}"
        finally:
            self.finished.set()

    def run(self) -> None:
        raise NotImplementedError

    def _wait_for_turn(self) -> str:
        """Block until there is work: 'frame' (go on), 'query' (attention changed) or 'stop'."""
        with self._wake:
            while True:
                if self._stop.is_set():
                    return "stop"
                if self._query_changed:
                    self._query_changed = False
                    return "query"
                if not self._paused:
                    return "frame"
                if self._steps > 0:
                    self._steps -= 1
                    return "frame"
                self._wake.wait(0.2)

    def _wait_for_query(self) -> str:
        """Wait only for a new attention query (a source with no new frames): 'query' or 'stop'."""
        with self._wake:
            while not self._stop.is_set():
                if self._query_changed:
                    self._query_changed = False
                    return "query"
                self._wake.wait(0.2)
            return "stop"

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)


class SegmentingSource(FrameSource):
    """Reads camera images and segments them in-process with a ``Segmenter``.

    Plays as fast as the model allows, or at most ``max_fps`` (a video's own rate by default).
    When a reader runs out it stops (or starts over with ``loop``); clicking still works on the
    last frame. ``segmenter_factory(frame_hw)`` builds the model on the worker thread so that loading a
    checkpoint never stalls the window; it is given the first frame's (H, W) (None when the source has no
    readable frame), so that ``auto`` decides at the size it will run.
    """

    name = "model"

    def __init__(
        self, reader: Iterable[SourceImage], segmenter_factory, max_fps: float | None = None, loop: bool = False
    ) -> None:
        super().__init__()
        self.reader = reader
        self.segmenter_factory = segmenter_factory
        self.max_fps = max_fps if max_fps is not None else getattr(reader, "fps", None)
        self.loop = loop
        self.segmenter: Segmenter | None = None
        self.ready = threading.Event()
        self._last: SourceImage | None = None
        self._last_index = -1
        self._index = -1

    def describe(self) -> str:
        where = getattr(self.reader, "path", None) or getattr(self.reader, "folder", None)
        return f"the model on {where}" if where else "the model"

    def run(self) -> None:
        images = iter(self.reader)
        pending = self._next_image(images)  # the first frame: its size is the one the model will run at
        self.segmenter = self.segmenter_factory(None if pending is None else pending.image_bgr.shape[:2])
        self.ready.set()
        period = 1.0 / self.max_fps if self.max_fps else 0.0
        next_due = time.monotonic()
        exhausted = False
        while True:
            turn = self._wait_for_turn() if not exhausted else self._wait_for_query()
            if turn == "stop":
                return
            if turn == "query":
                if self._last is not None:
                    self._publish(self._last, self._last_index)
                continue
            image = pending if pending is not None else self._next_image(images)
            pending = None
            if image is None and self.loop and self._last is not None:
                images = iter(self.reader)
                image = self._next_image(images)
            if image is None:
                if self._last is None:  # the whole source, and not one frame to show
                    where = getattr(self.reader, "path", None) or getattr(self.reader, "folder", None) or "the source"
                    why = self.skip_summary() or "it gave no frames"
                    raise NothingToShow(f"no frame of {where} could be shown: {why}")
                exhausted = True
                self.finished.set()
                continue
            self._index += 1
            try:
                self._publish(image, self._index)
            except (ValueError, RuntimeError) as exc:  # a frame the model cannot take (size, ...): the next may do
                self.skip(image.name, str(exc))
                continue
            self._last, self._last_index = image, self._index
            if period:
                next_due = max(next_due + period, time.monotonic() - period)
                self._sleep(next_due - time.monotonic())

    def _next_image(self, images) -> SourceImage | None:
        """The next decodable image of ``images`` (undecodable ones counted as skipped), None at the end."""
        for item in images:
            if isinstance(item, SkippedImage):
                self.skip(item.name, item.reason)
                continue
            return item
        return None

    def _publish(self, image: SourceImage, index: int) -> None:
        query = self._query
        start = time.perf_counter()
        try:
            result = self.segmenter.segment(image.image_bgr, query)
        except ValueError as exc:  # e.g. an ONNX model or SAM switched off: no attention to show
            if query is None:
                raise
            result = self.segmenter.segment(image.image_bgr)  # raises again when the frame itself is the problem
            self.notice = f"no attention map: {exc}"
            self._query = query = None
        latency = (time.perf_counter() - start) * 1e3
        self.frames_processed += 1
        self.slot.put(
            Frame(
                index=index,
                name=image.name,
                stamp_ns=image.stamp_ns,
                image_bgr=image.image_bgr,
                labels=result.labels,
                classes=tuple(self.segmenter.classes),
                confidence=result.confidence,
                attention=result.attention,
                attention_query=query if result.attention is not None else None,
                latency_ms=latency,
                timings_ms=result.timings_ms,
            )
        )
