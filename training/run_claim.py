"""A run folder is owned by one run: ``attanet train`` claims ``--out`` before it trains.

Claiming takes the folder's lock (``run_lock``: a second training into it is refused, naming the
owner) and decides what happens to a previous run's files there (``run_folder.RUN_FILES``):

- ``--resume`` from a checkpoint in the folder continues that run: its files stay;
- a new run into a folder that holds a run is refused, unless ``--overwrite``, which moves the
  old files into ``OUT/replaced-<date>-<time>/`` (nothing is deleted) and says so;
- ``--resume`` with no checkpoint to continue (a run killed before its first save) starts at
  iteration 0 and moves the files of that attempt aside the same way.

Under torchrun, rank 0 alone claims the folder (the others would be refused by its lock); every
rank learns whether it succeeded, so all start or all stop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import distributed as dist_utils
from .distributed import DistInfo
from .run_errors import RunFolderUnusable, describe_write_error
from .run_folder import SET_ASIDE_PREFIX, previous_run_files, set_aside
from .run_lock import RunFolderBusy, RunLock


class RunFolderTaken(ValueError):
    """A new run into a folder that holds another run's files, without --resume or --overwrite."""


@contextmanager
def claim_run_folder(
    out_dir: str | Path,
    info: DistInfo,
    *,
    resume: str | None,
    resume_asked: bool,
    overwrite: bool,
    command: str,
    say: Callable[[str], None],
) -> Iterator[RunLock | None]:
    """Hold ``out_dir`` for the run inside the block (rank 0; None on the other ranks).

    ``resume``: the checkpoint the run continues (None: a new run), ``resume_asked``: ``--resume``
    was given (with or without a checkpoint found), ``overwrite``: a previous run's files may be
    moved aside. Raises ``RunFolderBusy``, ``RunFolderTaken`` or ``RunFolderUnusable`` (user
    errors) on every rank when rank 0 cannot have the folder."""
    lock, refused = None, None
    if info.is_main:
        try:
            lock = _claim(Path(out_dir), resume, resume_asked, overwrite, command, say)
        except (RunFolderBusy, RunFolderTaken, RunFolderUnusable) as exc:
            refused = exc
    if dist_utils.any_rank(refused is not None, info.device):
        raise refused or RunFolderUnusable(f"rank 0 could not claim --out {out_dir} (its message says why)")
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()


def _claim(
    out_dir: Path, resume: str | None, resume_asked: bool, overwrite: bool, command: str, say: Callable[[str], None]
) -> RunLock:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out_dir, command).acquire()
    except OSError as exc:
        raise RunFolderUnusable(
            f"--out {out_dir}: {describe_write_error(exc, out_dir)}; choose a folder this run can write"
        ) from exc
    try:
        _settle_previous_run(out_dir, resume, resume_asked, overwrite, say)
    except OSError as exc:
        lock.release()
        raise RunFolderUnusable(f"--out {out_dir}: {describe_write_error(exc, out_dir)}") from exc
    except BaseException:
        lock.release()
        raise
    return lock


def _settle_previous_run(
    out_dir: Path, resume: str | None, resume_asked: bool, overwrite: bool, say: Callable[[str], None]
) -> None:
    """Keep, move aside, or refuse to touch the files of a run already in ``out_dir``."""
    continues = resume is not None and Path(resume).resolve().parent == out_dir.resolve()
    previous = [] if continues else previous_run_files(out_dir)
    if not previous:
        return
    restart = resume_asked and resume is None  # a run killed before its first checkpoint
    if not (overwrite or restart):
        raise RunFolderTaken(
            f"--out {out_dir} already holds a run ({_describe(previous)}): --resume continues it, "
            f"--overwrite moves its files into {out_dir}/{SET_ASIDE_PREFIX}<date>-<time>/ and starts anew, "
            "or choose another --out"
        )
    moved = set_aside(out_dir, previous)
    why = "--overwrite" if overwrite else "--resume found no checkpoint to continue"
    say(f"{why}: moved the previous run's {', '.join(p.name for p in previous)} to {moved}/")


def _describe(files: list[Path]) -> str:
    """The previous run's files, and the last iteration its log records."""
    described = ", ".join(p.name for p in files)
    log = next((p for p in files if p.name == "log.jsonl"), None)
    last = None
    if log is not None:
        for line in log.read_text(errors="replace").splitlines():
            try:
                last = int(json.loads(line)["iter"])
            except (ValueError, KeyError, TypeError):
                continue
    return described + (f"; logged to iteration {last}" if last is not None else "")
