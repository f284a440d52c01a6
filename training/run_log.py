"""What a training run records as it goes: each record as a line of ``log.jsonl`` (whole or not at
all), on stdout and as TensorBoard scalars, and every bad data file it meets, reported once.

Rank 0 alone writes; the other ranks' records are dropped, so one run has one log.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import TrainConfig
from .run_errors import writing
from .run_folder import append_line, clean_run_folder
from .scalar_log import ScalarLog


@dataclass
class LogWindow:
    """The iterations since the last log record, which it averages over."""

    loss_sum: float = 0.0
    iterations: int = 0
    data_wait_s: float = 0.0
    started: float = field(default_factory=time.time)

    def add(self, loss: float) -> None:
        self.loss_sum += loss
        self.iterations += 1

    def record(
        self, iteration: int, values: dict[str, float], lr: float, cfg: TrainConfig, deadline: float, bad_files: int
    ) -> dict:
        """The window's log record: the loss averaged over it, the last iteration's loss parts and
        lr, the speed and the share of time spent waiting for data."""
        elapsed = time.time() - self.started
        img_s = self.iterations * cfg.batch_size / max(elapsed, 1e-9)
        parts = {k: v for k, v in values.items() if k != "loss"}
        schedule_left = (cfg.iterations - iteration) * elapsed / max(self.iterations, 1)
        record = {
            "iter": iteration,
            "loss": self.loss_sum / self.iterations,
            **parts,
            "lr": lr,
            "img_s": round(img_s, 2),
            "data_wait": round(self.data_wait_s / max(elapsed, 1e-9), 3),
            # the schedule's end at this window's speed, or the time limit when that comes first
            "eta_s": round(max(min(schedule_left, deadline - time.time()), 0.0), 1),
        }
        if bad_files:
            record["bad_data_files"] = bad_files
        return record


class RunLog:
    """The records of one run into ``out_dir``; ``say`` tells the user one line (rank 0)."""

    def __init__(self, out_dir: Path, is_main: bool, log_stdout: bool, say: Callable[[str], None]) -> None:
        self.out_dir, self.is_main, self.log_stdout, self.say = out_dir, is_main, log_stdout, say
        self.history: list[dict] = []
        self.data_problems: dict[str, dict] = {}  # file -> its problem, each reported once
        self.scalars: ScalarLog | None = None

    def write(self, record: dict) -> None:
        """One record: a line of log.jsonl (whole or not at all), stdout, TensorBoard (rank 0)."""
        if not self.is_main:
            return
        line = json.dumps(record)
        with writing("log.jsonl", self.out_dir):
            append_line(self.out_dir / "log.jsonl", line)
        self.history.append(record)
        if self.log_stdout:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        if self.scalars is not None:
            self.scalars.write(record)

    def begin(self, resumed_at: int | None) -> None:
        """Before the first record (rank 0): the run folder, without the leftovers of an interrupted
        write; when resumed (``resumed_at``: the checkpoint's iteration) the log cut back to it, the
        bad files met before it counted."""
        with writing("the run folder", self.out_dir):
            self.out_dir.mkdir(parents=True, exist_ok=True)
        with writing("log.jsonl", self.out_dir):
            self.data_problems.update(clean_run_folder(self.out_dir, resumed_at, self.say))

    def open_scalars(self, resumed_at: int | None) -> None:
        """The TensorBoard writer. A resumed run rewrites the steps after its checkpoint: purge_step
        hides the ones the interrupted run had already written, so no scalar appears twice."""
        purge = resumed_at + 1 if resumed_at is not None else None
        self.scalars = ScalarLog.open(self.out_dir / "tensorboard", purge_step=purge)

    def close_scalars(self) -> None:
        if self.scalars is not None:
            self.scalars.close()
            self.scalars = None

    def report_problems(self, notes: list[str], iteration: int, strict: bool = False) -> dict | None:
        """Say and log each problem file once (``notes``: the batch's JSON problem lists); return the
        first problem of this batch when ``strict`` (the run then stops before training on it)."""
        first = None
        for note in notes:
            for problem in json.loads(note) if note else []:
                first = first or problem
                if problem["file"] in self.data_problems:
                    continue
                self.data_problems[problem["file"]] = problem
                if not strict:
                    what = "skipped (the next readable sample takes its place)" if problem["skipped"] else "used"
                    self.say(f"bad data: {problem['file']}: {problem['reason']}; {what}")
                self.write({"iter": iteration, "bad_data": problem})
        return first if strict else None
