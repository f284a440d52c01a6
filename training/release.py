"""A deployment copy of a training checkpoint (``attanet train --release``)."""

from __future__ import annotations

from pathlib import Path

from attanet_model import load_checkpoint, save_checkpoint


def release_checkpoint(source: str | Path, target: str | Path, half: bool = True, notes: dict | None = None) -> Path:
    """A deployment copy of a training checkpoint: fp16 weights, no optimizer state, no aux heads
    (``load_checkpoint`` builds the inference network, which has none)."""
    model, meta, _ = load_checkpoint(source)
    if notes:
        meta.training.update(notes)
    return save_checkpoint(target, model, meta, extra=None, half=half)
