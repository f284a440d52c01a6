"""Hand-off between the subscription callback and the inference worker.

live:   a one-slot mailbox. A new frame replaces an unprocessed one (counted as dropped), so the
        worker always starts on the newest frame and latency stays bounded when the camera
        outpaces the model.
replay: a bounded FIFO. ``put`` blocks while it is full: the callback stops taking messages,
        the reliable DDS reader buffers them and, once its limits are reached, the publisher
        waits. Every frame is processed, in arrival order.

Several cameras: ``FrameQueues`` holds one such queue per camera on one shared condition, so the
one worker wakes for whichever camera has a frame and takes every camera's waiting frame at once
(what can go through one batched forward).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class FrameQueue:
    def __init__(self, mode: str, capacity: int = 8, condition: threading.Condition | None = None) -> None:
        if mode not in ("live", "replay"):
            raise ValueError(f"mode {mode!r} is not supported; choose 'live' or 'replay'")
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.mode = mode
        self._capacity = 1 if mode == "live" else capacity
        self._items: deque = deque()
        self._cond = condition or threading.Condition()
        self._closed = False

    def put(self, item: Any) -> int:
        """Queue ``item``; returns how many older frames this dropped (live only, 0 or 1)."""
        with self._cond:
            dropped = 0
            if self.mode == "live":
                dropped = len(self._items)
                self._items.clear()
            else:
                while len(self._items) >= self._capacity and not self._closed:
                    self._cond.wait(0.1)
                if self._closed:
                    return 0
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float | None = None) -> Any | None:
        """The next frame, or None after ``timeout`` seconds or once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Wake everyone: a blocked ``put`` returns, ``get`` drains what is left then returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class FrameQueues:
    """One ``FrameQueue`` per camera name, all on one condition; ``take`` serves them together."""

    def __init__(self, names: list[str], mode: str, capacity: int = 8) -> None:
        self._cond = threading.Condition()
        self._queues = {name: FrameQueue(mode, capacity, self._cond) for name in names}
        self._closed = False

    def put(self, name: str, item: Any) -> int:
        """Queue ``item`` for camera ``name``; returns how many older frames of it were dropped."""
        return self._queues[name].put(item)

    def take(self, timeout: float | None = None) -> list[tuple[str, Any]]:
        """The oldest waiting frame of every camera that has one, as (name, item), in camera order;
        empty after ``timeout`` seconds with nothing waiting, or once closed and drained."""
        with self._cond:
            if not any(q._items for q in self._queues.values()) and not self._closed:
                self._cond.wait(timeout)
            taken = [(name, q._items.popleft()) for name, q in self._queues.items() if q._items]
            if taken:
                self._cond.notify_all()  # a replay callback blocked on a full queue may go on
            return taken

    def close(self) -> None:
        """Wake everyone: blocked ``put`` calls return, ``take`` drains what is left."""
        with self._cond:
            self._closed = True
            for q in self._queues.values():
                q._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return sum(len(q._items) for q in self._queues.values())
