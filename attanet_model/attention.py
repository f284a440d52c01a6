"""Strip Attention Module (SAM), paper Figure 3.

Given F (C x H x W): a 1x1 conv gives the per-pixel query Q (C' x N, N = H*W); a 1x1 conv
followed by the Striping operation (mean over H, an H x 1 average pool) gives W key strips
K (C' x W) and, likewise, W value strips V (C x W). The Affinity operation is a softmax over
the W strips for every pixel,

    A[j, i] = exp(Q_j . K_i) / sum_i exp(Q_j . K_i)          (A is N x W)

and the output is F'_j = sum_i A[j, i] V_i + F_j (residual add, no learned gamma), as in the
official code. Cost at 1x128x64x64 (a 1024x1024 input): 0.185 GMACs, paper Table 3.

Horizontal striping (mean over W, attention over H strips) is the same module applied to the
transposed feature map.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import ConvBNReLU


class StripAttention(nn.Module):
    def __init__(self, channels: int, key_channels: int = 64, direction: str = "vertical") -> None:
        super().__init__()
        if direction not in ("vertical", "horizontal"):
            raise ValueError(f"SAM direction must be 'vertical' or 'horizontal', got {direction!r}")
        self.direction = direction
        self.query = ConvBNReLU(channels, key_channels, kernel_size=1)
        self.key = ConvBNReLU(channels, key_channels, kernel_size=1)
        self.value = ConvBNReLU(channels, channels, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (F', A) with A of shape B x N x S: each pixel's weights over the S strips."""
        if self.direction == "horizontal":
            out, attention = self._strip_attention(x.transpose(2, 3))
            return out.transpose(2, 3), attention
        return self._strip_attention(x)

    def _strip_attention(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, c, h, w = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)  # B x N x C'
        key = self.key(x).mean(dim=2)  # Striping: B x C' x W
        value = self.value(x).mean(dim=2)  # B x C x W
        # Affinity in fp32 even under fp16/bf16 autocast: the softmax over a few dozen strips
        # is where half precision flips labels (>= 99.5% fp16/fp32 label agreement is the aim).
        # fp64 stays fp64 (the reference comparisons run there).
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                attention = torch.softmax(torch.bmm(query.to(dtype), key.to(dtype)), dim=-1)
        else:
            attention = torch.softmax(torch.bmm(query.to(dtype), key.to(dtype)), dim=-1)  # B x N x W
        context = torch.bmm(value, attention.to(value.dtype).transpose(1, 2))  # B x C x N
        return x + context.view(b, c, h, w), attention
