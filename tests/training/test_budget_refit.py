"""A wall-time budget that holds when the machine's speed changes: the schedule re-fitted while it
runs, a time-limit stop that still validates, and --resume that continues a fitted schedule."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from test_train import tiny_config

from attanet_model.checkpoint import read_checkpoint
from attanet_training import budget
from attanet_training.budget import DeadlineFit
from attanet_training.cli import train_main
from attanet_training.schedule import set_schedule_length, warmup_poly_scheduler
from attanet_training.trainer import Trainer


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_deadline_fit_follows_the_measured_speed(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(budget.time, "time", clock)
    trainer = SimpleNamespace(cfg=SimpleNamespace(iterations=500), validation_seconds=0.0)
    fit = DeadlineFit(trainer, deadline=clock.now + 100, safety=1.0)
    assert fit(10) is None  # the first record only starts the measurement (worker start-up left out)
    clock.now += 10  # 10 iterations in 10 s, 90 s left: 90 more
    assert fit(20) == 20 + 90
    trainer.cfg.iterations = 110
    clock.now += 5  # now 0.5 s per iteration overall (15 s for 20): 85 s left is 170 more
    assert fit(40) == 40 + 170
    trainer.cfg.iterations = 210
    clock.now += 0.5  # still 0.5 s per iteration (15.5 s for 31): 84.5 s left is 169 more, i.e. 210 again
    assert fit(41) is None
    trainer.cfg.iterations = 209  # under 1 % off is left alone (no lr steps for noise)
    assert fit(41) is None
    trainer.validation_seconds = 20.0  # the final validation's time is kept back: 64.5 s is 129 more
    assert fit(41) == 41 + 129


def test_set_schedule_length_moves_the_decay():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_poly_scheduler(opt, 100, 0.9, 0, 0.1)
    for _ in range(50):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5**0.9)
    set_schedule_length(sched, 60)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx((1 - 51 / 60) ** 0.9)
    saved = sched.state_dict()  # the new length is in the state (a callable, not a lambda)
    assert saved["lr_lambdas"][0]["max_iters"] == 60


def test_a_refitted_run_ends_on_the_new_length_with_the_lr_at_zero(mini_cityscapes, tmp_path):
    cfg = tiny_config(mini_cityscapes, tmp_path / "run", iterations=12, val_split="val", val_interval=100)
    trainer = Trainer(cfg, device="cpu", progress=False, log_stdout=False)
    trainer.refit_schedule = lambda iteration: 7 if iteration == 3 else None  # "the machine slowed down"
    result = trainer.run()
    assert result.exit_code == 0 and result.iteration == 7 and trainer.cfg.iterations == 7
    records = _records(tmp_path / "run")
    assert {"iter": 3, "schedule_iterations": 7, "was": 12} in records
    lrs = [r["lr"] for r in records if "lr" in r]
    assert len(lrs) == 7 and lrs[-1] == pytest.approx(cfg.lr * (1 - 4 / 5) ** 0.9)  # poly over 7 (warm-up 2), not 12
    # the final validation runs at the new end (val_interval 100 is never reached)
    assert [r["iter"] for r in records if "val_miou" in r] == [7]
    assert read_checkpoint(result.best_checkpoint)["extra"]["config"]["iterations"] == 7


def test_the_time_limit_validates_the_weights_it_stops_at(mini_cityscapes, tmp_path, capsys):
    cfg = tiny_config(
        mini_cityscapes, tmp_path / "run", iterations=50, val_split="val", val_interval=40, max_minutes=1e-6
    )
    result = Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
    assert result.stopped == "time limit" and result.iteration == 1
    records = _records(tmp_path / "run")
    assert [r["iter"] for r in records if "val_miou" in r] == [1]
    assert [r["eta_s"] for r in records if "eta_s" in r] == [0.0]  # the time limit, not 49 more iterations
    assert result.best_checkpoint is not None and result.best_checkpoint.exists()
    assert read_checkpoint(result.best_checkpoint)["extra"]["iteration"] == 1


def test_resume_without_iterations_continues_the_saved_schedule(mini_cityscapes, tmp_path, capsys):
    # a run whose schedule (9 iterations, warm-up 3) is not the config file's (what a budget fit does)
    out = tmp_path / "run"
    cfg = tiny_config(mini_cityscapes, out, iterations=9, warmup_iters=3, max_minutes=1e-6)
    Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
    assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == 1
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({**cfg.to_dict(), "iterations": 1000, "warmup_iters": 50, "max_minutes": 0}))
    capsys.readouterr()
    assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "continuing" in err and "schedule (iterations 9, warmup_iters 3)" in err, err
    assert "resumed at iteration 1 of 9" in err, err
    lrs = [r["lr"] for r in _records(out) if "lr" in r]
    assert len(lrs) == 9 and lrs[-1] == pytest.approx(cfg.lr * (1 - 5 / 6) ** 0.9)  # warm-up 3 kept, poly to 9


def test_a_probe_checkpoint_is_not_resumed_as_a_schedule(mini_cityscapes, tmp_path, capsys):
    # what a Ctrl-C during the budget's speed probe leaves: last.pt of a run with no fitted length
    out = tmp_path / "run"
    cfg = tiny_config(mini_cityscapes, out, iterations=budget.PROBE_ITERATIONS)
    probe = Trainer(cfg, device="cpu", progress=False, log_stdout=False)
    probe.resume_hint = "RESUME-HINT"
    probe.stop_signal = signal.SIGINT  # as if Ctrl-C arrived during the first iteration
    capsys.readouterr()
    result = probe.run()
    assert result.exit_code == 130 and result.iteration == 1
    err = capsys.readouterr().err
    assert "stopped by SIGINT at iteration 1; saved" in err and err.strip().endswith("RESUME-HINT"), err
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({**cfg.to_dict(), "iterations": 1000}))
    assert train_main(["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "saved by the speed probe of a --budget-minutes run" in err and "--iterations N" in err, err
    fixed = ["--config", str(cfg_file), "--device", "cpu", "--no-progress", "--resume", "--iterations", "3"]
    assert train_main(fixed) == 0


def test_a_schedule_cut_during_its_warm_up_still_decays(mini_cityscapes, tmp_path):
    cfg = tiny_config(mini_cityscapes, tmp_path / "run", iterations=100, warmup_iters=50)
    trainer = Trainer(cfg, device="cpu", progress=False, log_stdout=False)
    trainer.refit_schedule = lambda iteration: 10 if iteration == 2 else None  # a 10x slowdown at iteration 2
    result = trainer.run()
    assert result.iteration == 10 and trainer.cfg.warmup_iters == 2  # max(10 // 5, 2): the warm-up ends now
    records = _records(tmp_path / "run")
    assert {"iter": 2, "schedule_iterations": 10, "was": 100, "warmup_iters": 2} in records
    lrs = [r["lr"] for r in records if "lr" in r]
    assert lrs[-1] == pytest.approx(cfg.lr * (1 - 7 / 8) ** 0.9)  # poly over iterations 2..10
