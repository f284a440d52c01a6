"""``attanet train`` once its config is resolved: which checkpoint ``--resume`` continues, the run
folder claimed for the run, the run itself (a fixed schedule or a time budget), the deployment
copy, and how the run ended as an exit code.

Exit codes: 0 done (or stopped by its time limit, saved); 2 a user error, one line, before
anything ran (or ``--strict-data`` / a non-finite loss, saved first); 1 the run could not go on
(a write failed: a full disk; or an unexpected error, whose traceback goes to a file), one line
that says what is intact; 130/143 stopped by SIGINT/SIGTERM, saved.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

from attanet_model.checkpoint import CheckpointError, read_checkpoint

from . import distributed as dist_utils
from .budget import PROBE_ITERATIONS, train_for_minutes
from .config import TrainConfig
from .datasets import DatasetLayoutError
from .release import release_checkpoint
from .run_claim import claim_run_folder
from .run_errors import RunFailed
from .trainer import Trainer

# what the caller reports as a user error (exit 2) or a stopped run, not as a crash
SAID_BY_CALLER = (DatasetLayoutError, CheckpointError, ValueError, FileNotFoundError, FloatingPointError, RunFailed)


def say(message: str) -> None:
    print(f"attanet train: {message}", file=sys.stderr, flush=True)


def train_command(
    cfg: TrainConfig,
    *,
    device: str,
    resume: str | None,
    iterations_given: bool,
    overwrite: bool,
    budget_minutes: float | None,
    command: str,
    progress: bool,
    release: str | None,
) -> int:
    """Run ``cfg`` as ``attanet train`` does; returns the exit code. User errors raise (the
    ``SAID_BY_CALLER`` types); anything else becomes ``RunFailed`` with one line, after every
    data-loading worker is gone. ``resume`` is ``--resume`` ("auto" without a value)."""
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out, --overwrite replaces it; give one of them")
    if budget_minutes is not None and resume:
        raise ValueError("--budget-minutes starts a new run; --resume alone continues one on its fitted schedule")
    info = dist_utils.init_distributed(device)
    told = say if info.is_main else _quiet
    checkpoint = str(Path(cfg.out_dir) / "last.pt") if resume == "auto" else resume
    if resume == "auto" and not Path(checkpoint).exists():
        checkpoint = None  # a run killed before its first checkpoint: it starts again (said once claimed)
    if checkpoint and not iterations_given:
        cfg = _saved_schedule(checkpoint, cfg, told)
    cfg.check(world_size=info.world_size, cuda=info.device.startswith("cuda"))
    claim = claim_run_folder(
        cfg.out_dir, info, resume=checkpoint, resume_asked=bool(resume), overwrite=overwrite, command=command, say=told
    )
    try:
        with claim:
            if resume and not checkpoint:
                told(f"--resume: no {Path(cfg.out_dir) / 'last.pt'} yet; starting from iteration 0")
            return _train(cfg, checkpoint, budget_minutes, device, command, progress, release, told)
    except SAID_BY_CALLER:
        raise
    except Exception as exc:
        raise RunFailed(_unexpected(exc)) from exc
    finally:
        _stop_leftover_workers()


def _train(
    cfg: TrainConfig,
    checkpoint: str | None,
    budget_minutes: float | None,
    device: str,
    command: str,
    progress: bool,
    release: str | None,
    told: Callable[[str], None],
) -> int:
    """The run (to a time budget, or resumed from ``checkpoint``), then its deployment copy."""
    if budget_minutes is not None:
        trainer, result = train_for_minutes(cfg, budget_minutes, device=device, command=command, progress=progress)
    else:
        trainer = Trainer(cfg, device=device, resume=checkpoint, command=command, progress=progress)
        result = trainer.run()
    if result.exit_code or not (release and trainer.info.is_main):
        return result.exit_code
    source = result.best_checkpoint or result.last_checkpoint
    path = release_checkpoint(source, release, half=True, notes={"released_from": str(source)})
    told(f"released {source} -> {path}")
    return 0


def _quiet(message: str) -> None:
    """What ranks other than 0 say: nothing (rank 0 speaks for the run)."""
    del message


def _saved_schedule(checkpoint: str, cfg: TrainConfig, say: Callable[[str], None]) -> TrainConfig:
    """``--resume`` without ``--iterations`` continues the checkpoint's own schedule: a run fitted
    to ``--budget-minutes`` has a length that no config file holds."""
    saved = (read_checkpoint(checkpoint).get("extra") or {}).get("config") or {}
    if saved.get("iterations") == PROBE_ITERATIONS:
        raise ValueError(
            f"--resume {checkpoint}: saved by the speed probe of a --budget-minutes run, before a schedule was "
            "fitted; give --iterations N for a fixed schedule, or start the budget run again"
        )
    schedule = {k: saved[k] for k in ("iterations", "warmup_iters") if k in saved and saved[k] != getattr(cfg, k)}
    if not schedule:
        return cfg
    told = ", ".join(f"{k} {v}" for k, v in schedule.items())
    say(f"--resume: continuing {checkpoint}'s schedule ({told}); --iterations N changes it")
    return dataclasses.replace(cfg, **schedule)


def _stop_leftover_workers() -> None:
    """Kill what is left of this process's data-loading workers (they ignore SIGTERM, which is all
    ``multiprocessing`` would send them at exit). The trainer stops its own on every way out, so
    this finds one only when torch's shutdown gave up on a worker that did not answer in time."""
    for child in multiprocessing.active_children():
        child.kill()
        child.join()


def _unexpected(exc: BaseException) -> str:
    """One line for an error nobody foresaw; its traceback goes to a file the line names."""
    report = Path(tempfile.gettempdir()) / f"attanet-train-{os.getpid()}.traceback.txt"
    try:
        report.write_text("".join(traceback.format_exception(exc)))
        where = f"traceback in {report}"
    except OSError:
        where = "no traceback file could be written"
    detail = " ".join(str(exc).split()) or "no message"
    return f"failed: {type(exc).__name__}: {detail} ({where})"
