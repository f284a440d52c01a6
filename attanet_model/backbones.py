"""Backbones: ResNet-18/50/101 in torchvision's layout and the paper's light 8-conv network.

Every backbone returns ``BackboneFeatures``, its maps named by the role the decoder gives them:

- ``aux``  the feature the first auxiliary head supervises (res3 for ResNets),
- ``low``  the finer of the two levels AFM fuses (res4, 1/16 for ResNets),
- ``high`` the coarser level (res5, 1/32 for ResNets),
- ``fine`` the 1/8 feature whose grid the logits are refined on (res3 for ResNets, the light
  backbone's 1/8 level, which is also its ``low``),

and advertises the channels of the first three (``FeatureChannels``), so the AttaNet head can be
built for any of them.
ResNet parameter names match ``torchvision.models.resnet`` exactly, so an ImageNet state dict
from torchvision loads with strict key matching once its ``fc.*`` entries are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from .layers import ConvBNReLU, state_dict_mismatch


@dataclass(frozen=True)
class BackboneFeatures:
    """A backbone's output, named by role (see the module docstring)."""

    aux: Tensor
    low: Tensor
    high: Tensor
    fine: Tensor


@dataclass(frozen=True)
class FeatureChannels:
    """Channels of ``BackboneFeatures.aux``, ``.low`` and ``.high``."""

    aux: int
    low: int
    high: int


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _conv_bn_pairs(convs: int) -> tuple[tuple[str, str], ...]:
    """What fold_batchnorm fuses in a residual block: ``conv<i>``/``bn<i>`` for i in 1..convs, and
    ``downsample.0``/``downsample.1`` (that pair only exists when the block has a downsample)."""
    return (*((f"conv{i}", f"bn{i}") for i in range(1, convs + 1)), ("downsample.0", "downsample.1"))


class BasicBlock(nn.Module):
    expansion = 1
    conv_bn_pairs = _conv_bn_pairs(2)  # conv1/bn1, conv2/bn2 and the downsample pair

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""

    expansion = 4
    conv_bn_pairs = _conv_bn_pairs(3)  # conv1/bn1 .. conv3/bn3 and the downsample pair

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet without its classifier; returns res3 (1/8, ``aux`` and ``fine``), res4 (1/16,
    ``low``) and res5 (1/32, ``high``)."""

    conv_bn_pairs: ClassVar[tuple[tuple[str, str], ...]] = (("conv1", "bn1"),)

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int]) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        e = block.expansion
        self.channels = FeatureChannels(aux=128 * e, low=256 * e, high=512 * e)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> BackboneFeatures:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        res3 = self.layer2(x)
        res4 = self.layer3(res3)
        res5 = self.layer4(res4)
        return BackboneFeatures(aux=res3, low=res4, high=res5, fine=res3)


class LightBackbone(nn.Module):
    """The paper's 180 FPS backbone: eight stacked ConvBNReLU layers (official ``light.py``).

    Its 1/8 feature (64 ch) and 1/16 feature (128 ch) are the two levels AFM fuses. The first
    auxiliary head reads the 1/16 feature, or with ``aux_from_penultimate`` the output of the
    stage's second convolution (official ``light.py`` ``Branch.forward`` returns it, ``feat``,
    and ``AttaNet_light.py`` supervises it with ``conv_out2``).
    """

    def __init__(self, aux_from_penultimate: bool = False) -> None:
        super().__init__()
        self.aux_from_penultimate = aux_from_penultimate
        self.stage1 = nn.Sequential(ConvBNReLU(3, 32, 7, stride=2), ConvBNReLU(32, 64, 3, stride=2))
        self.stage2 = nn.Sequential(ConvBNReLU(64, 64, 3, stride=2), ConvBNReLU(64, 64), ConvBNReLU(64, 64))
        self.stage3 = nn.Sequential(ConvBNReLU(64, 128, 3, stride=2), ConvBNReLU(128, 128), ConvBNReLU(128, 128))
        self.channels = FeatureChannels(aux=128, low=64, high=128)

    def forward(self, x: Tensor) -> BackboneFeatures:
        feat8 = self.stage2(self.stage1(x))
        if not self.aux_from_penultimate:
            feat16 = self.stage3(feat8)
            return BackboneFeatures(aux=feat16, low=feat8, high=feat16, fine=feat8)
        penultimate = self.stage3[1](self.stage3[0](feat8))
        return BackboneFeatures(aux=penultimate, low=feat8, high=self.stage3[2](penultimate), fine=feat8)


def resnet18() -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2])


def resnet50() -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3])


def resnet101() -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3])


def load_imagenet_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a torchvision ImageNet state dict (``.pth``) into a ResNet backbone.

    The classifier (``fc.*``) is dropped; every other key must match, so a file for another
    depth (say ResNet-50 weights into ResNet-18) fails here with the offending keys named.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip / pickle errors carry no hint of the file
        raise ValueError(f"cannot read pretrained weights {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}
    missing, unexpected, wrong = state_dict_mismatch(backbone.state_dict(), state)
    if missing or unexpected or wrong:
        raise ValueError(
            f"pretrained weights {path} do not fit the backbone ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape; e.g. "
            f"{(missing + unexpected + wrong)[:3]}); is it a torchvision ResNet of the same depth?"
        )
    backbone.load_state_dict(state)
