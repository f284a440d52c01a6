"""SGD with the official code's four parameter groups.

Weight decay 5e-4 applies to convolution weights only (not to norms or biases); the decoder and
heads (everything outside the backbone) learn at 10x the base lr, since they start from scratch
while the backbone starts from ImageNet (official AttaNet ``get_params``/``Optimizer``).
"""

from __future__ import annotations

import torch
from torch import nn


def param_groups(model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float = 10.0) -> list[dict]:
    groups = {
        "backbone": {"params": [], "lr": lr, "weight_decay": weight_decay},
        "backbone_no_decay": {"params": [], "lr": lr, "weight_decay": 0.0},
        "head": {"params": [], "lr": lr * head_lr_mult, "weight_decay": weight_decay},
        "head_no_decay": {"params": [], "lr": lr * head_lr_mult, "weight_decay": 0.0},
    }
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        where = "backbone" if name.removeprefix("module.").startswith("backbone.") else "head"
        no_decay = param.ndim <= 1  # norm scales/shifts and biases
        groups[where + ("_no_decay" if no_decay else "")]["params"].append(param)
    return [dict(g, name=k) for k, g in groups.items() if g["params"]]


def build_sgd(
    model: nn.Module, lr: float = 1e-2, momentum: float = 0.9, weight_decay: float = 5e-4, head_lr_mult: float = 10.0
) -> torch.optim.SGD:
    return torch.optim.SGD(param_groups(model, lr, weight_decay, head_lr_mult), lr=lr, momentum=momentum)
