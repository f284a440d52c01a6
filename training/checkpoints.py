"""A training run's checkpoints: the state a run saves, how it is written, and how a run starts
from one (``--resume`` continues it, ``--init-from`` takes its weights).

``last.pt`` and ``best.pt`` hold the weights with the full training state in ``extra`` (optimizer,
schedule, GradScaler, RNG, iteration, best mIoU, the config), so ``--resume`` continues the same
loss curve. A write goes to a temp file in the run folder, is fsynced and renamed over the
checkpoint (``write_checkpoint``): a failure (a full disk) removes the temp file and leaves the
previous checkpoint intact, and is raised as ``WriteFailed`` with its cause in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attanet_model import ModelMeta, save_checkpoint
from attanet_model.checkpoint import CheckpointError, read_checkpoint
from attanet_model.network import registered_arch

from .config import TrainConfig
from .optim import TrainingParts
from .run_errors import WriteFailed, describe_write_error
from .run_folder import replace_durably, temp_path
from .run_report import hardware_description


def write_checkpoint(path: Path, model: nn.Module, meta: ModelMeta, extra: dict) -> Path:
    """Write ``path`` whole or not at all: a temp file beside it (``save_checkpoint`` leaves it
    complete or absent), fsynced, then renamed over ``path``."""
    path = Path(path)
    temp = temp_path(path)
    try:
        save_checkpoint(temp, model, meta, extra)
        replace_durably(temp, path)
    except (OSError, RuntimeError) as exc:
        temp.unlink(missing_ok=True)
        needed = _tensor_bytes(model.state_dict()) + _tensor_bytes(extra)
        raise WriteFailed(path.name, describe_write_error(exc, path.parent, needed)) from exc
    return path


def _tensor_bytes(value: Any) -> int:
    """The bytes of every tensor in a nest of dicts and lists: about what a checkpoint takes on disk."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def training_state(
    iteration: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    device: torch.device,
    best_miou: float | None,
    wall_time_s: float,
    config: dict,
) -> dict:
    """What ``--resume`` needs besides the weights (a checkpoint's ``extra``); ``scaler`` only with AMP."""
    return {
        "iteration": iteration,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "best_miou": best_miou,
        "wall_time_s": wall_time_s,
        "config": config,
    }


def read_weights(path: str, flag: str, arch: str) -> tuple[dict, dict]:
    """(checkpoint payload, its weights as fp32) for ``flag`` (--resume / --init-from), after
    checking that it holds the architecture ``arch``."""
    payload = read_checkpoint(path)
    stored = registered_arch(payload["meta"].get("arch"), payload["meta"].get("arch_config") or {})
    if stored != arch:
        raise CheckpointError(f"{flag} {path} holds a {stored} model but the config trains {arch}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    return payload, state


def resume_state(payload: dict, path: str) -> dict:
    """The training state of a ``--resume`` checkpoint (refused when it has none)."""
    extra = payload.get("extra") or {}
    if "iteration" not in extra or "optimizer" not in extra:
        raise CheckpointError(
            f"--resume {path} has no training state (a deployment/--release checkpoint?); "
            "resume from last.pt in the run folder"
        )
    return extra


def load_all_weights(model: nn.Module, state: dict, path: str, arch: str) -> None:
    """``--resume``: every weight of ``model`` from ``state``, names and shapes matching exactly."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"--resume {path}: weights do not fit {arch}: {exc}") from exc


def load_fitting_weights(model: nn.Module, state: dict, path: str, arch: str) -> dict:
    """``--init-from`` (fine-tuning): every tensor whose name and shape fit is copied; the rest (a
    classifier for another class count, aux heads that a --release file dropped) keeps its fresh
    initialisation. Returns what was loaded: counts and the top-level modules left fresh."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fits:
        raise CheckpointError(f"--init-from {path}: none of its weights fit {arch}")
    model.load_state_dict(fits, strict=False)
    fresh = sorted({k.split(".")[0] for k in own if k not in fits})
    return {"init_from": str(path), "tensors_loaded": len(fits), "tensors_total": len(own), "fresh_modules": fresh}


def restore_training_state(
    extra: dict,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    device: torch.device,
) -> None:
    """Optimizer, schedule, GradScaler (with AMP) and RNG as the checkpoint left them."""
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    if extra.get("scaler") and scaler is not None:
        scaler.load_state_dict(extra["scaler"])
    if extra.get("torch_rng") is not None:
        torch.set_rng_state(extra["torch_rng"])
    if device.type == "cuda" and extra.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(extra["cuda_rng"], device)


def init_from_weights(model: nn.Module, path: str, arch: str) -> dict:
    """``--init-from``: another AttaNet checkpoint's weights where they fit (fine-tuning); the report
    says what fit (``load_fitting_weights``)."""
    _, state = read_weights(path, "--init-from", arch)
    return load_fitting_weights(model, state, path, arch)


@dataclass(frozen=True)
class RunIdentity:
    """What every checkpoint of a run says of how it was made, besides its config."""

    command: str
    device: str
    world_size: int
    label_values: tuple | list | None  # a custom set's pixel value of each class (None: train ids)


def write_run_checkpoint(
    path: Path,
    model: nn.Module,
    cfg: TrainConfig,
    classes,
    identity: RunIdentity,
    parts: TrainingParts,
    *,
    iteration: int,
    val_miou: float | None,
    best_miou: float | None,
    wall_time_s: float,
) -> Path:
    """A run's checkpoint (``write_checkpoint``): the weights, their metadata (``run_meta``) and
    the full training state in ``extra`` (``training_state``)."""
    device = torch.device(identity.device)
    scaler = parts.scaler if parts.amp else None
    extra = training_state(
        iteration, parts.optimizer, parts.scheduler, scaler, device, best_miou, wall_time_s, cfg.to_dict()
    )
    meta = run_meta(
        model,
        cfg,
        classes,
        iteration=iteration,
        val_miou=val_miou,
        best_miou=best_miou,
        wall_time_s=wall_time_s,
        command=identity.command,
        device=identity.device,
        world_size=identity.world_size,
        label_values=identity.label_values,
    )
    return write_checkpoint(path, model, meta, extra)


def run_meta(
    model: nn.Module,
    cfg: TrainConfig,
    classes,
    *,
    iteration: int,
    val_miou: float | None,
    best_miou: float | None,
    wall_time_s: float,
    command: str,
    device: str,
    world_size: int,
    label_values,
) -> ModelMeta:
    """A run's checkpoint metadata: the model's (``ModelMeta.for_model``) with how it was trained."""
    training = {
        "command": command,
        "iterations": iteration,
        "wall_time_s": round(wall_time_s, 1),
        "hardware": hardware_description(device),
        "world_size": world_size,
        "dataset": f"{cfg.dataset}:{cfg.data_root}",
        "seed": cfg.seed,
        "val_miou": val_miou,
        "best_miou": best_miou,
        # a custom set's pixel value of each class: `attanet predict` writes these
        "label_values": list(label_values) if label_values else None,
        "torch": str(torch.__version__),
        "config": cfg.to_dict(),
    }
    return ModelMeta.for_model(model, cfg.arch, classes, input_scale=cfg.input_scale, training=training)
