"""Write rendered frames to a video file with OpenCV (MP4 where the codec exists, else MJPG AVI)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# suffix -> fourcc. opencv-python-headless writes mp4v; MJPG (AVI) is the fallback that always works.
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoRecorder:
    """Appends RGB frames to ``path``; the first frame fixes the size, later ones are resized to it.

    Falls back from an MP4 the codec cannot write to an MJPG ``.avi`` beside it, and says so
    through ``path`` (the file actually written).
    """

    def __init__(self, path: str | Path, fps: float = 10.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in CODECS:
            raise ValueError(f"video file {self.path} must end in one of {', '.join(CODECS)}")
        if not fps > 0:
            raise ValueError(f"video frame rate must be positive, got {fps}")
        self.fps = float(fps)
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            self._open(rgb.shape[1], rgb.shape[0])
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self, width: int, height: int) -> None:
        # Codecs want even sizes.
        self._size = (width - width % 2, height - height % 2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        candidates = [(self.path, CODECS[self.path.suffix.lower()])]
        if self.path.suffix.lower() != ".avi":
            candidates.append((self.path.with_suffix(".avi"), "MJPG"))
        for path, codec in candidates:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), self.fps, self._size)
            if writer.isOpened():
                self.path, self._writer = path, writer
                return
            writer.release()
        raise RuntimeError(f"OpenCV cannot write a video at {self.path} (tried {', '.join(c for _, c in candidates)})")
