"""Import a checkpoint written by the official AttaNet code (github.com/songqi-github/AttaNet).

The official ``train.py`` ends with ``torch.save(net.state_dict())`` of ``AttaNet.py``'s (or
``AttaNet_light.py``'s) ``AttaNet``: a bare state dict with keys such as
``head.resnet.layer1.0.conv1.weight``, ``head.sam.conv1.conv.weight`` or
``conv_out.conv_out.weight`` (``module.``-prefixed when saved from the DDP wrapper, sometimes
with the ImageNet classifier ``head.resnet.fc.*`` still in it). ``import_official`` renames it to
this package's layout by meaning, checks every tensor and writes a self-describing checkpoint.

Two mappings are easy to get wrong by following names or order, and are pinned here:

- SAM: the official ``conv1`` output is average-pooled over H (``StripAttentionModule.forward``:
  ``q = avg_pool2d(conv1(x), [h, 1])``), so it is this package's *key* strips; ``conv2`` is
  the per-pixel *query*; ``conv3`` the value.
- Aux heads: ``conv_out1`` reads the alpha-weighted coarse branch (``feat32_up`` /
  ``feat16_up``), i.e. ``aux_head_afm``; ``conv_out2`` reads res3 (``feat8``, or light.py's
  S3_2 output), i.e. ``aux_head_res3``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .checkpoint import CLASSIFIER_WEIGHT, CheckpointError, ModelMeta, save_checkpoint
from .classes import CITYSCAPES_CLASSES, generic_classes
from .integrity import weights_problem
from .layers import state_dict_mismatch
from .network import AttaNet, build_model

OFFICIAL_ARCHS = ("attanet_r18", "attanet_light")

# Official module -> this package's module, per kind of official module: "cbr" is the official
# ConvBNReLU (conv/bn children; here nn.Sequential 0/1), "output" is AttaNetOutput (conv, an
# optional dropout, conv_out; here SegmentationHead 0/1/2), "same" keeps child names.
_DECODER = {
    "head.afm.conv": ("afm.conv", "cbr"),
    "head.afm.conv_atten": ("afm.conv_attention", "same"),
    "head.afm.bn_atten": ("afm.bn_attention", "same"),
    "head.conv_head1": ("smooth", "cbr"),
    "head.sam.conv1": ("sam.key", "cbr"),  # pooled over H: the key strips
    "head.sam.conv2": ("sam.query", "cbr"),  # per pixel: the query
    "head.sam.conv3": ("sam.value", "cbr"),
    "head.conv_head2": ("refine", "cbr"),
    "conv_out": ("head", "output"),
    "conv_out1": ("aux_head_afm", "output"),  # reads feat32_up / feat16_up
    "conv_out2": ("aux_head_res3", "output"),  # reads feat8 (res3) / light.py's S3_2
}

MODULE_MAP: dict[str, dict[str, tuple[str, str]]] = {
    # AttaNet.py + backbone.py (torchvision's ResNet layout under head.resnet)
    "attanet_r18": {
        "head.resnet": ("backbone", "same"),
        "head.conv_head16": ("conv_low", "cbr"),
        "head.conv_head32": ("conv_high", "cbr"),
        **_DECODER,
    },
    # AttaNet_light.py + light.py (Branch S1_1 .. S3_3 under head.backbone.branch)
    "attanet_light": {
        **{
            f"head.backbone.branch.S{stage}_{i + 1}": (f"backbone.stage{stage}.{i}", "cbr")
            for stage, n in ((1, 2), (2, 3), (3, 3))
            for i in range(n)
        },
        "head.conv_head8": ("conv_low", "cbr"),
        "head.conv_head16": ("conv_high", "cbr"),
        "head.conv_head81": ("conv_low2", "cbr"),
        "head.conv_head161": ("conv_high2", "cbr"),
        **_DECODER,
    },
}
_CHILD = {
    "cbr": {"conv": "0", "bn": "1"},
    "output": {"conv.conv": "0.0", "conv.bn": "0.1", "conv_out": "2"},
}
# torchvision's ImageNet classifier, still in a state dict saved by the official code
_DROPPED = ("head.resnet.fc.",)


class OfficialImportError(CheckpointError):
    """An official checkpoint that cannot be imported; the message lists what does not fit."""


def official_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of an official checkpoint file: a bare state dict or ``{"state_dict": ...}``,
    with any DDP ``module.`` prefix removed."""
    path = Path(path)
    if not path.is_file():
        raise OfficialImportError(f"official checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip / pickle errors do not name the file
        raise OfficialImportError(f"cannot read {path} as a torch.save file: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        found = list(state)[:5] if isinstance(state, dict) else type(state).__name__
        raise OfficialImportError(
            f"{path} is not an official AttaNet state dict (found {found}); expected the file train.py saves"
        )
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def guess_official_arch(state: dict[str, Tensor]) -> str | None:
    """Which official network a state dict's keys come from (None when neither)."""
    if any(k.startswith("head.backbone.branch.") for k in state):
        return "attanet_light"
    if any(k.startswith("head.resnet.") for k in state):
        return "attanet_r18"
    return None


def rename_official(state: dict[str, Tensor], arch: str) -> tuple[dict[str, Tensor], list[str]]:
    """(this package's state dict, official keys no rule maps). The classifier ``fc`` is dropped."""
    if arch not in MODULE_MAP:
        raise OfficialImportError(f"no official layout for arch {arch!r}; importable: {', '.join(OFFICIAL_ARCHS)}")
    rules = sorted(MODULE_MAP[arch].items(), key=lambda item: -len(item[0]))  # longest prefix wins
    renamed: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key.startswith(_DROPPED):
            continue
        new_key = _rename_key(key, rules)
        if new_key is None:
            unknown.append(key)
        else:
            renamed[new_key] = value
    return renamed, unknown


def _rename_key(key: str, rules: list[tuple[str, tuple[str, str]]]) -> str | None:
    for prefix, (target, kind) in rules:
        if not key.startswith(prefix + "."):
            continue
        rest = key[len(prefix) + 1 :]
        if kind == "same":
            return f"{target}.{rest}"
        for child, index in sorted(_CHILD[kind].items(), key=lambda item: -len(item[0])):
            if rest.startswith(child + "."):
                return f"{target}.{index}.{rest[len(child) + 1 :]}"
        return None
    return None


def convert_official(
    state: dict[str, Tensor],
    arch: str,
    num_classes: int | None = None,
    source: str = "official checkpoint",
    dtype: torch.dtype = torch.float32,
) -> AttaNet:
    """An ``AttaNet`` (eval mode, parameters in ``dtype``) holding an official state dict's weights.

    ``num_classes`` defaults to the official classifier's output count; when given it must match.
    Raises ``OfficialImportError`` listing unknown, missing and mis-shaped keys, or naming the first
    tensor that cannot run (NaN/inf, a negative BatchNorm running variance: a diverged run's weights).
    """
    problem = weights_problem((k, v) for k, v in state.items() if not k.startswith(_DROPPED))
    if problem is not None:
        raise OfficialImportError(
            f"{source} has unusable weights: {problem}; import a checkpoint from before the run diverged"
        )
    renamed, unknown = rename_official(state, arch)
    classifier = renamed.get(CLASSIFIER_WEIGHT)
    if classifier is None:
        raise OfficialImportError(
            f"{source} has no classifier conv_out.conv_out.weight; is it an official {arch} AttaNet state dict? "
            f"(first keys: {list(state)[:4]})"
        )
    found_classes = int(classifier.shape[0])
    if num_classes is not None and num_classes != found_classes:
        raise OfficialImportError(
            f"{source}: --num-classes {num_classes} given, but its classifier has {found_classes} outputs"
        )
    model = build_model(arch, found_classes).to(dtype)
    missing, unexpected, wrong = state_dict_mismatch(model.state_dict(), renamed)
    unexpected = unknown + unexpected
    if missing or unexpected or wrong:
        guess = guess_official_arch(state)
        hint = f"; its keys look like --arch {guess}" if guess not in (None, arch) else ""
        raise OfficialImportError(
            f"{source} does not fit the official {arch} layout{hint}: "
            f"{len(unexpected)} unknown key(s) {unexpected[:6]}, {len(missing)} missing {missing[:6]}, "
            f"{len(wrong)} of the wrong shape {wrong[:6]}; check --arch (attanet_r18 for AttaNet.py, "
            "attanet_light for AttaNet_light.py)"
        )
    model.load_state_dict(renamed)  # copies (and casts) into the model's own tensors
    return model.eval()


def import_official(
    path: str | Path,
    arch: str,
    out: str | Path,
    *,
    num_classes: int | None = None,
    input_scale: float = 0.5,
) -> tuple[Path, ModelMeta]:
    """Convert the official checkpoint ``path`` into a self-describing checkpoint at ``out``.

    The metadata records the official preprocessing (``cityscapes.py``: RGB,
    ``Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))``), the Cityscapes classes for a
    19-class model (generic names otherwise), and ``input_scale`` (0.5: the paper's speed
    setting, a 1024x2048 frame resized to 512x1024). Nothing is written when anything is wrong.
    """
    if arch not in OFFICIAL_ARCHS:
        raise OfficialImportError(f"no official layout for arch {arch!r}; importable: {', '.join(OFFICIAL_ARCHS)}")
    if not 0 < input_scale <= 4:
        raise OfficialImportError(f"input_scale must be in (0, 4], got {input_scale}")
    out = Path(out)
    if out.suffix != ".pt":
        raise OfficialImportError(f"output path should end in .pt, got {out}")
    model = convert_official(official_state_dict(path), arch, num_classes, source=str(path))
    classes = CITYSCAPES_CLASSES if model.num_classes == len(CITYSCAPES_CLASSES) else generic_classes(model.num_classes)
    meta = ModelMeta.for_model(
        model,
        arch,
        classes,
        input_scale=input_scale,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        training={"imported_from": str(Path(path).resolve()), "source": "songqi-github/AttaNet train.py state dict"},
    )
    return save_checkpoint(out, model, meta), meta
