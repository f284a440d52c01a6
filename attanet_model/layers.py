"""Small building blocks shared by the backbones, AttaNet's modules and the heads."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU, the unit every AttaNet module is made of."""

    # fold_batchnorm fuses its own conv (child 0) and BatchNorm (child 1)
    conv_bn_pairs: ClassVar[tuple[tuple[str, str], ...]] = (("0", "1"),)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def state_dict_mismatch(reference: dict[str, Tensor], state: dict[str, Tensor]) -> tuple[list, list, list]:
    """(missing keys, unexpected keys, "key (shape) vs (shape)" for wrong shapes) of ``state``."""
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in reference.items()
        if k in state and state[k].shape != v.shape
    ]
    return missing, unexpected, wrong


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """Every (conv, BatchNorm) pair ``model``'s modules declare, as full module names.

    A module declares what it fuses in a ``conv_bn_pairs`` class attribute of child paths
    relative to itself (torchvision ``models/quantization/resnet.py`` ``fuse_model`` names its
    pairs the same way); a declared path the module does not have (a ResNet block without a
    downsample) is skipped.
    """
    pairs = []
    for prefix, module in model.named_modules():
        for conv_path, bn_path in getattr(type(module), "conv_bn_pairs", ()):
            conv_name, bn_name = (f"{prefix}.{p}" if prefix else p for p in (conv_path, bn_path))
            try:
                model.get_submodule(conv_name), model.get_submodule(bn_name)
            except AttributeError:
                continue
            pairs.append((conv_name, bn_name))
    return pairs


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every declared (conv, BatchNorm) pair of an eval-mode model, in place, for inference.

    y = gamma * (W x + b - mean) / sqrt(var + eps) + beta is again a convolution: W' = W * s,
    b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps). The BatchNorm becomes an
    Identity, so a layer costs one kernel and one pass over memory instead of two. The pairs are
    the ones the modules name (``conv_bn_pairs``), never guessed from registration order; a
    BatchNorm no module lists, or a pair that does not fit, raises ``ValueError`` naming it before
    anything is changed; pairs folded before are left as they are. Returns ``model``; training it afterwards is wrong.
    """
    if model.training:
        raise ValueError("fold_batchnorm is for inference: call model.eval() first")
    modules = dict(model.named_modules())
    # a pair whose BatchNorm is already an Identity was folded before: folding is idempotent
    pairs = [(conv, bn) for conv, bn in conv_bn_pairs(model) if not isinstance(modules[bn], nn.Identity)]
    problems = []
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
            problems.append(f"{conv_name} + {bn_name} is {type(conv).__name__} + {type(bn).__name__}")
        elif conv.out_channels != bn.num_features or not bn.track_running_stats:
            problems.append(f"{conv_name} ({conv.out_channels} ch) + {bn_name} ({bn.num_features}, running stats)")
    listed = {bn_name for _, bn_name in pairs}
    unlisted = [name for name, m in modules.items() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    unlisted = [name for name in unlisted if name not in listed]
    if unlisted:
        problems.append(f"BatchNorm layers no module lists in conv_bn_pairs: {', '.join(unlisted[:6])}")
    if problems:
        raise ValueError(f"fold_batchnorm cannot fold {type(model).__name__}: {'; '.join(problems)}")
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.mul_(scale.view(-1, 1, 1, 1).to(conv.weight.dtype))
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
        parent_name, _, child = bn_name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, nn.Identity())
    return model
