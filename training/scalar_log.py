"""The run's TensorBoard scalars, on disk with each ``log.jsonl`` record.

TensorBoard's ``SummaryWriter`` writes from a thread of its own. A write that fails there (a full
disk) is kept by the writer and raised again by the next ``flush`` in the training thread, which
flushes after every record and reports it in one line; the writer thread also re-raises it to
``threading.excepthook``, which would print a second report, a traceback. While a ``ScalarLog`` is
open, that hook leaves the tensorboard threads' exceptions to the flush.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .run_errors import WriteFailed, describe_write_error


class ScalarLog:
    """Numbers of each record as scalars at its ``iter``. ``open`` returns None when tensorboard
    is not installed (the JSON log alone then)."""

    def __init__(self, folder: Path, purge_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = folder
        self._previous_hook = threading.excepthook
        threading.excepthook = self._hook  # first: the writer's constructor already writes and flushes
        try:
            self.writer = SummaryWriter(str(folder), purge_step=purge_step)
        except Exception as exc:
            threading.excepthook = self._previous_hook
            raise WriteFailed("TensorBoard events", describe_write_error(exc, folder)) from exc

    @classmethod
    def open(cls, folder: Path, purge_step: int | None) -> ScalarLog | None:
        try:
            import torch.utils.tensorboard  # noqa: F401 - tensorboard is optional
        except ImportError:
            return None
        return cls(folder, purge_step)

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__module__.startswith("tensorboard."):
            return  # raised again by the next flush, in the training thread
        self._previous_hook(args)

    def write(self, record: dict) -> None:
        """The record's numbers (not ``iter``), flushed: a killed run's scalars match its log.jsonl."""
        try:
            for key, value in record.items():
                if key != "iter" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["iter"])
            self.writer.flush()
        except Exception as exc:  # the writer thread's OSError, or tensorboard's own on a failed flush
            raise WriteFailed("TensorBoard events", describe_write_error(exc, self.folder)) from exc

    def close(self) -> None:
        """Close the writer. Every record was flushed when written (a failure was raised then), so
        an error here can only repeat one already reported: it is not raised again."""
        try:
            self.writer.close()
        except Exception:  # the failure was reported by write()
            pass
        finally:
            if threading.excepthook == self._hook:
                threading.excepthook = self._previous_hook
