"""Helpers for tests that run ``attanet train`` as a real process: start it in its own session
(its own process group, as a shell job, timeout(1) or Slurm would), watch its log, list what is
left of its group, and give it a real full or read-only disk (a tmpfs; needs root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from test_train import REPO, tiny_config


def records(log: Path) -> list[dict]:
    """The JSON records of a log.jsonl (every line must parse: no torn line)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 180.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended (rc {proc.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def train_cmd(cfg_file: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "attanet_cli", "train", "--config", str(cfg_file), "--device", "cpu", *extra]


def start(cfg_file: Path, *extra: str, **popen) -> subprocess.Popen:
    """``attanet train`` in a session of its own: its pid is its process group's id."""
    return subprocess.Popen(train_cmd(cfg_file, *extra), cwd=REPO, start_new_session=True, text=True, **popen)


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> str:
    """Wait for ``proc`` to exit and return its stderr; a process that does not exit is a hang:
    its whole group is killed and the test fails."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
        raise AssertionError(f"attanet train did not exit within {timeout} s (hung); stderr:\n{err[-3000:]}") from None
    return err


def write_cfg(tmp_path: Path, root: Path, out: Path, name: str = "run", **overrides) -> Path:
    """A tiny endless run (two data workers) writing to ``out``, as a YAML file."""
    cfg = tiny_config(root, out, **{"iterations": 10**6, "workers": 2, **overrides})
    cfg_file = tmp_path / f"{name}.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.to_dict()))
    return cfg_file


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (zombies count: not yet reaped by anyone)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[2]) == pgid:  # fields after "pid (comm)": state, ppid, pgrp, ...
            members.append(int(stat.parent.name))
    return members


@contextmanager
def tmpfs(path: Path, size: str = "16m") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` mounted at ``path``: a real disk that fills up (and can be made
    read-only with ``remount_read_only``). Skips the test when not root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a real full / read-only disk) needs root; run the tests as root, as CI does")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all the free space of ``disk`` but ``leave`` bytes (whole 4 KiB pages) with one file."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(free - leave, 1))
    return filler
