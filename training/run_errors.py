"""How a failed write of a run is told: the cause in words, the file, and the exit code.

A write that fails mid-run (a full disk, a folder remounted read-only, an I/O error) ends the run
with one line (``RunFailed``, exit code ``EXIT_FAILED``); the same failure before the run starts
(an ``--out`` that cannot be written) is a user error (``RunFolderUnusable``, exit 2).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_FAILED = 1  # the run started and could not go on (what is intact is said)

_CAUSES = {
    errno.ENOSPC: "no space left on {folder}",
    errno.EDQUOT: "disk quota exceeded on {folder}",
    errno.EROFS: "{folder} is on a read-only file system",
    errno.EACCES: "no permission to write in {folder}",
    errno.EPERM: "no permission to write in {folder}",
    errno.EIO: "I/O error writing in {folder}",
}


class WriteFailed(Exception):
    """A file of the run could not be written: ``file`` (e.g. "last.pt") and ``cause`` in words."""

    def __init__(self, file: str, cause: str) -> None:
        super().__init__(f"{cause} (writing {file})")
        self.file, self.cause = file, cause


class RunFailed(Exception):
    """The run stopped on an error it cannot go on from; the message is the one line to print."""


class RunFolderUnusable(ValueError):
    """The run folder cannot be written before anything ran (a user error, exit 2)."""


def describe_write_error(exc: BaseException, folder: Path, needed_bytes: int = 0) -> str:
    """The cause of a failed write in ``folder``, in words: "no space left on DIR", ...

    ``torch.save`` reports a full disk as a ``RuntimeError`` without an errno ("unexpected pos",
    "file write failed"), so a write of ``needed_bytes`` that failed while the folder has less
    free space than that is told as a full disk too."""
    code = getattr(exc, "errno", None)
    if code in _CAUSES:
        return _CAUSES[code].format(folder=folder)
    if needed_bytes and _free_bytes(folder) < needed_bytes:
        return _CAUSES[errno.ENOSPC].format(folder=folder)
    detail = getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot write in {folder}: {detail}"


@contextmanager
def writing(file: str, folder: Path) -> Iterator[None]:
    """Turn an ``OSError`` of the block (writing ``file`` in ``folder``) into ``WriteFailed``."""
    try:
        yield
    except OSError as exc:
        raise WriteFailed(file, describe_write_error(exc, folder)) from exc


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0
