"""A transcription of the two official AttaNet networks, with the official attribute names.

Written for these tests from reading github.com/songqi-github/AttaNet (not imported from it: it
needs apex and CUDA). Each class says which official file and class it transcribes. Only the
forward computation and the parameter names matter here; initialisation and ``get_params``
are left out. The state dict of ``OfficialAttaNet`` therefore has the keys ``train.py`` saves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBNReLU(nn.Module):
    """AttaNet.py / AttaNet_light.py / light.py ``ConvBNReLU``: children conv, bn, relu."""

    def __init__(self, cin: int, cout: int, ks: int = 3, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ks, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class AttaNetOutput(nn.Module):
    """``AttaNetOutput``: AttaNet.py has Dropout2d(0.1) between conv and conv_out,
    AttaNet_light.py has none."""

    def __init__(self, cin: int, mid: int, n_classes: int, dropout: bool) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3, 1, 1)
        self.dropout = nn.Dropout2d(0.1) if dropout else nn.Identity()
        self.conv_out = nn.Conv2d(mid, n_classes, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(self.dropout(self.conv(x)))


class StripAttentionModule(nn.Module):
    """``StripAttentionModule``: conv1's output is pooled over H (the official code calls it q),
    conv2's stays per pixel (k); softmax over dim 1, the W strips."""

    def __init__(self, cin: int, cout: int, mid: int = 64) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(cin, mid, 1, 1, 0)
        self.conv2 = ConvBNReLU(cin, mid, 1, 1, 0)
        self.conv3 = ConvBNReLU(cin, cout, 1, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        q = self.conv1(x)
        b, c, h, w = q.shape
        q = F.avg_pool2d(q, [h, 1]).view(b, c, -1).permute(0, 2, 1)  # B x W x C'
        k = self.conv2(x).view(b, c, -1)  # B x C' x N
        attention = torch.softmax(torch.bmm(q, k), dim=1)  # B x W x N
        v = self.conv3(x)
        v = F.avg_pool2d(v, [h, 1]).view(b, v.shape[1], -1)  # B x C x W
        return x + torch.bmm(v, attention).view(b, v.shape[1], h, w)


class AttentionFusionModule(nn.Module):
    """``AttentionFusionModule``: ks 1 (AttaNet.py, 640 -> 128) or 3 (AttaNet_light.py, 128 -> 64)."""

    def __init__(self, cin: int, cout: int, ks: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, ks, 1, ks // 2)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, feat16: Tensor, feat32: Tensor) -> Tensor:
        up = F.interpolate(feat32, feat16.shape[2:], mode="nearest")
        feat = self.conv(torch.cat([feat16, up], dim=1))
        atten = F.avg_pool2d(feat, feat.shape[2:])
        return torch.sigmoid(self.bn_atten(self.conv_atten(atten)))


class BasicBlock(nn.Module):
    """backbone.py ``BasicBlock`` (torchvision's)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """backbone.py ``ResNet`` with [2, 2, 2, 2] BasicBlocks, ``fc`` kept (train.py saves it)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        feat8 = self.layer2(x)
        feat16 = self.layer3(feat8)
        return feat8, feat16, self.layer4(feat16)


class Branch(nn.Module):
    """light.py ``Branch``: returns (feat8, feat16, S3_2's output)."""

    def __init__(self) -> None:
        super().__init__()
        self.S1_1 = ConvBNReLU(3, 32, 7, 2, 3)
        self.S1_2 = ConvBNReLU(32, 64, 3, 2)
        self.S2_1 = ConvBNReLU(64, 64, 3, 2)
        self.S2_2 = ConvBNReLU(64, 64)
        self.S2_3 = ConvBNReLU(64, 64)
        self.S3_1 = ConvBNReLU(64, 128, 3, 2)
        self.S3_2 = ConvBNReLU(128, 128)
        self.S3_3 = ConvBNReLU(128, 128)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        feat8 = self.S2_3(self.S2_2(self.S2_1(self.S1_2(self.S1_1(x)))))
        feat = self.S3_2(self.S3_1(feat8))
        return feat8, self.S3_3(feat), feat


class LightBackbone(nn.Module):
    """light.py ``Backbone``: a ``branch`` child."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = Branch()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.branch(x)


class AttaNetHeadR18(nn.Module):
    """AttaNet.py ``AttaNetHead``: returns (1/8 decoder output, feat32_up, feat8)."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18()
        self.afm = AttentionFusionModule(640, 128, ks=1)
        self.conv_head32 = ConvBNReLU(512, 128)
        self.conv_head16 = ConvBNReLU(256, 128)
        self.conv_head1 = ConvBNReLU(128, 128)
        self.sam = StripAttentionModule(128, 128)
        self.conv_head2 = ConvBNReLU(128, 128)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        feat16 = self.conv_head16(feat16)
        atten = self.afm(feat16, feat32)
        feat32 = self.conv_head32(feat32) * atten
        feat32_up = F.interpolate(feat32, feat16.shape[2:], mode="nearest")
        fused = self.sam(self.conv_head1(feat16 * (1 - atten) + feat32_up))
        out = self.conv_head2(F.interpolate(fused, feat8.shape[2:], mode="nearest"))
        return out, feat32_up, feat8


class AttaNetHeadLight(nn.Module):
    """AttaNet_light.py ``AttaNetHead``: returns (1/8 decoder output, feat16_up, S3_2's output)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = LightBackbone()
        self.afm = AttentionFusionModule(128, 64, ks=3)
        self.conv_head8 = ConvBNReLU(64, 64)
        self.conv_head16 = ConvBNReLU(128, 64)
        self.conv_head81 = ConvBNReLU(64, 64)
        self.conv_head161 = ConvBNReLU(64, 64)
        self.conv_head1 = ConvBNReLU(64, 64)
        self.sam = StripAttentionModule(64, 64)
        self.conv_head2 = ConvBNReLU(64, 64)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        feat8, feat16, feat = self.backbone(x)
        feat16 = self.conv_head16(feat16)
        feat8 = self.conv_head8(feat8)
        atten = self.afm(feat8, feat16)
        feat16 = self.conv_head161(feat16) * atten
        feat16_up = F.interpolate(feat16, feat8.shape[2:], mode="nearest")
        feat8 = self.conv_head81(feat8) * (1 - atten)
        out = self.conv_head2(self.sam(self.conv_head1(feat16_up + feat8)))
        return out, feat16_up, feat


class OfficialAttaNet(nn.Module):
    """``AttaNet`` of AttaNet.py (``light=False``) or AttaNet_light.py (``light=True``).

    Returns (out, aux1, aux2) at the input size in train and eval mode, as the official code does.
    """

    def __init__(self, n_classes: int, light: bool) -> None:
        super().__init__()
        c = 64 if light else 128
        self.head = AttaNetHeadLight() if light else AttaNetHeadR18()
        self.conv_out = AttaNetOutput(c, c, n_classes, dropout=not light)
        self.conv_out1 = AttaNetOutput(c, 64, n_classes, dropout=not light)
        self.conv_out2 = AttaNetOutput(128, 64, n_classes, dropout=not light)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        size = x.shape[2:]
        out, aux1, aux2 = self.head(x)
        heads = (self.conv_out(out), self.conv_out1(aux1), self.conv_out2(aux2))
        return tuple(F.interpolate(h, size, mode="bilinear", align_corners=True) for h in heads)


@torch.no_grad()
def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and BatchNorm statistics far from their defaults, so that a miswired or
    swapped tensor changes the output (an identity BN or a zero-mean input hides mistakes)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(0.4 + 0.5 * torch.rand(n, generator=g))
            m.bias.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=g)))
    for m in model.modules():
        if isinstance(m, AttaNetOutput):
            m.conv_out.weight.mul_(10.0)  # logits of order 10, so that label flips are visible
    return model
