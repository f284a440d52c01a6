"""AttaNet (Song, Mei, Huang, AAAI 2021), paper Figure 2, and the architecture registry.

Two decoders, each following one file of the official code (github.com/songqi-github/AttaNet):

``decoder="attanet"`` (``AttaNet.py``, the ResNet models): the fine level (res4) and the coarse
level (res5) are projected by 3x3 ConvBNReLUs to ``head_channels``; AFM computes alpha from the
projected fine level and the *raw* coarse level (a 1x1 ConvBNReLU over 640 channels) and fuses
the projections; a 3x3 ConvBNReLU smooths the sum; SAM adds column context; the result is
upsampled (nearest) to 1/8, refined by a 3x3 ConvBNReLU and classified. In training two
auxiliary heads supervise res3 and the alpha-weighted res5 branch (deep supervision, K = 2).

``forward`` returns one ``SegmentationOutput`` in training and in eval (torchvision
``models/segmentation/_utils.py`` keeps one named structure the same way): ``logits`` always,
``aux`` (the two auxiliary logits by name) in training mode when the network was built with its
aux heads, ``attention`` (SAM's map) only when asked for. Inference builds (``aux_heads=False``:
Segmenter, export, release) have no aux heads at all, so their checkpoints hold no aux keys.

``decoder="attanet_light"`` (``AttaNet_light.py`` + ``light.py``, the paper's 180 FPS model):
AFM computes alpha with a 3x3 ConvBNReLU over the two *projected* 64-channel levels, then each
level gets a second 3x3 projection (official ``conv_head81`` / ``conv_head161``) before the
alpha-weighted sum; SAM runs at 1/8 (the light backbone's finest fused level); the heads have no
Dropout; the res3-like auxiliary head reads the output of the backbone's ``S3_2`` convolution.

``attanet_light_compact`` is the light backbone under the ResNet decoder: the network this
project shipped as ``attanet_light`` before it followed ``AttaNet_light.py`` (the bundled model
is one). A checkpoint whose ``arch_config`` has no ``decoder`` entry predates the switch and is
built with the ResNet decoder, so every saved model loads as it was trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from .attention import StripAttention
from .backbones import LightBackbone, load_imagenet_weights, resnet18, resnet50, resnet101
from .fusion import build_fusion
from .layers import ConvBNReLU

# The training-only heads, by module (and so state-dict prefix) name: the one list of what an
# inference build leaves out and what loading a training checkpoint for inference drops.
AUX_HEADS = ("aux_head_res3", "aux_head_afm")


def without_aux_heads(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the tensors of the training-only aux heads (``AUX_HEADS``)."""
    return {k: v for k, v in state.items() if k.split(".", 1)[0] not in AUX_HEADS}


@dataclass
class SegmentationOutput:
    """What ``AttaNet.forward`` returns, in training and in eval.

    ``logits``: B x K x H x W at the input's size. ``aux``: in training mode with aux heads, the
    auxiliary logits at the input's size by head, ``{"res3": ..., "afm": ...}`` (paper Eq. 6's
    l_1, l_2 in that order), else None. ``attention``: with ``return_attention``, SAM's
    B x N x S map (None when SAM is switched off), else None.
    """

    logits: Tensor
    aux: dict[str, Tensor] | None = None
    attention: Tensor | None = None


