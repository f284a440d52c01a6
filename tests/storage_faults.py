"""Real storage failures for the tests of every writer: a full disk and a read-only folder.

Both are tmpfs mounts (a 2 MiB one filled up is a real full disk: the kernel answers ENOSPC; one
mounted ``-o ro`` answers EROFS, even to root, which ``chmod 0o555`` would not stop). Mounting
needs root; without it the test is skipped with the reason (pytest's ``-ra`` prints it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHUNK = 64 * 1024


def _mount(folder: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root to mount a tmpfs at {folder} (-o {options}) as a real full or read-only disk")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {folder} ({done.stderr.strip()}); this test needs one")


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@contextlib.contextmanager
def full_disk(folder: Path, free_bytes: int = 0) -> Iterator[Path]:
    """``folder`` on a small tmpfs (2 MiB, more when ``free_bytes`` needs it) holding a filler file that
    leaves about ``free_bytes`` free."""
    _mount(folder, f"size={max(2, free_bytes // 2**20 + 2)}m")
    try:
        filler = folder / ".filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * CHUNK)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        if free_bytes:
            os.truncate(filler, max(filler.stat().st_size - free_bytes, 0))
        yield folder
    finally:
        _unmount(folder)


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """``folder`` as an empty read-only file system (writes fail with EROFS, for root too)."""
    _mount(folder, "size=1m,ro")
    try:
        yield folder
    finally:
        _unmount(folder)


def files_under(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` (hidden ones too, the filler excepted) and its size."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".filler"
    }
