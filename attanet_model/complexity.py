"""Parameter counts and multiply-adds per module (paper Tables 3 and 4).

Multiply-adds come from torch's FlopCounterMode, which counts convolutions and matrix
products (SAM's two ``bmm``s included) and reports 2 FLOPs per multiply-add. Element-wise
ops, pooling, softmax and interpolation are not counted, as in the paper's figures.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .network import AttaNet

# The decoder's 3x3 projections, smoothing and refinement belong to "head" together with the
# classifier: Table 3 charges AFM and SAM only for their own layers.
GROUPS = {
    "backbone": ("backbone",),
    "afm": ("afm",),
    "sam": ("sam",),
    "head": ("conv_low", "conv_high", "conv_low2", "conv_high2", "smooth", "refine", "head"),
}
AUX = ("aux_head_res3", "aux_head_afm")


def count_params(model: AttaNet) -> dict[str, int]:
    """Per top-level module; ``total`` is the deployed network (no aux heads, as the paper counts)."""
    per = {name: sum(p.numel() for p in m.parameters()) for name, m in model.named_children()}
    out = {"total": sum(v for k, v in per.items() if k not in AUX)}
    out.update(per)
    out["total_with_aux"] = sum(per.values())
    return out


@torch.no_grad()
def count_macs(model: AttaNet, height: int, width: int, batch: int = 1) -> dict[str, float]:
    """GMACs of one eval-mode forward at ``batch x 3 x height x width``, grouped as GROUPS."""
    was_training = model.training
    model.eval()
    x = torch.zeros(batch, 3, height, width)
    with FlopCounterMode(display=False, depth=None) as counter:
        model(x)
    model.train(was_training)
    flops = counter.get_flop_counts()
    prefix = type(model).__name__
    per_module = {name: sum(flops.get(f"{prefix}.{name}", {}).values()) / 2e9 for name, _ in model.named_children()}
    out = {"total": sum(flops.get(prefix, {}).values()) / 2e9}
    for group, members in GROUPS.items():
        out[group] = sum(per_module.get(m, 0.0) for m in members)
    return out
