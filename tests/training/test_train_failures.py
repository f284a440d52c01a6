"""A run that cannot go on ends at once, in one line, with its workers gone and its last checkpoint
intact: a real full disk (a small tmpfs) under a real ``attanet train`` process and its data
workers, at a checkpoint, a log record, TensorBoard events and config.json; a read-only --out;
an error nobody foresaw."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
from pathlib import Path

import pytest
from train_process import fill, finish, group_members, records, remount_read_only, start, tmpfs, wait_for, write_cfg

from attanet_model.checkpoint import read_checkpoint
from attanet_training.cli import train_main

pytestmark = [pytest.mark.skipif(os.name != "posix", reason="process groups and tmpfs are POSIX"), pytest.mark.slow]


def _failure_line(err: str) -> str:
    """The one line the run said after its plan (or at all, when it failed before the plan)."""
    assert "Traceback" not in err and "Exception in thread" not in err, err
    lines = err.strip().splitlines()
    plan_end = [i for i, line in enumerate(lines) if line.startswith("attanet train:   output")]
    after_plan = lines[plan_end[-1] + 1 :] if plan_end else lines
    assert len(after_plan) == 1, after_plan
    return after_plan[0]


def _assert_ended_cleanly(proc: subprocess.Popen, out) -> None:
    assert group_members(proc.pid) == [], "a process of the run outlived it"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")], list(out.iterdir())


def test_disk_full_at_a_checkpoint_ends_the_run_with_last_pt_intact(mini_cityscapes, tmp_path, capsys):
    with tmpfs(tmp_path / "disk") as disk:
        out = disk / "run"
        cfg_file = write_cfg(tmp_path, mini_cityscapes, out, ckpt_interval=2)
        proc = start(cfg_file, "--no-progress", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: (out / "last.pt").exists() and len(records(out / "log.jsonl")) >= 3, proc, "a last.pt")
        os.killpg(proc.pid, signal.SIGSTOP)  # trainer and workers, wherever they are
        # room for many log records and TensorBoard scalars, not for a checkpoint (about 2 MB)
        filler = fill(disk, leave=256 * 1024)
        os.killpg(proc.pid, signal.SIGCONT)
        err = finish(proc)

        assert proc.returncode == 1, err
        saved = read_checkpoint(out / "last.pt")["extra"]["iteration"]
        failed = saved + 2  # the next checkpoint
        assert _failure_line(err) == (
            f"attanet train: no space left on {out} (writing last.pt at iteration {failed}); last.pt at iteration "
            f"{saved} is intact; free some space, then --resume continues"
        )
        _assert_ended_cleanly(proc, out)
        assert max(r["iter"] for r in records(out / "log.jsonl")) == failed  # every line whole

        filler.unlink()
        capsys.readouterr()
        argv = ["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--resume", "--iterations"]
        assert train_main([*argv, str(failed + 1)]) == 0
        assert f"resumed at iteration {saved} of {failed + 1}" in capsys.readouterr().err


def test_disk_full_at_a_log_record_keeps_every_line_whole(mini_cityscapes, tmp_path, capsys):
    with tmpfs(tmp_path / "disk") as disk, tmpfs(disk / "run" / "tensorboard"):  # TensorBoard keeps its room
        out = disk / "run"
        cfg_file = write_cfg(tmp_path, mini_cityscapes, out, ckpt_interval=2)
        assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--iterations", "2"]) == 0
        # go on with checkpoints far apart: the log is the only thing written on the full disk
        proc = start(
            cfg_file, "--no-progress", "--resume", "--set", "ckpt_interval=100000", "--iterations", "1000000",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_for(lambda: len(records(out / "log.jsonl")) >= 4, proc, "two records of the resumed run")
        os.killpg(proc.pid, signal.SIGSTOP)
        fill(disk)
        os.killpg(proc.pid, signal.SIGCONT)
        err = finish(proc)

        assert proc.returncode == 1, err
        logged = records(out / "log.jsonl")  # all whole: the failed append was cut off again
        failed = max(r["iter"] for r in logged) + 1
        assert _failure_line(err) == (
            f"attanet train: no space left on {out} (writing log.jsonl at iteration {failed}); last.pt at "
            "iteration 2 is intact; free some space, then --resume continues"
        )
        _assert_ended_cleanly(proc, out)
        assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == 2


def test_tensorboard_on_a_full_disk_ends_the_run_in_one_line(mini_cityscapes, tmp_path):
    out = tmp_path / "run"
    with tmpfs(out / "tensorboard", size="64k") as events:
        fill(events)
        cfg_file = write_cfg(tmp_path, mini_cityscapes, out)
        proc = start(cfg_file, "--no-progress", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = finish(proc)
        assert proc.returncode == 1, err
        # the writer's thread fails on the first event, written when it opens; the flush then raises it
        assert _failure_line(err) == (
            f"attanet train: no space left on {events} (writing TensorBoard events at iteration 0); no last.pt "
            "was written yet; free some space, then --resume starts the run again"
        )
        _assert_ended_cleanly(proc, out)


def test_config_json_on_a_full_disk_and_a_read_only_out_dir(mini_cityscapes, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", size="1m") as disk:
        out = disk / "run"
        cfg_file = write_cfg(tmp_path, mini_cityscapes, out)
        fill(disk, leave=4096)  # one page: the run's lock file, not config.json
        capsys.readouterr()
        assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress"]) == 1
        assert _failure_line(capsys.readouterr().err) == (
            f"attanet train: no space left on {out} (writing config.json at iteration 0); no last.pt was written "
            "yet; free some space, then --resume starts the run again"
        )
        assert sorted(p.name for p in out.iterdir()) == ["run.lock"]  # no config.json, whole or partial

    with tmpfs(tmp_path / "ro", size="1m") as read_only:
        remount_read_only(read_only)
        for out in (read_only, read_only / "run"):  # an existing folder, one to create
            cfg_file = write_cfg(tmp_path, mini_cityscapes, out)
            assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress"]) == 2
            lines = capsys.readouterr().err.strip().splitlines()
            assert lines == [
                f"attanet train: error: --out {out}: {out} is on a read-only file system; choose a folder this "
                "run can write"
            ]


def test_an_unforeseen_error_is_one_line_with_its_traceback_in_a_file(mini_cityscapes, tmp_path, capsys, monkeypatch):
    from attanet_training.trainer import Trainer

    def broken_step(self, tensors, iteration):
        raise RuntimeError(f"a bug at iteration {iteration + 1}")

    monkeypatch.setattr(Trainer, "_step", broken_step)  # the fault is injected; workers, files are real
    cfg_file = write_cfg(tmp_path, mini_cityscapes, tmp_path / "run")
    capsys.readouterr()
    assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress"]) == 1
    line = _failure_line(capsys.readouterr().err)
    assert line.startswith("attanet train: failed: RuntimeError: a bug at iteration 1 (traceback in "), line
    report = Path(line.split("traceback in ", 1)[1].rstrip(")"))
    assert "in broken_step" in report.read_text()
    report.unlink()
    assert multiprocessing.active_children() == []  # the two data workers are gone
