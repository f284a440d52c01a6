"""Learning-rate schedule: linear warm-up, then the paper's "poly" decay.

lr(it) = base_lr * (1 - it / max_iter) ** 0.9 (paper "Training Settings"); the official code
warms up first (BiSeNet ``WarmupPolyLrScheduler``): the factor rises linearly from
``warmup_ratio`` to 1 over ``warmup_iters``, and poly runs over the remaining iterations.
"""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR


def poly_lr_factor(
    iteration: int, max_iters: int, power: float = 0.9, warmup_iters: int = 0, warmup_ratio: float = 0.1
) -> float:
    """Multiplier of the base lr at ``iteration`` (0-based)."""
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        return warmup_ratio * (1 - alpha) + alpha
    span = max(max_iters - warmup_iters, 1)
    progress = min(max(iteration - warmup_iters, 0) / span, 1.0)
    return (1 - progress) ** power


def warmup_poly_scheduler(
    optimizer: torch.optim.Optimizer,
    max_iters: int,
    power: float = 0.9,
    warmup_iters: int = 0,
    warmup_ratio: float = 0.1,
) -> LambdaLR:
    """A LambdaLR that scales every param group's initial lr (head groups keep their 10x)."""
    return LambdaLR(optimizer, lambda it: poly_lr_factor(it, max_iters, power, warmup_iters, warmup_ratio))
