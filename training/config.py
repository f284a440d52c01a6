"""Training configuration: one dataclass holds every hyper-parameter; YAML files and CLI flags set it.

The shipped YAML files (``configs/``) are the paper's Cityscapes and ADE20K recipes and a small
CPU recipe for the synthetic set. ``load_config`` reads a YAML file and applies ``--set``-style
overrides; the resolved config is stored in every checkpoint so a run can be reproduced and
resumed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from attanet_model.network import ARCHS

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class TrainConfig:
    # model
    arch: str = "attanet_r18"
    pretrained: str | None = None  # local torchvision ResNet ImageNet state dict
    init_from: str | None = None  # an AttaNet checkpoint to start from (fine-tuning); not with resume
    # data
    dataset: str = "cityscapes"  # cityscapes | ade20k | custom (the synthetic set is "cityscapes")
    data_root: str = ""
    train_split: str = "train"
    val_split: str = "val"
    classes_file: str | None = None  # custom datasets: classes YAML
    crop_size: tuple[int, int] = (1024, 1024)  # paper: 1024x1024 Cityscapes, 512x512 ADE20K
    base_scale: float = 1.0  # resize applied before the random scale
    scales: tuple[float, ...] = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    flip: bool = True
    color_jitter: float = 0.4
    # "default" or "official" (cityscapes.py's ColorJitter -> HorizontalFlip -> Rotation ->
    # RandomScale -> RandomCrop with PIL, in the workers; see transforms.official_augment)
    augment: str = "default"
    # augment on the training device (workers only decode; the batch is scaled, cropped, flipped
    # and jittered there in one grid_sample); for fast GPUs, where OpenCV in the workers is the
    # bottleneck. Frames of a batch must share one size.
    device_augment: bool = False
    # with device_augment: decode the training split once into device memory (uint8) and draw
    # every batch there, no data-loading workers in the loop (the fastest; needs the memory)
    cache_on_device: bool = False
    # optimisation (paper "Training Settings")
    batch_size: int = 16  # total over all processes
    iterations: int = 200_000
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    head_lr_mult: float = 10.0
    head_lr_scope: str = "decoder"  # or "output_heads" (official get_params); optim.py
    warmup_iters: int = 1000
    warmup_ratio: float = 0.1
    warmup_mode: str = "linear"  # or "exponential" (official optimizer.py); schedule.py
    poly_power: float = 0.9
    ohem_thresh: float = 0.7
    ohem_min_kept: float = 1 / 16
    ohem_min_kept_pixels: int = 0  # > 0: the official fixed n_min per process batch; ohem_loss.py
    aux_weight: float = 1.0  # paper Eq. (6): lambda = 1, K = 2
    amp: bool = True  # CUDA only
    channels_last: bool = True  # CUDA only
    sync_bn: bool = True  # under DDP on CUDA
    # evaluation during training (the deployment setting: frame scaled by input_scale)
    input_scale: float = 0.5
    val_interval: int = 5000
    val_max_images: int = 0  # 0 = the whole split
    # bookkeeping
    out_dir: str = "runs/attanet"
    log_interval: int = 50
    ckpt_interval: int = 1000
    workers: int = 4
    seed: int = 0
    threads: int = 0  # torch CPU threads per process, 0 = torch's default
    max_minutes: float = 0.0  # stop (and save) after this wall time, 0 = no limit
    strict_data: bool = False  # stop (and save) on an unreadable training file instead of skipping it
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["crop_size"] = list(self.crop_size)
        d["scales"] = list(self.scales)
        return d

    def problems(self, world_size: int = 1, cuda: bool = False) -> list[str]:
        """Every value outside its range (see ``RULES``), as ``field: value (expected ...)``, and
        a batch that ``world_size`` processes (on CUDA or not) cannot share (``batch_problem``)."""
        shown = self.to_dict()  # tuples as the lists a YAML file holds
        found = [
            f"{name}: {shown[name]!r} (expected {expected})"
            for name, (valid, expected) in RULES.items()
            if not valid(getattr(self, name))
        ]
        if self.cache_on_device and not self.device_augment:
            found.append("cache_on_device: True (expected together with device_augment: true)")
        if self.batch_size >= 1 and (problem := batch_problem(self, world_size, cuda)):
            found.append(problem)
        return found

    def check(self, source: str = "config", world_size: int = 1, cuda: bool = False) -> TrainConfig:
        """Raise one ``ValueError`` that lists every problem at once (as the node's parameter table does)."""
        found = self.problems(world_size, cuda)
        if found:
            raise ValueError(f"{source}: {len(found)} invalid value(s): " + "; ".join(found))
        return self


def _positive(x) -> bool:
    return x > 0


def _at_least(low):
    return lambda x: x >= low


def _fraction(x) -> bool:
    return 0 <= x <= 1


# field -> (valid?, what is expected): the one table that checks a config, run before any work
RULES: dict[str, tuple[Any, str]] = {
    "iterations": (_at_least(1), "a whole number >= 1"),
    "batch_size": (_at_least(1), "a whole number >= 1"),
    "lr": (_positive, "a number > 0"),
    "momentum": (lambda x: 0 <= x < 1, "0 <= momentum < 1"),
    "weight_decay": (_at_least(0), "a number >= 0"),
    "head_lr_mult": (_positive, "a number > 0"),
    "warmup_iters": (_at_least(0), "a whole number >= 0"),
    "warmup_ratio": (lambda x: 0 < x <= 1, "0 < warmup_ratio <= 1"),
    "poly_power": (_at_least(0), "a number >= 0"),
    "ohem_thresh": (lambda x: 0 < x <= 1, "0 < ohem_thresh <= 1"),
    "ohem_min_kept": (_fraction, "a fraction of the valid pixels, 0..1"),
    "aux_weight": (_at_least(0), "a number >= 0"),
    "scales": (lambda x: len(x) > 0 and min(x) > 0, "at least one scale, each > 0, e.g. [0.75, 1.0, 1.25]"),
    "base_scale": (_positive, "a number > 0"),
    "color_jitter": (_fraction, "0..1"),
    "input_scale": (_positive, "a number > 0, e.g. 0.5 for 1024x2048 frames"),
    "val_interval": (_at_least(0), "a whole number >= 0 (0 = no validation)"),
    "val_max_images": (_at_least(0), "a whole number >= 0 (0 = the whole split)"),
    "log_interval": (_at_least(1), "a whole number >= 1"),
    "ckpt_interval": (_at_least(1), "a whole number >= 1"),
    "workers": (_at_least(0), "a whole number >= 0"),
    "threads": (_at_least(0), "a whole number >= 0 (0 = torch's default)"),
    "max_minutes": (_at_least(0), "a number >= 0 (0 = no limit)"),
}


def batch_problem(cfg: TrainConfig, world_size: int, cuda: bool) -> str | None:
    """Why ``batch_size`` (the total over ``world_size`` processes) cannot train ``cfg.arch``, or None.

    The AFM (paper Figure 4, ``attanet_model.fusion.AttentionFusion``) pools its input globally to
    1x1 before a BatchNorm, which in training needs 2 or more values per channel: 2 samples per
    process, or 2 in all under DDP on CUDA, where SyncBatchNorm (``sync_bn``) counts the samples of
    every process together (torch ``nn/modules/_functions.py``: one value is refused only when the
    world size is 1)."""
    if cfg.batch_size % world_size:
        return (
            f"batch_size: {cfg.batch_size} (expected a multiple of the {world_size} processes: it is the total "
            f"over all of them, e.g. {world_size * max(2, -(-cfg.batch_size // world_size))})"
        )
    arch = ARCHS.get(cfg.arch)
    if arch is None or arch.fusion != "attention":
        return None
    synced = cuda and cfg.sync_bn and world_size > 1
    seen, smallest = (cfg.batch_size, 2) if synced else (cfg.batch_size // world_size, 2 * world_size)
    if seen >= 2:
        return None
    where = "in all (SyncBatchNorm)" if synced else "per process"
    processes = f" over {world_size} processes" if world_size > 1 else ""
    return (
        f"batch_size: {cfg.batch_size}{processes} (expected at least 2 samples {where}: the AFM's BatchNorm after "
        f"global pooling needs 2 or more values per channel in training; the smallest batch that works here is "
        f"{smallest})"
    )


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(name: str, value: Any) -> Any:
    """YAML/CLI value -> the field's type, with a message that names the field on failure."""
    default = getattr(TrainConfig(), name)
    try:
        if name == "crop_size":
            v = [
                int(x) for x in (value if isinstance(value, (list, tuple)) else str(value).replace("x", ",").split(","))
            ]
            if len(v) == 1:
                v = v * 2
            if len(v) != 2 or min(v) < 32:
                raise ValueError("expected H,W of at least 32")
            return tuple(v)
        if name == "scales":
            seq = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return tuple(float(x) for x in seq)
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError("expected true or false")
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected a whole number")  # int(2.7) would silently run 2
            return int(value)
        if isinstance(default, float):
            return float(value)
        if default is None or isinstance(default, str):
            return (
                None
                if value in (None, "", "none", "None") and name in ("pretrained", "init_from", "classes_file")
                else str(value)
            )
        return value
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config field {name!r}: cannot use {value!r} ({exc})") from exc


def config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(FIELDS)}")
    values, found = {}, []
    for key, value in data.items():
        try:
            values[key] = _coerce(key, value)
        except ValueError as exc:
            found.append(str(exc))
    found += TrainConfig(**values).problems()
    if found:
        raise ValueError(f"{source}: {len(found)} invalid value(s): " + "; ".join(found))
    return TrainConfig(**values)


def resolve_config_path(name_or_path: str) -> Path:
    """A YAML path, or the name of a shipped config (``cityscapes_r18``, ``synthetic_light``, ...)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ValueError(f"config {name_or_path!r} is neither a file nor a shipped config; shipped: {names}")


def load_config(name_or_path: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    data: dict[str, Any] = {}
    if name_or_path:
        path = resolve_config_path(name_or_path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"config {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"config {path} must be a mapping of field: value, got {type(data).__name__}")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config_from_dict(data, str(name_or_path or "flags"))


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "crop_size=512,1024"]`` -> dict (values parsed as YAML scalars)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out
