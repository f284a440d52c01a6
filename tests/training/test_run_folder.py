"""A run folder is owned by one run: a second training into it is refused while the first runs, a
new run never replaces a finished one's files (``--overwrite`` moves them aside), and the lock of
a killed run does not outlive it, even while its forked data workers still do."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess

import pytest
from train_process import finish, records, start, wait_for, write_cfg

from attanet_model import default_model_path
from attanet_model.checkpoint import read_checkpoint
from attanet_training.cli import train_main
from attanet_training.synth_custom import generate_custom_dataset

pytestmark = [pytest.mark.skipif(os.name != "posix", reason="flock and process groups are POSIX"), pytest.mark.slow]


def _one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_second_training_into_a_busy_folder_is_refused_naming_the_owner(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "run"
    cfg_file = write_cfg(tmp_path, mini_cityscapes, out)
    first = start(cfg_file, "--no-progress", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = out / "log.jsonl"
    wait_for(lambda: len(records(log)) >= 1, first, "the first run's first record")

    owner = json.loads((out / "run.lock").read_text())
    assert owner["pid"] == first.pid and owner["host"] == socket.gethostname() and owner["started"]
    capsys.readouterr()
    for extra in ([], ["--resume"], ["--overwrite"]):  # none of them may take a folder in use
        assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress", *extra]) == 2
        line = _one_line(capsys)
        assert line.startswith(f"attanet train: error: --out {out} is in use by another training (pid {first.pid} ")
        assert line.endswith("wait for it to end or stop it, or choose another --out"), line
    # the first run goes on, alone in its log
    seen = len(records(log))
    wait_for(lambda: len(records(log)) >= seen + 2, first, "two more records of the first run")
    os.killpg(first.pid, signal.SIGTERM)
    err = finish(first)
    assert first.returncode == 143, err
    assert [r["iter"] for r in records(log) if "loss" in r] == list(range(1, len(records(log))))


def _custom_set(root):
    generate_custom_dataset(root, 3, 64, 128, seed=0, split="train")
    generate_custom_dataset(root, 2, 64, 128, seed=1, split="val")
    return root


def test_the_documented_command_twice_keeps_the_first_run(tmp_path, capsys, monkeypatch):
    # `attanet train --dataset custom --data-root DIR` (small, fast settings added) writes to the
    # recipe's default folder, runs/custom_cpu, whatever was there
    data = _custom_set(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "custom_cpu"
    command = ["--dataset", "custom", "--data-root", str(data), "--device", "cpu", "--no-progress"]
    command += ["--iterations", "4", "--batch-size", "2", "--crop-size", "64,64", "--workers", "0"]
    command += ["--set", "val_interval=4", "--set", "log_interval=1", "--set", "threads=1"]
    assert train_main(command) == 0
    names = ("last.pt", "best.pt", "log.jsonl", "config.json")
    first = {name: (out / name).read_bytes() for name in names}
    capsys.readouterr()

    assert train_main(command) == 2
    recipe, line = capsys.readouterr().err.strip().splitlines()  # the recipe's plan, then the refusal
    assert recipe.startswith("attanet train: --device cpu: recipe custom_cpu")
    assert line == (
        "attanet train: error: --out runs/custom_cpu already holds a run (last.pt, best.pt, log.jsonl, "
        "config.json, tensorboard; logged to iteration 4): --resume continues it, --overwrite moves its files into "
        "runs/custom_cpu/replaced-<date>-<time>/ and starts anew, or choose another --out"
    )
    assert {name: (out / name).read_bytes() for name in names} == first

    assert train_main([*command, "--overwrite", "--seed", "1"]) == 0
    err = capsys.readouterr().err
    (moved,) = out.glob("replaced-*")
    moved_to = moved.relative_to(tmp_path)  # the default folder is relative to the working directory
    assert (
        f"--overwrite: moved the previous run's last.pt, best.pt, log.jsonl, config.json, tensorboard to {moved_to}/"
        in err
    )
    assert {name: (moved / name).read_bytes() for name in names} == first  # nothing lost
    assert len(list((moved / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert [r["iter"] for r in records(out / "log.jsonl") if "loss" in r] == [1, 2, 3, 4]  # not mixed
    assert json.loads((out / "config.json").read_text())["seed"] == 1

    # --resume of the recipe's run: its start from the bundled model is the run's, not a change
    assert train_main([*command, "--seed", "1", "--resume", "--iterations", "6"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["init_from"] == str(default_model_path()) and config["iterations"] == 6
    assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == 6


def test_a_killed_runs_lock_does_not_outlive_it_in_its_workers(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "run"
    cfg_file = write_cfg(tmp_path, mini_cityscapes, out, ckpt_interval=2)
    proc = start(cfg_file, "--no-progress", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (out / "last.pt").exists(), proc, "a last.pt")
    os.killpg(proc.pid, signal.SIGSTOP)  # the workers stay frozen, alive, with whatever they inherited
    os.kill(proc.pid, signal.SIGKILL)  # the trainer alone
    proc.wait(timeout=60)
    try:
        saved = read_checkpoint(out / "last.pt")["extra"]["iteration"]
        capsys.readouterr()
        argv = ["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--resume", "--iterations"]
        assert train_main([*argv, str(saved + 1)]) == 0, capsys.readouterr().err
        assert f"resumed at iteration {saved} of {saved + 1}" in capsys.readouterr().err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned workers
