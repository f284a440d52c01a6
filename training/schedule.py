"""Learning-rate schedule: a warm-up, then the paper's "poly" decay.

lr(it) = base_lr * (1 - it / max_iter) ** 0.9 (paper "Training Settings"). Before it, a warm-up
over ``warmup_iters`` iterations, one of:

- ``"linear"`` (this project's default): the factor rises linearly from ``warmup_ratio`` to 1;
- ``"exponential"`` (official AttaNet ``optimizer.py`` ``Optimizer.get_lr``): for it <= warmup,
  lr = start * (base / start) ** (it / warmup), i.e. the factor is ``warmup_ratio ** (1 - it /
  warmup)`` (official: start 1e-5, base 1e-2, so ``warmup_ratio`` 1e-3, 1000 iterations).

Poly then runs over the remaining iterations: factor (1 - (it - warmup) / (max_iter - warmup))
** power, as ``optimizer.py`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

WARMUP_MODES = ("linear", "exponential")


def poly_lr_factor(
    iteration: int,
    max_iters: int,
    power: float = 0.9,
    warmup_iters: int = 0,
    warmup_ratio: float = 0.1,
    warmup_mode: str = "linear",
) -> float:
    """Multiplier of the base lr at ``iteration`` (0-based)."""
    if warmup_mode not in WARMUP_MODES:
        raise ValueError(f"warmup_mode must be one of {', '.join(WARMUP_MODES)}; got {warmup_mode!r}")
    if warmup_mode == "exponential" and iteration <= warmup_iters and warmup_iters > 0:
        if not warmup_ratio > 0:
            raise ValueError(f"an exponential warm-up needs warmup_ratio > 0 (start lr / lr), got {warmup_ratio}")
        return warmup_ratio ** (1 - iteration / warmup_iters)
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        return warmup_ratio * (1 - alpha) + alpha
    span = max(max_iters - warmup_iters, 1)
    progress = min(max(iteration - warmup_iters, 0) / span, 1.0)
    return (1 - progress) ** power


@dataclass
class WarmupPoly:
    """``poly_lr_factor`` with its settings as attributes: LambdaLR saves a callable object's
    ``__dict__`` in its state_dict, so a schedule whose length was changed during the run (a
    wall-time budget re-fitting it) resumes with that length."""

    max_iters: int
    power: float = 0.9
    warmup_iters: int = 0
    warmup_ratio: float = 0.1
    warmup_mode: str = "linear"

    def __post_init__(self) -> None:
        self(0)  # checks the settings now

    def __call__(self, iteration: int) -> float:
        return poly_lr_factor(
            iteration, self.max_iters, self.power, self.warmup_iters, self.warmup_ratio, self.warmup_mode
        )


def warmup_poly_scheduler(optimizer: torch.optim.Optimizer, *settings: Any, **named: Any) -> LambdaLR:
    """A LambdaLR that scales every param group's initial lr (head groups keep their 10x) by a ``WarmupPoly`` of
    ``settings`` (max_iters, power=0.9, warmup_iters=0, warmup_ratio=0.1, warmup_mode="linear")."""
    return LambdaLR(optimizer, [WarmupPoly(*settings, **named) for _ in optimizer.param_groups])


def fitted_warmup(warmup_iters: int, max_iters: int, done: int) -> int:
    """The warm-up of a schedule shortened to ``max_iters`` with ``done`` iterations run: unchanged
    if it is over, else at most a fifth of the schedule, so a short schedule still decays."""
    return min(warmup_iters, max(max_iters // 5, done))


def set_schedule_length(scheduler: LambdaLR, max_iters: int, warmup_iters: int | None = None) -> None:
    """Change the length (and the warm-up, when given) of a ``warmup_poly_scheduler`` schedule in
    place; the next step's lr follows it."""
    for factor in scheduler.lr_lambdas:
        factor.max_iters = max_iters
        if warmup_iters is not None:
            factor.warmup_iters = warmup_iters
