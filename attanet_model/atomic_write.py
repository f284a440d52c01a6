"""Output files written whole or not at all, and a failure said in one line.

Every file this project writes for a user goes through here. The bytes go to a hidden temporary
file in the destination's own folder, are forced to the disk (``fsync``: where a full disk or a
failing device reports, a plain ``close`` may not), checked for their size, and renamed over the
destination (``os.replace`` is atomic within one file system). A reader sees the old file or the
complete new one, never a truncated one. On any failure the temporary file is removed and
``OutputError`` says which file, which folder and why, in words.

Why not trust the writers: ``cv2.imwrite`` reports success for a PNG it could not write to a full
disk (its buffered ``fwrite`` fails only at ``fclose``, unchecked), leaving a 0-byte file, and
``cv2.VideoWriter`` never reports a failed write at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o644  # mkstemp creates 0600; outputs are meant to be shared like any other file
FULL_BELOW_BYTES = 64 * 1024  # less free space than this: a failed write is put down to a full disk

# errno -> (the cause, what to do); {folder} is filled in.
_CAUSES = {
    errno.ENOSPC: ("no space left on {folder} (the disk is full)", "free some space or write to another folder"),
    errno.EDQUOT: ("the disk quota for {folder} is used up", "free some space or write to another folder"),
    errno.EROFS: ("{folder} is on a read-only file system", "choose a writable folder"),
    errno.EACCES: ("no permission to write in {folder}", "choose a folder you can write to"),
    errno.EPERM: ("no permission to write in {folder}", "choose a folder you can write to"),
}


class OutputError(OSError, ValueError):
    """A file that could not be written; the message names it, its folder and the cause.

    An ``OSError`` (``errno`` is the cause's) and, like ``io.UnsupportedOperation``, a
    ``ValueError``: the commands' handling of user errors (one line, exit code 2) covers it.
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def output_error(path: str | Path, exc: OSError, action: str = "write") -> OutputError:
    """``exc`` (raised while writing ``path``) as an ``OutputError`` that says what to do."""
    if isinstance(exc, OutputError):
        return exc
    cause = _CAUSES.get(exc.errno or 0)
    if cause is None:
        return OutputError(f"cannot {action} {path}: {exc.strerror or exc}", exc.errno)
    why, remedy = cause
    return OutputError(
        f"cannot {action} {path}: {why.format(folder=_existing_folder(Path(path)))}; {remedy}", exc.errno
    )


def disk_full_error(path: str | Path) -> OutputError:
    """For writers that fail without an errno (sqlite's "database or disk is full", a short video)."""
    return output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


def make_folder(folder: str | Path) -> Path:
    """``mkdir -p folder``; OutputError (read-only, no permission, full) in words."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(folder, exc, action="create") from exc
    return folder


def write_bytes_atomic(path: str | Path, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, size check, rename); OutputError on failure."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        size = tmp.stat().st_size
        if size != len(data):
            raise OutputError(f"cannot write {path}: {size} of {len(data)} bytes reached the disk", errno.EIO)
    return path


def write_png(path: str | Path, image) -> Path:
    """``image`` (a numpy array as ``cv2.imwrite`` takes it) encoded in memory and written atomically;
    OutputError names the file and the cause, ValueError says what OpenCV could not encode."""
    import cv2

    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV cannot encode a {image.shape} {image.dtype} image as PNG for {path}")
    return write_bytes_atomic(path, encoded.tobytes())


@contextlib.contextmanager
def atomic_output(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that opens the file itself; on leaving the block
    the file is fsynced, checked to be non-empty and renamed to ``path``. The temporary name ends in
    ``suffix`` (default: ``path``'s own, so writers that pick a format by name pick the right one).

    Any exception in the block removes the temporary file; OSErrors become ``OutputError``.
    """
    path = Path(path)
    tmp = temporary_beside(path, suffix)
    try:
        yield tmp
        commit(tmp, path)
    except OSError as exc:
        raise output_error(path, exc) from exc
    finally:
        discard(tmp)


def temporary_beside(path: str | Path, suffix: str | None = None) -> Path:
    """Create (empty) and return a hidden temporary file in ``path``'s folder, named after it, ending in
    ``suffix`` (default: ``path``'s own); ``commit`` or ``discard`` it. For writers that live longer
    than a ``with`` block (a video being recorded); OutputError when the folder cannot take it."""
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".partial{suffix or path.suffix}")
        os.close(fd)
    except OSError as exc:
        raise output_error(path, exc) from exc
    return Path(name)


def commit(tmp: Path, path: str | Path) -> Path:
    """fsync, check (non-empty), chmod and rename ``tmp`` to ``path``, then fsync the folder so the
    rename lasts. OutputError naming ``path`` on failure (``tmp`` is left for the caller to discard)."""
    path = Path(path)
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size == 0:
            raise (
                disk_full_error(path)
                if disk_is_full(path.parent)
                else OutputError(f"cannot write {path}: nothing was written")
            )
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(path, exc) from exc
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder; the data itself is safe
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return path


def discard(tmp: Path) -> None:
    """Remove a temporary file (gone already: fine)."""
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def disk_is_full(folder: str | Path) -> bool:
    """Whether the file system of ``folder`` (or of its nearest existing parent) has next to no space left
    for this user: the likely cause of a write that failed without saying why."""
    folder = Path(folder)
    stats = os.statvfs(folder if folder.exists() else _existing_folder(folder))
    return stats.f_bavail * stats.f_frsize < FULL_BELOW_BYTES


def _existing_folder(path: Path) -> Path:
    """The nearest existing folder above ``path`` (the file system whose verdict it is)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
