"""The training loop: one process or torchrun/DDP, resumable, interruptible, observable.

Data order and augmentation are pure functions of (seed, position in the sample stream), and
the torch RNG (dropout) is checkpointed, so ``--resume`` continues the same loss curve. Rank 0
alone writes checkpoints (atomically: ``checkpoints.py``), the JSON log, the TensorBoard scalars
(``scalar_log.py``) and the progress bar. SIGINT/SIGTERM set a flag that all ranks agree on at
the next step; the run then saves ``last.pt`` at that iteration and returns 130/143 (128 + the
signal number, the shell's convention). Data-loading workers ignore both signals, so a signal to
the whole process group (Ctrl-C, ``timeout``, Slurm, systemd) reaches the trainer with its
workers still alive, and the trainer alone decides how to stop; it stops them on every way out
of the loop, an error included. A write that fails (a full disk) ends the run with one line
(``RunFailed``) that says what is intact.

``Trainer.run`` is a short loop of named steps (``_step``, ``_log_window``, ``_validate_if_due``,
``_checkpoint_if_due``, ``_should_stop``). Around it: the splits, augmentation and this rank's
batches in ``train_data.py`` (the sample stream in ``sample_stream.py``, the workers or the
device cache in ``batches.py``), the optimizer, schedule and loss in ``optim.py``, what a
checkpoint holds and how it is written in ``checkpoints.py``, the log and bad-data reports in
``run_log.py``, the plan and closing lines in ``run_report.py``, fitting a schedule to a time
budget in ``budget.py``, the deployment copy of a checkpoint in ``release.py``, what ``--resume``
may change in ``resume_rules.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from attanet_model import build_model

from . import distributed as dist_utils
from .batches import BatchSource
from .checkpoints import (
    RunIdentity,
    init_from_weights,
    load_all_weights,
    read_weights,
    restore_training_state,
    resume_state,
    write_run_checkpoint,
)
from .config import TrainConfig
from .evaluate import validate_split
from .optim import TrainingParts
from .resume_rules import check_resume_classes, resumed_config
from .run_errors import RunFailed, WriteFailed, writing
from .run_folder import write_atomically
from .run_log import LogWindow, RunLog
from .run_report import closing_line, failure_line, plan_lines
from .run_result import EXIT_SIGNAL, RunState, TrainResult
from .schedule import fitted_warmup, set_schedule_length
from .train_data import TrainData


class Trainer:
    """One training run of ``cfg`` into ``cfg.out_dir`` (see the module docstring).

    The caller owns the run folder: ``attanet train`` holds its lock (``run_claim``) around the run.
    ``resume`` continues a checkpoint's run; the flags it may change are in ``resume_rules``."""

    def __init__(
        self,
        cfg: TrainConfig,
        device: str = "auto",
        resume: str | None = None,
        command: str = "",
        progress: bool = True,
        log_stdout: bool = True,
        worker_start: str | None = None,
    ) -> None:
        self.info = dist_utils.init_distributed(device)
        cfg.check(world_size=self.info.world_size, cuda=self.info.device.startswith("cuda"))
        self.progress = progress
        self.init_report: dict | None = None
        self.worker_start = worker_start  # multiprocessing start method of the data workers (None: fork)
        payload, weights, extra = None, None, {}
        self.resume_changes: list[str] = []  # what this resumed run changes from the checkpoint's config
        if resume:
            payload, weights = read_weights(resume, "--resume", cfg.arch)
            extra = resume_state(payload, resume)
            cfg, self.resume_changes = resumed_config(cfg, extra.get("config") or {}, resume)
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.per_rank_batch = cfg.batch_size // self.info.world_size
        self.out_dir = Path(cfg.out_dir)
        self.device = torch.device(self.info.device)
        self.cuda = self.device.type == "cuda"

        data = TrainData.for_config(cfg)
        self.data, self.train_set, self.val_set, self.transform = data, data.train_set, data.val_set, data.transform
        self.classes = self.train_set.classes

        torch.manual_seed(cfg.seed)
        # a resumed run's weights come from its checkpoint: the ImageNet file is not read again
        pretrained = None if resume else cfg.pretrained
        self.model = build_model(cfg.arch, len(self.classes), pretrained_backbone=pretrained)
        self.start_iteration, self.best_miou = 0, None
        if payload is not None:
            check_resume_classes(payload["meta"].get("classes") or [], [c.name for c in self.classes], resume)
            load_all_weights(self.model, weights, resume, cfg.arch)
        elif cfg.init_from:
            self._init_from(cfg.init_from)
        del payload, weights
        self.model.to(self.device)
        if self.cuda and cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.model, self.net = dist_utils.wrap_for_ranks(self.model, self.info, cfg.sync_bn)
        self.parts = parts = TrainingParts.for_model(self.model, cfg, self.cuda)
        self.identity = RunIdentity(command, self.info.device, self.info.world_size, self.train_set.label_values)
        self.optimizer, self.scheduler, self.criterion = parts.optimizer, parts.scheduler, parts.criterion
        self.scaler, self.amp = parts.scaler, parts.amp
        # the iteration of the last.pt on disk, as far as this run knows (said if a write fails)
        self.last_saved: int | None = None
        if extra:
            self._restore_state(extra, resume)
        self.stop_signal: int | None = None
        self.run_log = RunLog(self.out_dir, self.info.is_main, log_stdout, self.say)
        self.wall_start = time.time()
        self.wall_before = float(extra.get("wall_time_s", 0.0)) if extra else 0.0
        self.resumed_from = resume
        self.announce_stop = True  # the budget run's probe stops at its time limit by design, silently
        self.announce_changes = True  # the budget's main phase changes its probe's schedule by design
        self.resume_hint = "--resume continues"  # how to go on after a stop (the probe has its own)
        self.plan_schedule: str | None = None  # replaces the plan's schedule line (the budget probe)
        # called at every log record with the iteration; a number it returns becomes the schedule's
        # length (a wall-time budget re-fitting it to the speed measured so far, see budget.py)
        self.refit_schedule: Callable[[int], int | None] | None = None
        self.validation_seconds = 0.0  # how long the last validation took
        self.deadline = math.inf  # the time limit (max_minutes) as a time.time(), once running
        self.final_miou: float | None = None  # the latest validation's (at the end: the final weights')

    def say(self, message: str) -> None:
        """One line for the user on stderr (rank 0 only)."""
        if self.info.is_main:
            print(f"attanet train: {message}", file=sys.stderr, flush=True)

    # ---- checkpoint state ---------------------------------------------------------------------

    def _init_from(self, path: str) -> None:
        """Start from another AttaNet checkpoint's weights (fine-tuning); the log says what fit."""
        self.init_report = init_from_weights(self.model, path, self.cfg.arch)
        loaded, total, fresh = (self.init_report[k] for k in ("tensors_loaded", "tensors_total", "fresh_modules"))
        if self.info.is_main:
            kept = f"; fresh: {', '.join(fresh)}" if fresh else ""
            print(f"attanet train: initialised {loaded}/{total} tensors from {path}{kept}", file=sys.stderr)

    def _restore_state(self, extra: dict, checkpoint: str) -> None:
        restore_training_state(extra, self.optimizer, self.scheduler, self.scaler if self.amp else None, self.device)
        # this run's config wins over the schedule saved (a --resume with a larger --iterations)
        set_schedule_length(self.scheduler, self.cfg.iterations, self.cfg.warmup_iters)
        self.start_iteration = int(extra["iteration"])
        self.best_miou = extra.get("best_miou")
        if Path(checkpoint).resolve() == (self.out_dir / "last.pt").resolve():
            self.last_saved = self.start_iteration

    def save(self, name: str, iteration: int, val_miou: float | None = None) -> Path | None:
        """Rank 0 writes ``out_dir/name`` atomically with the full training state in ``extra``;
        a failed write raises ``WriteFailed`` and leaves the previous file intact."""
        if not self.info.is_main:
            return None
        wall = self.wall_before + time.time() - self.wall_start
        path = write_run_checkpoint(
            self.out_dir / name,
            self.model,
            self.cfg,
            self.classes,
            self.identity,
            self.parts,
            iteration=iteration,
            val_miou=val_miou,
            best_miou=self.best_miou,
            wall_time_s=wall,
        )
        if name == "last.pt":
            self.last_saved = iteration
        return path

    # ---- logging ------------------------------------------------------------------------------

    def log(self, record: dict) -> None:
        """One record: a line of log.jsonl (whole or not at all), stdout, TensorBoard (rank 0)."""
        self.run_log.write(record)

    @property
    def history(self) -> list[dict]:
        return self.run_log.history

    @property
    def data_problems(self) -> dict[str, dict]:
        return self.run_log.data_problems

    # ---- the loop -----------------------------------------------------------------------------

    def _batch_source(self) -> BatchSource:
        """This rank's batches from the iteration the run starts at; the stream has no end when
        ``refit_schedule`` may lengthen the schedule (the loop stops at its length either way)."""
        return self.data.batches(
            self.cfg,
            self.info,
            self.device,
            self.start_iteration,
            endless=self.refit_schedule is not None,
            worker_start=self.worker_start,
            progress=self.progress and self.info.is_main,
            report_problems=lambda note: self.run_log.report_problems(
                [note], self.start_iteration, self.cfg.strict_data
            ),
        )

    def _on_signal(self, signum, frame) -> None:
        del frame
        self.stop_signal = signum

    def validate(self, iteration: int) -> float | None:
        """The val split's mIoU (logged), or None without a val split or when a stop signal cut
        the validation short (partial counts: no val_miou, no best.pt)."""
        if self.val_set is None:
            return None
        summary, skipped = validate_split(
            self.model, self.val_set, self.cfg, self.info, lambda: self.stop_signal is not None
        )
        if summary is None:
            self.log({"iter": iteration, "val_interrupted": True})
            return None
        self.run_log.report_problems([json.dumps([{**p, "skipped": True} for p in skipped])], iteration)
        self.log({"iter": iteration, "val_miou": summary["miou"], "val_pixel_acc": summary["pixel_acc"]})
        return summary["miou"]

    # ---- what the run says -------------------------------------------------------------------

    def plan(self) -> list[str]:
        """The run in a few lines, printed before the first iteration."""
        return plan_lines(
            self.cfg,
            device=self.info.device,
            world_size=self.info.world_size,
            class_names=[c.name for c in self.classes],
            train_images=len(self.train_set),
            val_images=len(self.val_set) if self.val_set is not None else None,
            per_rank_batch=self.per_rank_batch,
            amp=self.amp,
            out_dir=self.out_dir,
            resumed_from=self.resumed_from,
            start_iteration=self.start_iteration,
            schedule=self.plan_schedule,
        )

    def run(self) -> TrainResult:
        """Train to the end of the schedule, a stop signal or the time limit. A write that fails
        (a full disk) raises ``RunFailed``, one line with the cause and what is intact; the data
        workers are stopped on every way out."""
        if self.start_iteration >= self.cfg.iterations:
            return self._already_finished()
        state = RunState(self.start_iteration)
        try:
            self._begin()
            with self._batch_source().open() as batches:
                self._loop(batches, state)
        except WriteFailed as exc:
            raise RunFailed(failure_line(exc, state.iteration, self.last_saved, self.out_dir)) from exc
        finally:
            self.run_log.close_scalars()
        dist_utils.barrier()
        return self._result(state)

    def _loop(self, batches: Iterator, state: RunState) -> None:
        """The iterations: a step, then what is due after it (log, re-fit, validation, checkpoint, stop)."""
        previous = {s: signal.signal(s, self._on_signal) for s in EXIT_SIGNAL}
        bar = self._progress_bar()
        window = LogWindow()
        self.deadline = time.time() + self.cfg.max_minutes * 60 if self.cfg.max_minutes > 0 else math.inf
        self.net.train()
        try:
            while (batch := self._next_batch(batches, window)) is not None:
                *tensors, notes = batch
                if self._stop_on_bad_data(notes, state):
                    break
                values, lr = self._step(tensors, state.iteration)
                state.iteration += 1
                window.add(values["loss"])
                if bar is not None:
                    bar.update(1)
                if self._due(state.iteration, self.cfg.log_interval):
                    self._log_window(state.iteration, window, values, lr, bar)
                    window = LogWindow()
                    self._refit_if_asked(state.iteration, bar)
                self._validate_if_due(state)
                self._checkpoint_if_due(state)
                if self._should_stop(state.iteration, self.deadline):
                    self._stop_early(state)
                    break
                if state.iteration >= self.cfg.iterations:  # a re-fitted schedule ends before its stream
                    break
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if bar is not None:
                bar.close()

    # ---- the loop's steps ---------------------------------------------------------------------

    def _already_finished(self) -> TrainResult:
        """A resumed run whose checkpoint is already at the end of the schedule."""
        self.say(
            f"{self.resumed_from} already finished at iteration {self.start_iteration} of {self.cfg.iterations}; "
            "nothing to train (give a larger --iterations to train on)"
        )
        best = self.out_dir / "best.pt"
        last = Path(self.resumed_from) if self.resumed_from else None
        return TrainResult(
            0, self.start_iteration, self.best_miou, last, best if best.exists() else None, [], "finished"
        )

    def _begin(self) -> None:
        """Rank 0: the run folder (cleaned when resumed), its config.json and TensorBoard writer, the plan."""
        cfg = self.cfg
        if not self.info.is_main:
            return
        resumed_at = self.start_iteration if self.resumed_from else None
        self.run_log.begin(resumed_at)
        self._write_config()
        self.run_log.open_scalars(resumed_at)
        if self.resume_changes and self.announce_changes:
            self.say(f"--resume: changed from the run's config (applied): {', '.join(self.resume_changes)}")
        for line in self.plan():
            self.say(line)
        if cfg.warmup_iters > cfg.iterations and not self.plan_schedule:
            self.say(
                f"WARN: iterations ({cfg.iterations}) is shorter than the warm-up ({cfg.warmup_iters}): the lr "
                "never reaches its base value nor decays; lower warmup_iters (--set warmup_iters=N)"
            )

    def _write_config(self) -> None:
        """config.json: the config this run trains with (rewritten when a re-fit changes it)."""
        with writing("config.json", self.out_dir):
            write_atomically(self.out_dir / "config.json", json.dumps(self.cfg.to_dict(), indent=2))

    def _progress_bar(self):
        if not (self.info.is_main and self.progress):
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.cfg.iterations, initial=self.start_iteration, desc="train", unit="it", dynamic_ncols=True
        )

    @staticmethod
    def _next_batch(batches: Iterator, window: LogWindow) -> tuple | None:
        """The next batch (None at the end of the schedule); the time spent waiting for it is how
        data-bound the run is (logged as data_wait)."""
        wait_start = time.time()
        batch = next(batches, None)
        if batch is not None:
            window.data_wait_s += time.time() - wait_start
        return batch

    def _stop_on_bad_data(self, notes: list[str], state: RunState) -> bool:
        """Report the batch's problem files; with strict_data, a problem on any rank stops the run
        before training on it, with last.pt saved at this iteration."""
        cfg, iteration = self.cfg, state.iteration
        problem = self.run_log.report_problems(notes, iteration, strict=cfg.strict_data)
        if not (cfg.strict_data and dist_utils.any_rank(problem is not None, self.info.device)):
            return False
        state.last_path = self.save("last.pt", iteration) or state.last_path
        state.stopped, state.exit_code = "bad data", 2
        self.log({"iter": iteration, "stopped": state.stopped, "checkpoint": str(self.out_dir / "last.pt")})
        where = f"{problem['file']}: {problem['reason']}" if problem else "a file on another rank"
        self.say(
            f"--strict-data: {where}; stopped at iteration {iteration} before training on it, "
            f"saved {state.last_path}; fix or remove the file, then --resume"
        )
        return True

    def _step(self, tensors: list[torch.Tensor], iteration: int) -> tuple[dict[str, float], float]:
        """One optimizer step on a batch: (the loss and its parts as numbers, the lr of the step).

        The loss and its parts are read from the device once, as one tensor, after the backward
        pass and before ``optimizer.step``: a non-finite loss raises there, so it never reaches the
        weights, the optimizer's momentum or the schedule."""
        cfg = self.cfg
        images, labels, *params = (t.to(self.device, non_blocking=True) for t in tensors)
        if params:  # device_augment: full uint8 frames in, augmented crops out
            images, labels = self.transform.batch(images, labels, params[0])
        if self.cuda and cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            outputs = self.net(images)
        loss, parts = self.criterion(outputs, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        read = torch.stack([loss.detach(), *parts.values()]).tolist()
        values = dict(zip(["loss", *parts], read, strict=True))
        if not math.isfinite(values["loss"]):
            raise FloatingPointError(
                f"loss became {values['loss']} at iteration {iteration + 1}; lower --lr "
                f"(now {cfg.lr}) or check the labels"
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        return values, lr

    def _due(self, iteration: int, interval: int) -> bool:
        """Every ``interval`` iterations and at the last one."""
        return iteration % interval == 0 or iteration == self.cfg.iterations

    def _log_window(self, iteration: int, window: LogWindow, values: dict[str, float], lr: float, bar) -> None:
        """One log record of the window (``LogWindow.record``), shown on the progress bar too."""
        record = window.record(iteration, values, lr, self.cfg, self.deadline, len(self.data_problems))
        self.log(record)
        if bar is not None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}", img_s=f"{record['img_s']:.1f}")

    def _refit_if_asked(self, iteration: int, bar) -> None:
        """A new schedule length from ``refit_schedule`` (never at or before this iteration): the
        poly decay, the final validation and the progress bar follow it, and the log says so."""
        total = self.refit_schedule(iteration) if self.refit_schedule is not None else None
        if total is None or total == self.cfg.iterations:
            return
        total = max(total, iteration + 1)
        warmup = fitted_warmup(self.cfg.warmup_iters, total, iteration)
        record = {"iter": iteration, "schedule_iterations": total, "was": self.cfg.iterations}
        if warmup != self.cfg.warmup_iters:
            record["warmup_iters"] = warmup
        self.log(record)
        self.cfg = dataclasses.replace(self.cfg, iterations=total, warmup_iters=warmup)
        set_schedule_length(self.scheduler, total, warmup)
        if self.info.is_main:
            self._write_config()
        if bar is not None:
            bar.total = total
            bar.refresh()

    def _validate_if_due(self, state: RunState, now: bool = False) -> None:
        """Validate every val_interval iterations (and when ``now``); a better mIoU writes best.pt."""
        if self.cfg.val_interval <= 0 or not (now or self._due(state.iteration, self.cfg.val_interval)):
            return
        started = time.time()
        miou = self.validate(state.iteration)
        self.validation_seconds = time.time() - started
        self.final_miou = miou
        self.net.train()
        if miou is not None and (self.best_miou is None or miou > self.best_miou):
            self.best_miou = miou
            state.best_path = self.save("best.pt", state.iteration, miou) or state.best_path

    def _checkpoint_if_due(self, state: RunState) -> None:
        if self._due(state.iteration, self.cfg.ckpt_interval):
            state.last_path = self.save("last.pt", state.iteration) or state.last_path

    def _should_stop(self, iteration: int, deadline: float) -> bool:
        """A stop signal or the time limit on any rank, before the end of the schedule."""
        asked = dist_utils.any_rank(self.stop_signal is not None or time.time() > deadline, self.info.device)
        return asked and iteration < self.cfg.iterations

    def _stop_early(self, state: RunState) -> None:
        """Save last.pt at this iteration, log and say why; the exit code is 128 + the signal's number."""
        iteration = state.iteration
        if self.stop_signal is None and self.cfg.val_interval > 0 and iteration % self.cfg.val_interval:
            # the time limit: score the weights it stopped at, so the run still ends with a best.pt
            self._validate_if_due(state, now=True)
        state.last_path = self.save("last.pt", iteration) or state.last_path
        code = EXIT_SIGNAL.get(self.stop_signal, 0) if self.stop_signal else 0
        name = signal.Signals(self.stop_signal).name if self.stop_signal else None
        state.stopped = f"signal {name}" if name else "time limit"
        self.log({"iter": iteration, "stopped": state.stopped, "checkpoint": str(self.out_dir / "last.pt")})
        if self.announce_stop or name:
            by = name or f"the time limit (max_minutes {self.cfg.max_minutes:g})"
            self.say(f"stopped by {by} at iteration {iteration}; saved {state.last_path}; {self.resume_hint}")
        state.exit_code = code

    def _result(self, state: RunState) -> TrainResult:
        best = self.out_dir / "best.pt"
        best = best if best.exists() else state.best_path
        last_path = state.last_path or (self.out_dir / "last.pt")
        if state.stopped is None:
            wall = self.wall_before + time.time() - self.wall_start
            problems = self.data_problems
            self.say(closing_line(state.iteration, wall, best, self.best_miou, self.final_miou, last_path, problems))
        return TrainResult(
            state.exit_code, state.iteration, self.best_miou, last_path, best, self.history, state.stopped
        )
