"""A deployment copy of a training checkpoint (``attanet train --release``)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from attanet_model import load_checkpoint, save_checkpoint


def release_checkpoint(source: str | Path, target: str | Path, half: bool = True, notes: dict | None = None) -> Path:
    """A deployment copy of a training checkpoint: fp16 weights, no optimizer state, no aux heads."""
    model, meta, _ = load_checkpoint(source)
    if notes:
        meta.training.update(notes)
    for name in ("aux_head_res3", "aux_head_afm"):  # training-only; load_checkpoint allows them absent
        setattr(model, name, nn.Identity())
    return save_checkpoint(target, model, meta, extra=None, half=half)
