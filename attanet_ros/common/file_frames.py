"""Camera frames from files: a folder of images or a video file, decoded by OpenCV.

Each reader is an iterable of ``SourceImage`` (BGR uint8) with a ``SkippedImage`` (name and
reason) in the place of an item that cannot be decoded, so whoever plays the frames counts and
names it instead of stopping. Used by ``attanet camera``, ``attanet bag-make --source`` and the
viewer (which adds rosbag2 sources on top). ``open_file_frames`` picks a reader from a path and
says what it expected when the path is neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class SourceImage:
    image_bgr: np.ndarray
    stamp_ns: int
    name: str


@dataclass
class SkippedImage:
    """An item of a source that could not be decoded: where it is, and why."""

    name: str
    reason: str


class FolderReader:
    """Images under a folder (recursively, sorted by path, so Cityscapes' city folders work)."""

    def __init__(self, folder: Path, pattern: str = "*") -> None:
        self.folder = folder
        self.paths = sorted(p for p in folder.rglob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder} matching {pattern!r}")
        self.fps: float | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[SourceImage | SkippedImage]:
        for i, path in enumerate(self.paths):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            name = str(path.relative_to(self.folder))
            if image is None:
                yield SkippedImage(name, "OpenCV cannot decode it as an image (corrupt, truncated or empty)")
                continue
            yield SourceImage(image, i, name)


class VideoReader:
    """Frames of a video file through OpenCV; its frame rate paces playback. Frames its header announces
    but that cannot be decoded (a file cut short) end it with one ``SkippedImage`` naming them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise ValueError(f"OpenCV cannot open the video {path} (is it a video file it has a codec for?)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self._count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        capture.release()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[SourceImage | SkippedImage]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    if index < self._count:  # a file cut short or damaged: the rest is lost, and said so
                        yield SkippedImage(
                            f"{self.path.name}#{index}..#{self._count - 1}",
                            f"the video ends after {index} of the {self._count} frames its header announces "
                            "(truncated or damaged; the rest cannot be decoded)",
                        )
                    return
                stamp = int(index * 1e9 / self.fps) if self.fps else index
                yield SourceImage(image, stamp, f"{self.path.name}#{index}")
                index += 1
        finally:
            capture.release()


def open_file_frames(path: Path) -> FolderReader | VideoReader:
    """The reader for ``path``: a folder of images, a video file, or one image."""
    if not path.exists():
        raise ValueError(f"source {path} does not exist (expected an image folder or a video file)")
    if path.is_dir():
        return FolderReader(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoReader(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return FolderReader(path.parent, path.name)
    raise ValueError(
        f"source {path} is neither a folder of images ({', '.join(IMAGE_SUFFIXES)}) nor a video file "
        f"({', '.join(VIDEO_SUFFIXES)})"
    )


__all__ = ["FolderReader", "SkippedImage", "SourceImage", "VideoReader", "open_file_frames"]
