"""What ``--resume`` may change: one table, field by field, read from what a resumed run does.

A resumed run restores from the checkpoint the optimizer (each group's lr, momentum and weight
decay: ``optimizer.load_state_dict``), the schedule's shape (poly power, warm-up ratio and mode:
saved in the scheduler's state), the GradScaler and the RNG, and continues the sample stream at
its position, which the seed, the batch, the crop and the augmentation define. A new value of one
of those would be written to config.json and the checkpoints without being run, or would make the
resumed curve another run's: such a change is refused, every field named with its old and new
value. The schedule's length (``iterations``, ``warmup_iters``) is re-fitted on resume
(``set_schedule_length``), and bookkeeping (logging, checkpoint and validation intervals, worker
and thread counts, time limit) touches neither the optimisation nor the stream: those apply, and
the run says so.
"""

from __future__ import annotations

import dataclasses

from .config import TrainConfig

APPLIES = "applies"  # the resumed run uses the new value
FROM_START = "from the start"  # the weights' first initialisation: kept from the checkpoint's config
REFUSED = "refused"  # the checkpoint's state follows the old value

RESUME_RULES: dict[str, str] = {
    # the network and its first weights
    "arch": REFUSED,
    "pretrained": FROM_START,
    "init_from": FROM_START,
    # the data and the sample stream (order and augmentation are functions of seed and position)
    "dataset": REFUSED,
    "data_root": APPLIES,  # the same split copied elsewhere (a job's local disk); the classes are checked
    "train_split": REFUSED,
    "classes_file": REFUSED,
    "crop_size": REFUSED,
    "base_scale": REFUSED,
    "scales": REFUSED,
    "flip": REFUSED,
    "color_jitter": REFUSED,
    "augment": REFUSED,
    "device_augment": REFUSED,
    "cache_on_device": APPLIES,  # the same stream as device_augment's workers, from device memory
    "batch_size": REFUSED,
    "seed": REFUSED,
    # the optimisation: optimizer and scheduler state come from the checkpoint
    "lr": REFUSED,
    "momentum": REFUSED,
    "weight_decay": REFUSED,
    "head_lr_mult": REFUSED,
    "head_lr_scope": REFUSED,
    "warmup_ratio": REFUSED,
    "warmup_mode": REFUSED,
    "poly_power": REFUSED,
    "ohem_thresh": REFUSED,
    "ohem_min_kept": REFUSED,
    "ohem_min_kept_pixels": REFUSED,
    "aux_weight": REFUSED,
    "amp": REFUSED,
    "sync_bn": REFUSED,
    "extra": REFUSED,
    # the schedule's length: re-fitted to the new value
    "iterations": APPLIES,
    "warmup_iters": APPLIES,
    # what validation measures: best.pt compares every validation of the run with the best so far
    "val_split": REFUSED,
    "val_max_images": REFUSED,
    "input_scale": REFUSED,
    # bookkeeping
    "channels_last": APPLIES,  # memory layout only
    "val_interval": APPLIES,
    "out_dir": APPLIES,
    "log_interval": APPLIES,
    "ckpt_interval": APPLIES,
    "workers": APPLIES,  # batches come in stream order whatever the worker count
    "threads": APPLIES,
    "max_minutes": APPLIES,
    "strict_data": APPLIES,  # a bad file is skipped the same way; strict only stops on it
}


def _shown(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def resumed_config(cfg: TrainConfig, saved: dict, checkpoint: str) -> tuple[TrainConfig, list[str]]:
    """The config a run resumed from ``checkpoint`` (whose config was ``saved``) runs with, and
    the changes it applies ("workers 2 -> 1"). Raises ``ValueError`` naming every refused change.

    A field the checkpoint predates counts as the default it ran with; a ``FROM_START`` field
    left unset is taken from the checkpoint (the run's own record of how it began)."""
    defaults, new = TrainConfig().to_dict(), cfg.to_dict()
    refused, applied, kept = [], [], {}
    for name, rule in RESUME_RULES.items():
        old = saved.get(name, defaults[name])
        if new[name] == old:
            continue
        change = f"{name} {_shown(old)} -> {_shown(new[name])}"
        if rule == FROM_START and new[name] is None:
            kept[name] = old
        elif rule == APPLIES:
            applied.append(change)
        else:
            refused.append(change)
    if refused:
        raise ValueError(
            f"--resume {checkpoint}: {', '.join(refused)}: the checkpoint's optimizer, schedule and sample stream "
            "follow the run's values; drop these flags (or give the run's values), or start a new run from its "
            f"weights (--init-from {checkpoint} --out NEW)"
        )
    return dataclasses.replace(cfg, **kept), applied


def check_resume_classes(saved_classes: list[dict], names: list[str], checkpoint: str) -> None:
    """The resumed run's dataset must have the checkpoint's classes, in its order."""
    old = [c.get("name") for c in saved_classes]
    if old != names:
        raise ValueError(
            f"--resume {checkpoint}: the run trained classes {', '.join(map(str, old))}; this dataset has "
            f"{', '.join(names)}; resume with the run's data, or --init-from {checkpoint} to fine-tune on this one"
        )
