"""A real ``attanet train`` process and its data workers, stopped the ways a run is stopped in practice:
a signal to its whole process group, a reader of its output that went away, SIGKILL; then ``--resume``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from train_process import records, start, wait_for, write_cfg

from attanet_model.checkpoint import read_checkpoint
from attanet_training.cli import train_main

pytestmark = [pytest.mark.skipif(os.name != "posix", reason="process groups and signals are POSIX"), pytest.mark.slow]


def _resume_to(cfg_file: Path, total: int, capsys) -> str:
    """``attanet train --resume`` in this process (the killed run above was the real process);
    returns its stderr."""
    argv = ["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--resume", "--iterations", str(total)]
    capsys.readouterr()
    code = train_main(argv)
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def test_sigterm_to_the_group_saves_the_current_iteration_and_resume_continues(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "term"
    cfg_file = write_cfg(tmp_path, mini_cityscapes, out, "term")
    proc = start(cfg_file, "--no-progress", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = out / "log.jsonl"
    wait_for(lambda: len(records(log)) >= 2, proc, "two log records")
    os.killpg(proc.pid, signal.SIGTERM)  # trainer and its two data workers alike
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "killed by signal" not in err, err
    stopped = [r for r in records(log) if "stopped" in r]
    assert len(stopped) == 1 and stopped[0]["stopped"] == "signal SIGTERM", stopped
    at = stopped[0]["iter"]
    assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == at >= 2
    assert f"stopped by SIGTERM at iteration {at}; saved {out / 'last.pt'}; --resume continues" in err, err

    err = _resume_to(cfg_file, at + 2, capsys)
    assert f"resumed at iteration {at} of {at + 2}" in err
    losses = [r["iter"] for r in records(log) if "loss" in r]
    assert losses == list(range(1, at + 3)), losses


def test_ctrl_c_after_the_output_reader_died_still_saves(mini_cityscapes, tmp_path, capsys):
    # `attanet train ... 2>&1 | tee log` and Ctrl-C: tee dies with the group, so every later write
    # of the trainer (progress bar on stderr, JSON lines on stdout) meets a closed pipe
    out = tmp_path / "pipe"
    cfg_file = write_cfg(tmp_path, mini_cityscapes, out, "pipe")
    proc = start(cfg_file, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = out / "log.jsonl"
    wait_for(lambda: len(records(log)) >= 1, proc, "the first log record")
    proc.stdout.close()  # the reader is gone
    seen = len(records(log))
    wait_for(lambda: len(records(log)) >= seen + 2, proc, "two records written after the pipe closed")
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    stopped = [r for r in records(log) if "stopped" in r]
    assert len(stopped) == 1 and stopped[0]["stopped"] == "signal SIGINT", stopped
    at = stopped[0]["iter"]
    assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == at >= seen + 2

    _resume_to(cfg_file, at + 1, capsys)
    assert [r["iter"] for r in records(log) if "loss" in r] == list(range(1, at + 2))


def _tensorboard_steps(run: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return [e.step for e in events.Scalars(tag)]


def test_resume_after_sigkill_cleans_up_and_writes_each_iteration_once(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "kill"
    cfg_file = write_cfg(tmp_path, mini_cityscapes, out, "kill", ckpt_interval=2, workers=1)
    proc = start(cfg_file, "--no-progress", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "log.jsonl"
    # freeze the group at a moment when the log is ahead of last.pt and the run is between two log
    # records (its TensorBoard scalars flushed with the last one: checked while frozen), then kill it
    while True:
        wait_for(lambda: len([r for r in records(log) if "loss" in r]) >= 3, proc, "three log records")
        os.killpg(proc.pid, signal.SIGSTOP)
        assert proc.poll() is None, "training ended before it could be frozen between two log records"
        logged = max(r["iter"] for r in records(log) if "loss" in r)
        saved = read_checkpoint(out / "last.pt")["extra"]["iteration"] if (out / "last.pt").exists() else logged
        if saved < logged and _tensorboard_steps(out, "loss")[-1] == logged:
            break
        os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == saved
    assert _tensorboard_steps(out, "loss")[-1] == logged > saved  # the dead run's scalars reached the disk
    # what a kill inside save_checkpoint leaves: its temp file (the rename never happened), and a torn log line
    stale = out / ".last.pt.k1ll3d.tmp"
    stale.write_bytes(b"PK\x03\x04 half a checkpoint")
    with open(log, "a") as f:
        f.write('{"iter": 99, "lo')

    # TensorBoard reads event files in name order (events.out.tfevents.<unix second>.<host>.<pid>...):
    # a resume within the killed run's first second could sort before it, by pid; start a second later
    killed_second = int(next((out / "tensorboard").glob("events.out.tfevents.*")).name.split(".")[3])
    while time.time() < killed_second + 1:
        time.sleep(0.05)
    total = logged + 2
    # the kill may also have landed inside the run's own checkpoint write: its partial temp file is left too
    left = sorted({*out.glob(".*.pt.*.tmp"), *out.glob(".*.json*.tmp")})
    assert stale in left and len(left) <= 2, left
    err = _resume_to(cfg_file, total, capsys)
    assert f"removed {len(left)} temporary file(s)" in err and all(p.name in err for p in left), err
    assert not any(p.exists() for p in left)
    assert f"dropped {logged - saved + 1} record(s) written after iteration {saved}" in err, err
    assert f"resumed at iteration {saved} of {total}" in err
    assert [r["iter"] for r in records(log) if "loss" in r] == list(range(1, total + 1))
    assert _tensorboard_steps(out, "loss") == list(range(1, total + 1))

    # a finished run: said, exit 0, nothing trained or written
    before = log.read_text()
    err = _resume_to(cfg_file, total, capsys)
    assert f"already finished at iteration {total} of {total}" in err, err
    assert log.read_text() == before

    code = train_main(["--config", str(cfg_file), "--device", "cpu", "--resume", "--init-from", str(out / "last.pt")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "give one of them" in lines[0], lines
