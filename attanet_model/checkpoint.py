"""Self-describing checkpoints.

A checkpoint is a ``torch.save`` archive holding plain data only (loadable with
``weights_only=True``)::

    {"format": "attanet-checkpoint", "version": 1,
     "meta": ModelMeta.to_dict(),      # arch, classes, input size, mean/std, provenance
     "state_dict": {...},              # the network's weights
     "extra": {...},                   # training state (optimizer, iteration, RNG), optional
     "integrity": {"sha256": ...}}     # hash of meta + state_dict, set by save_checkpoint

``load_checkpoint`` checks every part and raises ``CheckpointError`` with a sentence that says
what is wrong, so a bad file stops a node or a tool at start-up, not at the first frame.

Integrity: ``torch.load`` does not verify the zip archive's CRC-32s, so a file with flipped bytes
inside a tensor record loads and the model publishes garbage. ``read_checkpoint`` therefore runs
``zipfile.ZipFile.testzip()`` (every member's CRC, which also covers files saved before the hash
existed) and recomputes the SHA-256 of the metadata and weights (which also catches a payload
edited and re-saved with plain ``torch.save``). ``extra`` (optimizer and RNG state for resuming)
is not covered: it never reaches inference. A file without the hash loads with a warning unless
it is one this project shipped (``integrity``); ``attanet seal`` adds one. Well-formed but wrong
values are refused too: NaN/inf weights, a negative BatchNorm variance, a classifier whose
output count is not the metadata's class count.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .atomic_write import OutputError, atomic_output, disk_full_error, disk_is_full
from .classes import CITYSCAPES_CLASSES, ClassInfo
from .integrity import warn_unsealed, weights_problem
from .layers import state_dict_mismatch
from .network import ARCHS, ArchConfig, AttaNet, without_aux_heads

FORMAT = "attanet-checkpoint"
VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HASH_ALGORITHM = "sha256"
CLASSIFIER_WEIGHT = "head.2.weight"  # the final 1x1 conv: one output channel per class


class CheckpointError(ValueError):
    """A model file that cannot be used; the message says why."""


@dataclass
class ModelMeta:
    """What a deployed model needs besides its weights.

    ``input_scale`` is the paper's inference setting: the camera frame is resized by this
    factor for the network (0.5: 1024x2048 -> 512x1024). ``input_size`` (H, W), when set, fixes
    the network size instead. ``mean``/``std`` are RGB in [0, 1] units.
    """

    arch: str = "attanet_r18"
    arch_config: dict = field(default_factory=lambda: ARCHS["attanet_r18"].to_dict())
    classes: tuple[ClassInfo, ...] = CITYSCAPES_CLASSES
    input_scale: float = 0.5
    input_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    training: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def trained_input_scale(self) -> float:
        """The input scale the model was trained for, as its training record says (the bundled model:
        1.0, shipped with 0.5 in ``input_scale``); ``input_scale`` when the record does not say."""
        config = self.training.get("config")
        from_config = config.get("input_scale") if isinstance(config, dict) else None
        recorded = self.training.get("trained_input_scale", from_config)
        usable = isinstance(recorded, int | float) and not isinstance(recorded, bool) and recorded > 0
        return float(recorded) if usable else self.input_scale

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = [c.to_dict() for c in self.classes]
        d["input_size"] = list(self.input_size) if self.input_size else None
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @staticmethod
    def from_dict(d: dict) -> ModelMeta:
        try:
            return ModelMeta(
                arch=str(d["arch"]),
                arch_config=dict(d["arch_config"]),
                classes=tuple(ClassInfo.from_dict(c) for c in d["classes"]),
                input_scale=float(d.get("input_scale", 0.5)),
                input_size=tuple(int(v) for v in d["input_size"]) if d.get("input_size") else None,
                mean=tuple(float(v) for v in d["mean"]),
                std=tuple(float(v) for v in d["std"]),
                training=dict(d.get("training") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint metadata is incomplete or malformed ({exc!r})") from exc

    @staticmethod
    def for_model(model: AttaNet, arch: str, classes=None, **kwargs) -> ModelMeta:
        classes = tuple(classes) if classes is not None else CITYSCAPES_CLASSES
        if len(classes) != model.num_classes:
            raise ValueError(f"{len(classes)} class names given for a model with {model.num_classes} outputs")
        return ModelMeta(arch=arch, arch_config=model.config.to_dict(), classes=classes, **kwargs)


def save_checkpoint(
    path: str | Path, model: AttaNet, meta: ModelMeta, extra: dict[str, Any] | None = None, half: bool = False
) -> Path:
    """Write atomically and checked (``atomic_write``): a crash or a full disk mid-write never leaves a
    truncated file (the previous one stays), and raises ``OutputError`` naming the file and the cause.

    ``half`` stores floating-point weights as fp16 (half the size, for bundling); they are
    restored to fp32 on load.
    """
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu() for k, v in model.state_dict().items()
    }
    payload = {"format": FORMAT, "version": VERSION, "meta": meta.to_dict(), "state_dict": state, "extra": extra or {}}
    return write_payload(path, payload)


def write_payload(path: str | Path, payload: dict) -> Path:
    """Set ``payload``'s integrity record (the hash of its meta and state_dict) and write it atomically."""
    payload["integrity"] = {
        HASH_ALGORITHM: content_hash(payload["meta"], payload["state_dict"]),
        "covers": "meta and state_dict",
    }
    path = Path(path)
    with atomic_output(path) as tmp:
        try:
            with open(tmp, "wb") as f:  # a file object: the archive's inner folder is "archive", not the temp name
                torch.save(payload, f)
        except RuntimeError as exc:  # torch's zip writer reports a failed write without its errno
            failure = disk_full_error(path) if disk_is_full(tmp.parent) else OutputError(f"cannot write {path}: {exc}")
            raise failure from exc
        if not zipfile.is_zipfile(tmp):  # the archive's end record: torch.save finished the file
            raise OutputError(f"cannot write {path}: the archive was not completed")
    return path


