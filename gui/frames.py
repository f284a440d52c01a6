"""What a source hands the viewer: one camera frame with its segmentation, and a newest-only slot.

A ``Frame`` is plain data (numpy arrays and numbers), so rendering, recording and the headless
demo work on it without Qt. ``LatestSlot`` is how a worker thread hands frames to the UI thread:
the worker never waits for drawing, and a frame the UI had no time to show is replaced by the
next one and counted, so the display drops frames while the source keeps going.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from attanet_model import AttentionQuery, ClassInfo

T = TypeVar("T")


@dataclass
class Frame:
    """One processed camera frame.

    ``latency_ms`` is what the source can honestly measure: the model's own time for in-process
    sources, camera stamp to labels received for the live ROS source (None when the stamp is
    not wall-clock time, e.g. a replayed bag with its recorded stamps).
    """

    index: int
    name: str
    stamp_ns: int
    image_bgr: np.ndarray  # HxWx3 uint8
    labels: np.ndarray  # HxW uint8 trainIds, 255 = unlabeled
    classes: tuple[ClassInfo, ...]
    confidence: np.ndarray | None = None  # HxW float32 in [0, 1]
    attention: np.ndarray | None = None  # HxW float32 in [0, 1]
    attention_query: AttentionQuery | None = None
    latency_ms: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the camera image."""
        return int(self.image_bgr.shape[0]), int(self.image_bgr.shape[1])


class LatestSlot(Generic[T]):
    """A one-item mailbox between threads that keeps only the newest item.

    ``put`` never blocks; an item replaced before anyone took it counts as dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self.put_count = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._lock:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.put_count += 1

    def take(self) -> T | None:
        with self._lock:
            item, self._item = self._item, None
            return item
