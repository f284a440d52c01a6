"""Write rendered frames to a video file with OpenCV (MP4 where the codec exists, else MJPG AVI).

``cv2.VideoWriter`` never reports a failed write: on a full disk it "records" to the end and leaves
a file without its index (a 4 KiB MP4 with no ``moov`` box). The recorder therefore writes to a
hidden temporary file beside the destination and, at ``close``, checks that the container is whole
and that OpenCV reads back as many frames as were written, before renaming it into place
(``attanet_model.atomic_write``); otherwise ``OutputError`` says why and nothing is left.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from attanet_model.atomic_write import OutputError, commit, discard, disk_full_error, disk_is_full, temporary_beside

# suffix -> fourcc. opencv-python-headless writes mp4v; MJPG (AVI) is the fallback that always works.
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoRecorder:
    """Appends RGB frames to ``path``; the first frame fixes the size, later ones are resized to it.

    Falls back from an MP4 the codec cannot write to an MJPG ``.avi`` beside it, and says so
    through ``path`` (the file actually written). The folder is tried at construction (a read-only
    one is an ``OutputError`` before the first frame); ``close`` verifies the file.
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
        self._tmp: Path | None = temporary_beside(self.path)

    def write(self, rgb: np.ndarray) -> None:
        if self._tmp is None:
            raise ValueError(f"the recording of {self.path} is closed")
        if self._writer is None:
            self._open(rgb.shape[1], rgb.shape[0])
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place: its path, or None when no frame was recorded (nothing
        is written then). ``OutputError`` when the video is not whole; closing twice does nothing."""
        if self._tmp is None:
            return self.path if self.frames else None
        tmp, self._tmp = self._tmp, None
        try:
            if self._writer is None:
                return None
            self._writer.release()
            self._writer = None
            problem = video_problem(tmp, self.frames)
            if problem is not None:
                if disk_is_full(tmp.parent):
                    raise disk_full_error(self.path)
                raise OutputError(f"cannot write {self.path}: {problem}")
            return commit(tmp, self.path)
        finally:
            discard(tmp)

    def abort(self) -> None:
        """Stop without keeping anything (after a failure)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            discard(self._tmp)
            self._tmp = None

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self, width: int, height: int) -> None:
        # Codecs want even sizes.
        self._size = (width - width % 2, height - height % 2)
        candidates = [(self.path, CODECS[self.path.suffix.lower()])]
        if self.path.suffix.lower() != ".avi":
            candidates.append((self.path.with_suffix(".avi"), "MJPG"))
        for path, codec in candidates:
            if path.suffix != self._tmp.suffix:  # the container follows the temporary file's name
                discard(self._tmp)
                self._tmp = temporary_beside(path)
            writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*codec), self.fps, self._size)
            if writer.isOpened():
                self.path, self._writer = path, writer
                return
            writer.release()
            if disk_is_full(self._tmp.parent):  # not the codec: no other container would fit either
                break
        discard(self._tmp)
        self._tmp = None
        if disk_is_full(self.path.parent):
            raise disk_full_error(self.path)
        raise OutputError(f"OpenCV cannot write a video at {self.path} (tried {', '.join(c for _, c in candidates)})")


def video_problem(path: Path, frames: int) -> str | None:
    """Why the video at ``path`` is not the ``frames`` frames written to it, or None. The container's
    structure is checked first (quietly: FFmpeg prints errors for a broken file), then the frame count
    OpenCV reads back."""
    problem = container_problem(path)
    if problem is not None:
        return problem
    capture = cv2.VideoCapture(str(path))
    try:
        readable = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    if readable != frames:
        return f"OpenCV reads back {readable} of the {frames} frames recorded"
    return None


def container_problem(path: Path) -> str | None:
    """Whether a video file is whole: its top-level blocks add up to the file's size. MP4: boxes, one of
    them the ``moov`` index; AVI: RIFF chunks (OpenDML's ``AVIX`` extensions included); Matroska: the
    EBML header and a segment whose size was written at the end (FFmpeg's frame count for a cut-short
    .mkv is an estimate, so it cannot tell)."""
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        boxes, end = _walk(path, _mp4_box)
        if end != path.stat().st_size or "moov" not in boxes:
            return "the MP4 file is incomplete (no index written: the recording was cut short)"
    elif suffix == ".avi":
        chunks, end = _walk(path, _riff_chunk)
        if end != path.stat().st_size or not chunks or chunks[0] != "RIFF":
            return "the AVI file is incomplete (its chunks do not add up to the file: the recording was cut short)"
    elif suffix == ".mkv":
        elements, end = _walk(path, _ebml_element)
        if end != path.stat().st_size or elements[:2] != ["1a45dfa3", "18538067"]:
            return "the Matroska file is incomplete (no finished segment: the recording was cut short)"
    return None


def _walk(path: Path, read_header) -> tuple[list[str], int]:
    """(the names of the consecutive top-level blocks, where the last one ends), stopping at a bad header."""
    names, position, size = [], 0, path.stat().st_size
    with open(path, "rb") as f:
        while position < size:
            f.seek(position)
            block = read_header(f, size - position)
            if block is None:
                break
            name, length = block
            names.append(name)
            position += length
    return names, position


def _mp4_box(f, left: int) -> tuple[str, int] | None:
    header = f.read(8)
    if len(header) < 8:
        return None
    length, kind = struct.unpack(">I4s", header)
    if length == 1:  # a 64-bit size follows
        extended = f.read(8)
        length = struct.unpack(">Q", extended)[0] if len(extended) == 8 else 0
    elif length == 0:  # to the end of the file
        length = left
    return (kind.decode("latin-1"), length) if 8 <= length <= left else None


def _riff_chunk(f, left: int) -> tuple[str, int] | None:
    header = f.read(8)
    if len(header) < 8:
        return None
    kind, length = struct.unpack("<4sI", header)
    length = 8 + length + length % 2  # chunks are padded to an even size
    return (kind.decode("latin-1"), length) if length <= left else None


def _ebml_element(f, left: int) -> tuple[str, int] | None:
    """A Matroska (EBML) element: a variable-length ID, then a variable-length size (all ones: unknown,
    i.e. never finished)."""
    head = f.read(12)
    id_length = _vint_length(head[0]) if head else 0
    if not id_length or len(head) < id_length + 1:
        return None
    size_length = _vint_length(head[id_length])
    if not size_length or len(head) < id_length + size_length:
        return None
    size = int.from_bytes(head[id_length : id_length + size_length], "big") & ((1 << (7 * size_length)) - 1)
    if size == (1 << (7 * size_length)) - 1:
        return None
    length = id_length + size_length + size
    return (head[:id_length].hex(), length) if length <= left else None


def _vint_length(first: int) -> int:
    """Bytes of an EBML variable-length integer, from its first byte's leading zeros (0: invalid)."""
    for length in range(1, 9):
        if first & (0x80 >> (length - 1)):
            return length
    return 0
