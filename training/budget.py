"""Training inside a wall-time budget: measure this machine's speed, then fit the schedule to it."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from .config import TrainConfig
from .run_errors import RunFailed, WriteFailed
from .run_report import failure_line
from .run_result import TrainResult
from .schedule import fitted_warmup
from .trainer import Trainer

PROBE_ITERATIONS = 10**7  # the probe's schedule: so long that its lr has not begun to decay when it stops


def fit_iterations(done: int, seconds_per_iteration: float, seconds_left: float, safety: float = 0.9) -> int:
    """The schedule length that ends inside the time left: iterations already ``done`` plus what
    the measured speed allows in ``safety`` of ``seconds_left`` (at least one more)."""
    if seconds_per_iteration <= 0:
        raise ValueError(f"seconds per iteration must be positive, got {seconds_per_iteration}")
    return done + max(1, int(safety * max(seconds_left, 0.0) / seconds_per_iteration))


def _steady_seconds_per_iteration(history: list[dict], batch_size: int, done: int, wall_s: float) -> float:
    """From the probe's log records: the median speed of every window after the first (which holds
    worker start-up and cudnn autotuning); the probe's overall average when it logged too few."""
    windows = [r["img_s"] for r in history if "img_s" in r][1:]
    if len(windows) >= 2:
        img_s = float(np.median(windows))
        return batch_size / img_s
    return wall_s / max(done, 1)


class DeadlineFit:
    """Keeps a schedule ending at a deadline while it runs (the trainer's ``refit_schedule``).

    The probe's speed holds only while the machine's load does; this measures the wall time per
    iteration of the run itself since its first log record (worker start-up left out; validations
    and checkpoints included, as they take the same share of what is left), keeps back the last
    validation's time for the final one, and returns the length that ends in ``safety`` of the
    rest. Changes under 1 % are left alone, so the lr curve moves in few, small steps."""

    def __init__(self, trainer: Trainer, deadline: float, safety: float = 0.97) -> None:
        self.trainer, self.deadline, self.safety = trainer, deadline, safety
        self.origin: tuple[float, int] | None = None

    def __call__(self, iteration: int) -> int | None:
        now = time.time()
        if self.origin is None:
            self.origin = (now, iteration)
            return None
        start, first = self.origin
        if iteration <= first:
            return None
        per_iteration = (now - start) / (iteration - first)
        left = self.deadline - now - self.trainer.validation_seconds
        total = fit_iterations(iteration, per_iteration, left, self.safety)
        current = self.trainer.cfg.iterations
        return total if abs(total - current) >= max(1, current // 100) else None


def train_for_minutes(
    cfg: TrainConfig,
    minutes: float,
    device: str = "auto",
    command: str = "",
    progress: bool = True,
    probe_fraction: float = 0.1,
) -> tuple[Trainer, TrainResult]:
    """Train a complete warm-up + poly schedule inside a wall-time budget.

    A probe run (``probe_fraction`` of the budget, with a schedule too long to decay yet) measures
    the speed of this machine, saves ``last.pt`` and stops; the run then resumes with the iteration
    count that fits the time left (``fit_iterations``), so the lr reaches zero at the end instead of
    a time limit cutting the schedule short; while it runs, ``DeadlineFit`` re-fits that count to
    the speed it measures (a load that rises or falls after the probe). ``cfg.iterations`` is
    ignored. One process only: ranks of a torchrun job would each measure a different speed.
    """
    if minutes <= 0:
        raise ValueError(f"the time budget must be positive, got {minutes} minutes")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("--budget-minutes works in one process; under torchrun give --iterations instead")
    start = time.time()
    # no validation in the probe: it would use OpenCV's thread pool in this process before the
    # main phase forks its data workers, and a fork of a process with a live pool can deadlock
    probe_cfg = dataclasses.replace(
        cfg, iterations=PROBE_ITERATIONS, max_minutes=minutes * probe_fraction, val_interval=0
    )
    probe = Trainer(probe_cfg, device=device, command=command, progress=progress)
    probe.announce_stop = False
    probe.resume_hint = (
        "that was the budget's speed probe: run the same command to start over, or --resume --iterations N "
        "to go on with a fixed schedule"
    )
    probe.plan_schedule = (
        f"budget {minutes:g} min: a probe of {minutes * probe_fraction:.2g} min measures the speed, then the "
        f"warm-up + poly schedule is fitted to the time left (lr {cfg.lr:g})"
    )
    probe_result = probe.run()
    if probe_result.exit_code:  # interrupted by a signal: report it like any run
        return probe, probe_result
    spent = time.time() - start
    per_iteration = _steady_seconds_per_iteration(
        probe.history, cfg.batch_size, probe_result.iteration, probe.wall_before + spent
    )
    seconds_left = minutes * 60 - spent
    total = fit_iterations(probe_result.iteration, per_iteration, seconds_left)
    warmup = fitted_warmup(cfg.warmup_iters, total, probe_result.iteration)  # a short budget still decays
    fitted = {
        "iter": probe_result.iteration,
        "budget_minutes": minutes,
        "seconds_per_iteration": round(per_iteration, 5),
        "fitted_iterations": total,
        "warmup_iters": warmup,
    }
    try:
        probe.log(fitted)
    except WriteFailed as exc:
        raise RunFailed(failure_line(exc, probe_result.iteration, probe.last_saved, probe.out_dir)) from exc
    main_cfg = dataclasses.replace(cfg, iterations=total, warmup_iters=warmup, max_minutes=max(seconds_left, 1.0) / 60)
    # the main phase's workers start fresh (spawn) rather than as forks of a process that has
    # already run a training loop, its threads and (on CUDA) a driver context included
    trainer = Trainer(
        main_cfg,
        device=device,
        resume=str(probe_result.last_checkpoint),
        command=command,
        progress=progress,
        worker_start="spawn",
    )
    trainer.announce_changes = False  # the fitted schedule replaces the probe's, as the plan says
    trainer.refit_schedule = DeadlineFit(trainer, start + minutes * 60)
    return trainer, trainer.run()
