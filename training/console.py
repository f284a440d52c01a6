"""Console output that a closed pipe cannot kill.

``attanet train ... 2>&1 | tee log``: Ctrl-C reaches ``tee`` too, and once it is gone every write
to stdout/stderr (the progress bar, the JSON lines, the stop message) raises ``BrokenPipeError``.
A long run must not die of that, nor lose its last checkpoint: the first failed write points the
stream's file descriptor at /dev/null (the recipe of the Python docs' note on SIGPIPE), so later
writes and the interpreter's final flush succeed silently; ``log.jsonl`` is written as before.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


class PipeSafeStream:
    """A text stream proxy whose ``write``/``flush`` survive a reader that went away."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _detach_from_pipe(self) -> None:
        self.closed_by_reader = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no real descriptor (a test's StringIO): just drop output
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._detach_from_pipe()
            return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._detach_from_pipe()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def survive_closed_pipes() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once) so that EPIPE on either never ends the process."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, PipeSafeStream):
            setattr(sys, name, PipeSafeStream(stream))