def seal_checkpoint(path: str | Path) -> bool:
    """Give a checkpoint written before checkpoints carried a hash its integrity record, after every other
    check (archive CRCs, weights, class count); False when it already has one (it was verified)."""
    path = Path(path)
    payload = read_checkpoint(path, warn=False)
    if "integrity" in payload:
        return False
    write_payload(path, payload)
    return True


def content_hash(meta: dict, state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the metadata (canonical JSON) and every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _check_archive(path: Path) -> None:
    """Every zip member's CRC-32 (torch.load reads the bytes without checking them)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"model file {path} is truncated or corrupt (a damaged zip archive: {exc})") from exc
    if bad is not None:
        raise CheckpointError(
            f"model file {path} is corrupt: archive member {bad!r} fails its CRC-32 check (the file was damaged "
            "after it was written); copy it again from its source or re-train/re-export it"
        )


def _check_content_hash(path: Path, payload: dict, warn: bool) -> None:
    integrity = payload.get("integrity")
    if integrity is None:  # saved before checkpoints carried a hash (or it was removed); the CRCs were checked
        if warn:
            warn_unsealed(path, "has no integrity hash (metadata and weights unverified)")
        return
    want = integrity.get(HASH_ALGORITHM) if isinstance(integrity, dict) else None
    if not isinstance(want, str):
        raise CheckpointError(f"model file {path} has a malformed integrity record {integrity!r}")
    try:
        got = content_hash(payload["meta"], payload["state_dict"])
    except (KeyError, TypeError, AttributeError, RuntimeError) as exc:
        raise CheckpointError(f"model file {path}: metadata or weights are malformed ({exc!r})") from exc
    if got != want:
        raise CheckpointError(
            f"model file {path} fails its integrity check: the {HASH_ALGORITHM} of its metadata and weights is "
            f"{got[:16]}..., saved as {want[:16]}... (modified after save_checkpoint wrote it); use the original "
            "file, or load and save it again with save_checkpoint() if the change was intended"
        )


def read_checkpoint(path: str | Path, *, warn: bool = True) -> dict:
    """The raw checkpoint dict, validated: format, integrity, finite weights, class count; raises
    CheckpointError in words. A file without an integrity hash loads with a warning (``warn``)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model file not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"model path is a directory, expected a checkpoint file: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"model file is empty: {path}")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"PK\x03\x04":
            raise CheckpointError(f"model file {path} is truncated or corrupt (a damaged zip archive)")
        raise CheckpointError(
            f"{path} is not a checkpoint (not a torch.save archive); for an .onnx file use backend='onnxruntime'"
        )
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"model file {path} is truncated or corrupt: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = list(payload)[:6] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not an attanet checkpoint (found {keys}); for a state dict of the official AttaNet code "
            "run `attanet import-official`; another project's weights: load them into build_model(...) and "
            "save_checkpoint()"
        )
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload['version']}; this attanet reads up to {VERSION}")
    _check_content_hash(path, payload, warn)
    _check_weights(path, payload)
    return payload


