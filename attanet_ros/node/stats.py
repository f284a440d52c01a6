"""Frame counters, latency percentiles and per-stage times for /diagnostics (thread-safe, ROS-free)."""

from __future__ import annotations

import threading
from collections import Counter, deque

import numpy as np

STAGES = ("decode", "preprocess", "inference", "postprocess", "publish")
# A frame that reached the node more than this after its stamp was stamped by a clock behind the
# node's (or is a bag replayed with its recorded stamps), not delayed: no camera frame waits a
# minute in transport, and the node's own queueing is measured apart (node latency).
CLOCK_BEHIND_MS = 60_000.0


def percentile(values, q: float) -> float:
    """``q``-th percentile of ``values``, NaN when there are none (diagnostics shows 'nan', not a fake 0)."""
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else float("nan")


class FrameStats:
    """Counts what happened to every input frame and keeps recent latencies.

    Written by the subscription callback and the worker thread, read by the diagnostics timer,
    hence the lock. Latencies are over the last ``window`` processed frames, so p95 follows the
    current load instead of averaging over the node's whole life.
    """

    def __init__(self, window: int = 300) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.skipped = 0  # no subscriber to any output: nothing computed
        self.errors: Counter[str] = Counter()
        self.clock_ahead = 0  # frames stamped in the node's future: the camera's clock is ahead
        self.clock_behind = 0  # frames stamped more than CLOCK_BEHIND_MS before they arrived
        self._clock_behind_ms = deque(maxlen=window)
        self.camera_info_mismatch = 0  # frames whose camera_info could not be republished (another aspect)
        self.camera_info_problem = ""  # why, for the last of them
        self._clock_ahead_ms = deque(maxlen=window)
        self._latency = deque(maxlen=window)  # camera stamp -> last output published, ms
        self._node_latency = deque(maxlen=window)  # message received -> last output published, ms
        self._arrival = deque(maxlen=window)  # camera stamp -> message received (DDS and the executor), ms
        self._stages = {name: deque(maxlen=window) for name in STAGES}

    def on_received(self) -> None:
        with self._lock:
            self.received += 1

    def on_dropped(self, count: int = 1) -> None:
        with self._lock:
            self.dropped += count

    def on_skipped(self) -> None:
        with self._lock:
            self.skipped += 1

    def on_error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def on_camera_info_mismatch(self, problem: str) -> None:
        with self._lock:
            self.camera_info_mismatch += 1
            self.camera_info_problem = problem

    def on_processed(self, latency_ms: float | None, node_latency_ms: float, stages_ms: dict[str, float]) -> None:
        with self._lock:
            self.processed += 1
            if latency_ms is not None and latency_ms < 0:
                # a negative latency is a clock offset, not speed: kept apart so the percentiles stay true
                self.clock_ahead += 1
                self._clock_ahead_ms.append(-latency_ms)
            elif latency_ms is not None and latency_ms - node_latency_ms > CLOCK_BEHIND_MS:
                # stamp -> arrival (the node's own part taken out) beyond any transport delay: an offset too
                self.clock_behind += 1
                self._clock_behind_ms.append(latency_ms - node_latency_ms)
            elif latency_ms is not None:
                self._latency.append(latency_ms)
                self._arrival.append(latency_ms - node_latency_ms)
            self._node_latency.append(node_latency_ms)
            for name, value in stages_ms.items():
                if name in self._stages:
                    self._stages[name].append(value)

    def snapshot(self) -> dict:
        """A consistent copy of every counter and statistic, as plain numbers."""
        with self._lock:
            latency, node_latency, arrival = list(self._latency), list(self._node_latency), list(self._arrival)
            ahead, behind = list(self._clock_ahead_ms), list(self._clock_behind_ms)
            stages = {name: list(values) for name, values in self._stages.items()}
            return {
                "received": self.received,
                "processed": self.processed,
                "dropped": self.dropped,
                "skipped_no_subscribers": self.skipped,
                "errors": dict(self.errors),
                "clock_ahead": self.clock_ahead,
                "camera_info_mismatch": self.camera_info_mismatch,
                "camera_info_problem": self.camera_info_problem,
                "clock_ahead_p50_ms": percentile(ahead, 50),
                "clock_behind": self.clock_behind,
                "clock_behind_p50_ms": percentile(behind, 50),
                "latency_p50_ms": percentile(latency, 50),
                "latency_p95_ms": percentile(latency, 95),
                "node_latency_p50_ms": percentile(node_latency, 50),
                "node_latency_p95_ms": percentile(node_latency, 95),
                "arrival_p50_ms": percentile(arrival, 50),
                "arrival_p95_ms": percentile(arrival, 95),
                "stages_p50_ms": {name: percentile(values, 50) for name, values in stages.items()},
            }


class RateLimitedLog:
    """Lets one line per ``kind`` through every ``period`` seconds and counts the ones it held back.

    A camera sending garbage at 30 Hz should cost one log line every few seconds saying how many
    frames were bad, not 30 lines a second. Not thread-safe; call it from one thread.
    """

    def __init__(self, emit, period: float, clock) -> None:
        self._emit, self._period, self._clock = emit, period, clock
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def __call__(self, kind: str, message: str) -> bool:
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._period:
            self._held[kind] += 1
            return False
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        self._emit(message + (f" ({held} more like this since the last message)" if held else ""))
        return True
