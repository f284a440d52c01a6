"""Feature fusion between the two coarsest backbone levels.

``AttentionFusion`` is the paper's AFM (Figure 4, official code): the projected fine feature
and the raw coarse feature are concatenated, a 1x1 ConvBNReLU mixes them, global average
pooling + 1x1 conv + BN + sigmoid give a per-channel weight alpha, and

    fused = low * (1 - alpha) + Upsample(high * alpha).

Its cost at a 1024x1024 input is 0.336 GMACs (paper Table 3; only the 1x1 convolutions, the
3x3 projections of the two levels belong to the decoder). ``AddFusion`` and ``ConcatFusion``
are the Table 3 ablation baselines.

Every fusion takes ``(low, high_raw, high)``: ``low`` the projected fine level, ``high_raw``
the backbone's coarse output and ``high`` its 3x3 projection. It returns the fused map and the
coarse branch as it entered the sum (the second auxiliary head supervises it).

The official light network (``AttaNet_light.py``) computes alpha from other tensors than the ones
it sums: a 3x3 ConvBNReLU over the two first projections, while the sum takes second projections.
There the network passes ``attend_to`` (the fine level alpha is computed from) and, as
``high_raw``, the projected coarse level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ConvBNReLU


def _upsample_to(x: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="nearest")


class AttentionFusion(nn.Module):
    def __init__(self, low_channels: int, high_channels: int, kernel_size: int = 1) -> None:
        super().__init__()
        # 1x1 in AttaNet.py (AttentionFusionModule(640, 128)), 3x3 in AttaNet_light.py (128 -> 64).
        self.conv = ConvBNReLU(low_channels + high_channels, low_channels, kernel_size=kernel_size)
        self.conv_attention = nn.Conv2d(low_channels, low_channels, kernel_size=1, bias=False)
        self.bn_attention = nn.BatchNorm2d(low_channels)

    def attention(self, low: Tensor, high_raw: Tensor) -> Tensor:
        """alpha: B x C x 1 x 1, the weight of the coarse level for each channel."""
        mixed = self.conv(torch.cat([low, _upsample_to(high_raw, low)], dim=1))
        pooled = mixed.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.bn_attention(self.conv_attention(pooled)))

    def forward(
        self, low: Tensor, high_raw: Tensor, high: Tensor, attend_to: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        alpha = self.attention(low if attend_to is None else attend_to, high_raw)
        high_up = _upsample_to(high * alpha, low)
        return low * (1 - alpha) + high_up, high_up


class AddFusion(nn.Module):
    """Ablation baseline: fused = low + Upsample(high)."""

    def forward(
        self, low: Tensor, high_raw: Tensor, high: Tensor, attend_to: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        high_up = _upsample_to(high, low)
        return low + high_up, high_up


class ConcatFusion(nn.Module):
    """Ablation baseline: a 1x1 ConvBNReLU over [low, Upsample(high_raw)]."""

    def __init__(self, low_channels: int, high_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(low_channels + high_channels, low_channels, kernel_size=1)

    def forward(
        self, low: Tensor, high_raw: Tensor, high: Tensor, attend_to: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        return self.conv(torch.cat([low, _upsample_to(high_raw, low)], dim=1)), _upsample_to(high, low)


def build_fusion(kind: str, low_channels: int, high_channels: int, kernel_size: int = 1) -> nn.Module:
    """``kernel_size`` is AFM's mixing convolution (1 in AttaNet.py, 3 in AttaNet_light.py)."""
    if kind == "attention":
        return AttentionFusion(low_channels, high_channels, kernel_size)
    if kind == "add":
        return AddFusion()
    if kind == "concat":
        return ConcatFusion(low_channels, high_channels)
    raise ValueError(f"fusion must be one of 'attention', 'add', 'concat'; got {kind!r}")
