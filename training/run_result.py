"""What a training run returns (``TrainResult``) and where a running one is (``RunState``)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

# a run stopped by a signal exits 128 + its number, the shell's convention
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class TrainResult:
    exit_code: int
    iteration: int
    best_miou: float | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    history: list[dict] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early: "signal SIGTERM", "time limit", ...


@dataclass
class RunState:
    """Where a run is: the iterations done, the checkpoints written, why it stopped (if it did)."""

    iteration: int
    last_path: Path | None = None
    best_path: Path | None = None
    stopped: str | None = None
    exit_code: int = 0
