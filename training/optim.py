"""SGD with the official code's four parameter groups.

Weight decay 5e-4 applies to convolution weights only (not to norms or biases), as the official
``get_params`` methods split them. Which parameters learn at ``head_lr_mult`` x the base lr:

- ``"output_heads"`` (official AttaNet ``AttaNet.get_params`` + ``optimizer.py``): the three
  output modules only (``AttaNetOutput``: here ``head``, ``aux_head_res3``, ``aux_head_afm``);
- ``"decoder"`` (this project's default): everything outside the backbone, since the whole
  decoder starts from scratch while the backbone starts from ImageNet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attanet_model.network import AUX_HEADS

from .config import TrainConfig
from .ohem_loss import DeepSupervisionLoss, OhemCrossEntropy
from .schedule import warmup_poly_scheduler

HEAD_LR_SCOPES = ("decoder", "output_heads")
OUTPUT_HEADS = ("head", *AUX_HEADS)


def _fast(name: str, scope: str) -> bool:
    top = name.removeprefix("module.").split(".", 1)[0]
    return top in OUTPUT_HEADS if scope == "output_heads" else top != "backbone"


def param_groups(
    model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float = 10.0, head_lr_scope: str = "decoder"
) -> list[dict]:
    if head_lr_scope not in HEAD_LR_SCOPES:
        raise ValueError(f"head_lr_scope must be one of {', '.join(HEAD_LR_SCOPES)}; got {head_lr_scope!r}")
    slow = "backbone" if head_lr_scope == "decoder" else "base"
    groups = {
        slow: {"params": [], "lr": lr, "weight_decay": weight_decay},
        slow + "_no_decay": {"params": [], "lr": lr, "weight_decay": 0.0},
        "head": {"params": [], "lr": lr * head_lr_mult, "weight_decay": weight_decay},
        "head_no_decay": {"params": [], "lr": lr * head_lr_mult, "weight_decay": 0.0},
    }
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        where = "head" if _fast(name, head_lr_scope) else slow
        no_decay = param.ndim <= 1  # norm scales/shifts and biases
        groups[where + ("_no_decay" if no_decay else "")]["params"].append(param)
    return [dict(g, name=k) for k, g in groups.items() if g["params"]]


def build_sgd(
    model: nn.Module,
    lr: float = 1e-2,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    head_lr_mult: float = 10.0,
    head_lr_scope: str = "decoder",
) -> torch.optim.SGD:
    groups = param_groups(model, lr, weight_decay, head_lr_mult, head_lr_scope)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum)


@dataclass
class TrainingParts:
    """What a run trains ``model`` with: SGD, the warm-up + poly schedule, the OHEM loss on the
    output and aux heads, and the GradScaler (enabled with AMP, which needs CUDA)."""

    optimizer: torch.optim.SGD
    scheduler: torch.optim.lr_scheduler.LRScheduler
    criterion: DeepSupervisionLoss
    scaler: torch.amp.GradScaler
    amp: bool

    @classmethod
    def for_model(cls, model: nn.Module, cfg: TrainConfig, cuda: bool) -> TrainingParts:
        optimizer = build_sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.head_lr_mult, cfg.head_lr_scope)
        scheduler = warmup_poly_scheduler(
            optimizer, cfg.iterations, cfg.poly_power, cfg.warmup_iters, cfg.warmup_ratio, cfg.warmup_mode
        )
        ohem = OhemCrossEntropy(cfg.ohem_thresh, cfg.ohem_min_kept, min_kept_pixels=cfg.ohem_min_kept_pixels)
        amp = cuda and cfg.amp
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        return cls(optimizer, scheduler, DeepSupervisionLoss(ohem, cfg.aux_weight), scaler, amp)