class SegmentationHead(nn.Sequential):
    """3x3 ConvBNReLU -> Dropout2d -> 1x1 classifier (official ``AttaNetOutput``).

    ``AttaNet.py`` has Dropout2d(0.1) there, ``AttaNet_light.py`` none (``dropout=0``: an
    Identity keeps the classifier at index 2, so state-dict names do not depend on it).
    """

    def __init__(self, in_channels: int, mid_channels: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__(
            ConvBNReLU(in_channels, mid_channels, 3),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(mid_channels, num_classes, kernel_size=1, bias=False),
        )


@dataclass(frozen=True)
class ArchConfig:
    """Everything that decides the network's shape; stored in checkpoints."""

    backbone: str = "resnet18"
    head_channels: int = 128
    sam_key_channels: int = 64
    aux_channels: int = 64
    use_sam: bool = True
    sam_direction: str = "vertical"
    fusion: str = "attention"
    # "attanet" (official AttaNet.py) or "attanet_light" (AttaNet_light.py); see the module doc.
    # The default is what checkpoints written before this field existed were built with.
    decoder: str = "attanet"

    def to_dict(self) -> dict:
        return asdict(self)


BACKBONES: dict[str, Callable[[], nn.Module]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "light": LightBackbone,
}

ARCHS: dict[str, ArchConfig] = {
    "attanet_r18": ArchConfig("resnet18"),
    "attanet_r50": ArchConfig("resnet50"),
    "attanet_r101": ArchConfig("resnet101"),
    "attanet_light": ArchConfig("light", head_channels=64, decoder="attanet_light"),
    "attanet_light_compact": ArchConfig("light", head_channels=64),
}
DECODERS = ("attanet", "attanet_light")


class AttaNet(nn.Module):
    def __init__(self, config: ArchConfig, num_classes: int = 19, aux_heads: bool = True) -> None:
        super().__init__()
        if config.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {config.backbone!r}; known: {', '.join(BACKBONES)}")
        if config.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {config.decoder!r}; known: {', '.join(DECODERS)}")
        light = config.decoder == "attanet_light"
        if light and config.backbone != "light":
            raise ValueError(f"decoder 'attanet_light' needs the light backbone, got {config.backbone!r}")
        self.config = config
        self.num_classes = num_classes
        c = config.head_channels
        # light.py Branch.forward returns S3_2's output as its third feature, which
        # AttaNet_light.py feeds to conv_out2; the compact variant supervised S3_3 instead.
        self.backbone = LightBackbone(aux_from_penultimate=True) if light else BACKBONES[config.backbone]()
        channels = self.backbone.channels
        low_ch, high_ch = channels.low, channels.high
        self.conv_low = ConvBNReLU(low_ch, c, 3)
        self.conv_high = ConvBNReLU(high_ch, c, 3)
        if light:
            # AttaNet_light.py AttaNetHead: afm = AttentionFusionModule(128, 64) with a 3x3 conv
            # over [conv_head8(feat8), conv_head16(feat16)], then conv_head81 / conv_head161.
            self.afm = build_fusion(config.fusion, c, c, kernel_size=3)
            self.conv_low2 = ConvBNReLU(c, c, 3)
            self.conv_high2 = ConvBNReLU(c, c, 3)
        else:
            self.afm = build_fusion(config.fusion, c, high_ch)
            self.conv_low2 = self.conv_high2 = None
        self.smooth = ConvBNReLU(c, c, 3)
        self.sam = StripAttention(c, config.sam_key_channels, config.sam_direction) if config.use_sam else None
        self.refine = ConvBNReLU(c, c, 3)
        dropout = 0.0 if light else 0.1
        self.head = SegmentationHead(c, c, num_classes, dropout)
        self.aux_head_res3 = self.aux_head_afm = None
        if aux_heads:
            self.aux_head_res3 = SegmentationHead(channels.aux, config.aux_channels, num_classes, dropout)
            self.aux_head_afm = SegmentationHead(c, config.aux_channels, num_classes, dropout)

    @property
    def has_aux_heads(self) -> bool:
        return self.aux_head_res3 is not None

    def forward(self, x: Tensor, return_attention: bool = False) -> SegmentationOutput:
        """One ``SegmentationOutput`` in training and eval; see its docstring for when ``aux``
        and ``attention`` are filled."""
        size = x.shape[2:]
        coarse, feats, high_weighted, attention = self._decode(x)
        logits = _upsample(coarse, size)
        aux = None
        if self.training and self.has_aux_heads:
            aux = {
                "res3": _upsample(self.aux_head_res3(feats.aux), size),
                "afm": _upsample(self.aux_head_afm(high_weighted), size),
            }
        return SegmentationOutput(logits, aux, attention if return_attention else None)

    def coarse_logits(self, x: Tensor, return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        """(the head's logits at 1/8 before ``forward``'s final upsample, SAM attention or None): what the
        CPU label head (``head.py``) turns into labels without the full-size logits."""
        coarse, _, _, attention = self._decode(x)
        return coarse, attention if return_attention else None

    def _decode(self, x: Tensor):
        feats = self.backbone(x)
        high_raw = feats.high
        low = self.conv_low(feats.low)
        high = self.conv_high(high_raw)
        if self.conv_low2 is not None:
            # AttaNet_light.py: alpha from the projected levels, the sum of the re-projected ones.
            fused, high_weighted = self.afm(self.conv_low2(low), high, self.conv_high2(high), attend_to=low)
        else:
            fused, high_weighted = self.afm(low, high_raw, high)
        fused = self.smooth(fused)
        attention = None
        if self.sam is not None:
            fused, attention = self.sam(fused)
        fused = F.interpolate(fused, size=feats.fine.shape[2:], mode="nearest")
        return self.head(self.refine(fused)), feats, high_weighted, attention


def _upsample(x: Tensor, size) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def build_model(
    arch: str = "attanet_r18",
    num_classes: int = 19,
    *,
    pretrained_backbone: str | Path | None = None,
    use_sam: bool | None = None,
    sam_direction: str | None = None,
    fusion: str | None = None,
    aux_heads: bool = True,
) -> AttaNet:
    """Build an AttaNet by registry name; keyword switches override the arch's defaults.

    ``pretrained_backbone`` is a local torchvision ResNet ImageNet state dict (nothing is
    downloaded). ``aux_heads=False`` builds the inference network (no training-only heads).
    """
    config = arch_config(arch, use_sam=use_sam, sam_direction=sam_direction, fusion=fusion)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    model = AttaNet(config, num_classes, aux_heads=aux_heads)
    if pretrained_backbone is not None:
        if config.backbone == "light":
            raise ValueError("the light backbone has no ImageNet weights; drop --pretrained for attanet_light")
        load_imagenet_weights(model.backbone, pretrained_backbone)
    return model


def registered_arch(arch: str, stored_config: dict) -> str:
    """The registry name that builds a checkpoint's network: its ``arch``, except for light
    checkpoints written before ``decoder`` existed (their ``attanet_light`` is today's
    ``attanet_light_compact``)."""
    if arch == "attanet_light" and stored_config.get("decoder", "attanet") == "attanet":
        return "attanet_light_compact"
    return arch


def arch_config(arch: str, **overrides) -> ArchConfig:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")
    base = ARCHS[arch].to_dict()
    base.update({k: v for k, v in overrides.items() if v is not None})
    return ArchConfig(**base)