def _check_weights(path: Path, payload: dict) -> None:
    """Weights that can run, and exactly one classifier output per class of the metadata."""
    state, meta = payload.get("state_dict"), ModelMeta.from_dict(payload.get("meta") or {})
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"model file {path}: its state_dict is not a mapping of names to tensors")
    problem = weights_problem(state.items())
    if problem is not None:
        raise CheckpointError(
            f"model file {path} has unusable weights: {problem}; every pixel would get the same class. "
            "Use an earlier checkpoint (a diverged training run saves NaNs) or re-train"
        )
    classifier = state.get(CLASSIFIER_WEIGHT)
    if classifier is not None and classifier.shape[0] != meta.num_classes:
        raise CheckpointError(
            f"{path}: class count mismatch: the metadata lists {meta.num_classes} classes but the "
            f"classifier has {classifier.shape[0]} outputs"
        )


def load_checkpoint(
    path: str | Path, *, arch: str | None = None, num_classes: int | None = None
) -> tuple[AttaNet, ModelMeta, dict]:
    """Load (model in eval mode, meta, extra). ``arch``/``num_classes``, when given, must match.

    The model is the inference network (built without aux heads): a training checkpoint's aux-head
    tensors are dropped by name (``network.AUX_HEADS``); training reads weights with
    ``read_checkpoint`` into a network built with its heads.
    """
    payload = read_checkpoint(path)
    meta = ModelMeta.from_dict(payload["meta"])
    if meta.arch not in ARCHS:
        raise CheckpointError(f"{path}: unknown arch {meta.arch!r}; this attanet knows {', '.join(ARCHS)}")
    if arch is not None and arch != meta.arch:
        raise CheckpointError(f"{path} holds a {meta.arch} model, but {arch} was asked for")
    if num_classes is not None and num_classes != meta.num_classes:
        raise CheckpointError(f"{path} has {meta.num_classes} classes, but {num_classes} were asked for")
    try:
        config = ArchConfig(**meta.arch_config)
    except TypeError as exc:
        raise CheckpointError(f"{path}: arch_config {meta.arch_config} is not valid ({exc})") from exc
    # Files written before ArchConfig.decoder existed get its default (the decoder they were
    # built with) written out, so a re-save or an ONNX export records it.
    meta.arch_config = config.to_dict()
    model = AttaNet(config, meta.num_classes, aux_heads=False)
    state = without_aux_heads(payload["state_dict"])
    missing, unexpected, wrong = state_dict_mismatch(model.state_dict(), state)
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: weights do not fit {meta.arch} ({config.backbone}, fusion={config.fusion}, "
            f"sam={config.use_sam}): missing {missing[:4]}, unexpected {unexpected[:4]}, wrong shape {wrong[:4]}"
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.eval()
    return model, meta, payload.get("extra") or {}
