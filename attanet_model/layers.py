"""Small building blocks shared by the backbones, AttaNet's modules and the heads."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU, the unit every AttaNet module is made of."""

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


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution before it, in place, for inference.

    y = gamma * (W x + b - mean) / sqrt(var + eps) + beta is again a convolution: W' = W * s,
    b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps). The BatchNorm becomes an
    Identity, so a layer costs one kernel and one pass over memory instead of two. A pair is
    folded where a Conv2d is registered immediately before a BatchNorm2d of its width, which in
    this package's modules (ConvBNReLU, torchvision's ResNet blocks, AFM) is exactly where the
    forward applies one to the other's output. Returns ``model``; training it afterwards is wrong.
    """
    if model.training:
        raise ValueError("fold_batchnorm is for inference: call model.eval() first")
    for parent in model.modules():
        children = list(parent.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
                continue
            if conv.out_channels != bn.num_features or not bn.track_running_stats:
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight.mul_(scale.view(-1, 1, 1, 1).to(conv.weight.dtype))
            conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
            setattr(parent, bn_name, nn.Identity())
    return model
