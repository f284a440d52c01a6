"""The files of a run folder: what belongs to a run, how each is written, what a new or resumed
run does with a previous run's files.

A run folder holds one run: ``last.pt``, ``best.pt``, ``log.jsonl``, ``config.json`` and
``tensorboard/`` (``RUN_FILES``), and ``run.lock`` (``run_lock``). Every write either completes or
leaves the previous state: whole files are written to a temp file in the same folder, fsynced and
renamed over the target (``write_atomically``); a log line that cannot be written whole is cut
off again (``append_line``).

``attanet_model.save_checkpoint`` writes ``.<name>.<random>.tmp`` and renames it over the
checkpoint, so a process killed mid-write leaves the temp file and an intact previous checkpoint.
The JSON log is appended after every log step, so it runs ahead of the last checkpoint (and a kill
can tear its last line); the resumed run writes those iterations again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

RUN_FILES = ("last.pt", "best.pt", "log.jsonl", "config.json", "tensorboard")
SET_ASIDE_PREFIX = "replaced-"


def previous_run_files(out_dir: Path) -> list[Path]:
    """The files a run left in ``out_dir`` (in ``RUN_FILES`` order); a ``tensorboard/`` folder
    counts when it holds event files (an empty one, or a mount point, is no run)."""
    found = []
    for name in RUN_FILES:
        path = Path(out_dir) / name
        if path.is_dir() and not any(path.glob("events.out.tfevents.*")):
            continue
        if path.exists():
            found.append(path)
    return found


def set_aside(out_dir: Path, files: list[Path]) -> Path:
    """Move ``files`` into a new ``out_dir/replaced-<date>-<time>/`` (a rename: no copy, nothing
    lost); return that folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = Path(out_dir) / f"{SET_ASIDE_PREFIX}{stamp}"
    n = 1
    while target.exists():
        target = Path(out_dir) / f"{SET_ASIDE_PREFIX}{stamp}-{n}"
        n += 1
    target.mkdir()
    for path in files:
        os.replace(path, target / path.name)
    fsync_folder(out_dir)
    return target


def fsync_folder(folder: Path) -> None:
    """Make the renames and new names in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(path: Path) -> Path:
    """The temp file a write of ``path`` goes through: in the same folder (so the rename is
    atomic), hidden, named for the target and this process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def replace_durably(temp: Path, path: Path) -> None:
    """fsync the complete ``temp``, rename it over ``path`` and fsync the folder; on failure the
    temp file is removed and ``path`` is as it was."""
    try:
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def write_atomically(path: Path, text: str) -> None:
    """``path`` gets ``text`` whole, or keeps what it had."""
    path = Path(path)
    temp = temp_path(path)
    try:
        temp.write_text(text)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    replace_durably(temp, path)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline to ``path``; if the write fails (a full disk), the file is cut
    back to its previous length, so no torn line stays behind."""
    data = (line + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):  # a write may take part of the bytes before the disk fills
                written += os.write(fd, data[written:])
        except BaseException:
            os.ftruncate(fd, start)  # frees what the partial write took; needs no space itself
            raise
    finally:
        os.close(fd)


def remove_stale_temp_files(out_dir: Path) -> list[Path]:
    """Delete the temp files of interrupted writes in ``out_dir`` (checkpoints, config.json,
    log.jsonl); return them."""
    stale = sorted({*Path(out_dir).glob(".*.pt.*.tmp"), *Path(out_dir).glob(".*.json*.tmp")})
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def clean_run_folder(out_dir: Path, resumed_at: int | None, say: Callable[[str], None]) -> dict[str, dict]:
    """Before a run writes: no temp files of an interrupted write; when resumed (``resumed_at``:
    the checkpoint's iteration), no log records after the checkpoint. Says what it removed;
    returns the bad files the kept records name (counted, not reported again)."""
    stale = remove_stale_temp_files(out_dir)
    if stale:
        say(f"removed {len(stale)} temporary file(s) of an interrupted write: {', '.join(p.name for p in stale)}")
    if resumed_at is None:
        return {}
    log = Path(out_dir) / "log.jsonl"
    dropped, kept = truncate_log(log, resumed_at)
    if dropped:
        say(f"{log}: dropped {dropped} record(s) written after iteration {resumed_at}")
    problems = {r["bad_data"]["file"]: r["bad_data"] for r in kept if "bad_data" in r}
    if problems:
        say(f"{len(problems)} bad data file(s) met before iteration {resumed_at}: see {log}")
    return problems


def truncate_log(path: Path, iteration: int) -> tuple[int, list[dict]]:
    """Keep the records of ``path`` (log.jsonl) up to ``iteration``, drop the rest and any line that
    is not JSON (rewritten atomically). Returns (records dropped, kept records)."""
    if not path.exists():
        return 0, []
    kept_lines, kept, dropped = [], [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            keep = int(record.get("iter", 0)) <= iteration
        except (ValueError, TypeError, AttributeError):
            keep = False
        if keep:
            kept_lines.append(line)
            kept.append(record)
        else:
            dropped += 1
    if dropped:
        write_atomically(path, "".join(line + "\n" for line in kept_lines))
    return dropped, kept
