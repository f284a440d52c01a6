"""One run per run folder: an exclusive ``flock`` on ``OUT/run.lock``, held for the run's life.

The kernel drops a ``flock`` when the last descriptor of its open file closes, so a run killed
by SIGKILL leaves no stale lock behind. Forked children (the data-loading workers) inherit the
descriptor, and the lock would live on in them until they noticed their parent was gone; each
child therefore closes its copy right after the fork (closing a copy releases nothing: the
parent's descriptor still holds the lock). The file itself stays; it holds the current (or last)
owner's pid, host, start time and command, which a refused run quotes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import weakref
from pathlib import Path

LOCK_NAME = "run.lock"


class RunFolderBusy(ValueError):
    """Another live training holds the run folder; the message names it."""


class RunLock:
    """The exclusive lock on a run folder. ``acquire`` raises ``RunFolderBusy`` (another run
    holds it) or ``OSError`` (the folder cannot be written); ``release`` is idempotent."""

    def __init__(self, folder: str | Path, command: str = "") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise RunFolderBusy(
                f"--out {self.path.parent} is in use by another training ({self.owner()}); wait for it to end "
                "or stop it, or choose another --out"
            ) from None
        self._fd = fd
        os.register_at_fork(after_in_child=_close_in_child(self))
        try:
            self._write_owner()
        except OSError:
            self.release()
            raise
        return self

    def _write_owner(self) -> None:
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": self.command,
        }
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(owner) + "\n").encode(), 0)

    def owner(self) -> str:
        """Who holds (or last held) the lock, in words, from the file's contents."""
        try:
            owner = json.loads(self.path.read_text())
            described = f"pid {owner['pid']} on host {owner['host']}, started {owner['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return f"its owner has not written {self.path} yet"
        return described + (f": {owner['command']}" if owner.get("command") else "")

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _close_in_child(lock: RunLock):
    """A fork hook that closes ``lock``'s descriptor in the child (a weak reference: the hook
    cannot be unregistered and must not keep a released lock alive)."""
    ref = weakref.ref(lock)

    def close() -> None:
        held = ref()
        if held is not None and held._fd is not None:
            os.close(held._fd)
            held._fd = None

    return close
