"""What every model file must pass besides its format: usable weights, and an integrity hash.

Weights: a NaN or infinite value, or a negative BatchNorm running variance (its square root is
NaN), makes every pixel one class with NaN confidence while the file loads and the node runs.
``weights_problem`` names the first such tensor; checkpoints, ONNX initializers and official
state dicts are all refused through it.

Hash: files this project writes carry a SHA-256 of what they hold (checkpoints: metadata and
weights; ONNX: the whole serialized model). A file without one was written before the hash
existed, or had it removed: it loads with a warning that says how to re-save it
(``attanet seal``), except the files this project itself shipped without one, known here by the
SHA-256 of their bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
# SHA-256 of the file -> where the package ships it. Only files written before model files carried a
# hash; tests/model/test_integrity.py checks this table against the package's model files.
SHIPPED_WITHOUT_HASH = {
    "156fab094490459b73e51533122d3f80bc40fd16fdbe46c9498105465d307440": "weights/attanet_light_synthetic.pt",
}
SEAL_HINT = "`attanet seal {path}` adds one if you trust the file (re-training or re-exporting it does too)"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_shipped_without_hash(path: str | Path) -> bool:
    """Whether ``path`` holds, byte for byte, a model file this project shipped before files carried a hash."""
    return file_sha256(path) in SHIPPED_WITHOUT_HASH


def warn_unsealed(path: str | Path, what: str = "has no integrity hash") -> None:
    """Say (log warning) that ``path`` cannot be verified, unless it is a file this project shipped."""
    if is_shipped_without_hash(path):
        return
    log.warning(
        "model file %s %s, so a damaged or edited file would load unnoticed; %s",
        path,
        what,
        SEAL_HINT.format(path=path),
    )


def weights_problem(named: Iterable[tuple[str, torch.Tensor | np.ndarray]]) -> str | None:
    """The first tensor that cannot run, in words ('head.2.weight holds 3 NaN values'), or None.

    Floating-point tensors must be finite; a BatchNorm ``running_var`` must not be negative.
    One pass over each tensor when all is well (``isfinite(...).all()``), counting only on a hit.
    """
    for name, values in named:
        problem = _tensor_problem(name, values)
        if problem is not None:
            return problem
    return None


def _tensor_problem(name: str, values: torch.Tensor | np.ndarray) -> str | None:
    values = _as_numpy(values)
    if values.dtype.kind != "f":
        return None
    if not np.isfinite(values).all():
        nans = int(np.isnan(values).sum())
        infs = int(np.isinf(values).sum())
        counts = " and ".join(f"{n} {kind}" for n, kind in ((nans, "NaN"), (infs, "infinite")) if n)
        return f"{name} holds {counts} value{'s' if nans + infs > 1 else ''} (of {values.size})"
    if name.endswith("running_var") and (values < 0).any():
        return f"{name} (a BatchNorm running variance) is negative ({float(values.min()):g}); its square root is NaN"
    return None


def _as_numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """A view of a CPU tensor's values (bfloat16, which numpy lacks, as a float32 copy)."""
    if isinstance(values, np.ndarray):
        return values
    values = values.detach().cpu()
    return (values.float() if values.dtype == torch.bfloat16 else values).numpy()
