"""Online hard example mining cross-entropy (official AttaNet ``loss.py`` ``OhemCELoss``).

Average the per-pixel cross-entropy over the pixels whose loss exceeds -log(0.7) (predicted
probability of the true class below 0.7); if fewer than ``n_min`` pixels are that hard, average
the ``n_min`` largest losses instead. Easy pixels (most of the road and sky) then stop
dominating the gradient. ``n_min`` is one of:

- this project's default: ``min_kept_fraction`` (1/16) of the batch's *valid* pixels;
- the official count (``min_kept_pixels`` > 0): a fixed number per process batch, ``train.py``
  ``n_min = cropsize[0] * cropsize[1] // 2`` (1/16 of its 8 x 1024 x 1024 pixels per GPU), taken
  from the sort of *all* pixels, where ignored pixels have loss 0 (``CrossEntropyLoss(
  ignore_index=255, reduction="none")``) and so count towards ``n_min`` and the mean when there
  are fewer hard pixels than that.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from attanet_model.network import SegmentationOutput


class OhemCrossEntropy(nn.Module):
    def __init__(
        self,
        thresh: float = 0.7,
        min_kept_fraction: float = 1 / 16,
        ignore_index: int = 255,
        min_kept_pixels: int = 0,
    ) -> None:
        super().__init__()
        if not 0 < thresh < 1:
            raise ValueError(f"OHEM threshold is a probability in (0, 1), got {thresh}")
        if min_kept_pixels < 0:
            raise ValueError(f"OHEM min_kept_pixels must be >= 0 (0: use the fraction), got {min_kept_pixels}")
        self.loss_thresh = -math.log(thresh)
        self.min_kept_fraction = min_kept_fraction
        self.min_kept_pixels = min_kept_pixels
        self.ignore_index = ignore_index

    def kept_count(self, loss: Tensor, labels: Tensor) -> int:
        """How many of the per-pixel ``loss`` values the mean is taken over."""
        hard = int((loss > self.loss_thresh).sum())
        if self.min_kept_pixels:
            n_min = min(self.min_kept_pixels, loss.numel())
        else:
            n_min = int((labels != self.ignore_index).sum().item() * self.min_kept_fraction)
        return hard if hard >= n_min else n_min

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        loss = F.cross_entropy(logits, labels, ignore_index=self.ignore_index, reduction="none").view(-1)
        kept = self.kept_count(loss, labels)
        if kept == 0:  # nothing valid in the batch: a zero that still has a graph
            return loss.sum() * 0.0
        hard = loss[loss > self.loss_thresh]
        if hard.numel() < kept:
            hard, _ = loss.topk(kept)
        return hard.mean()


class DeepSupervisionLoss(nn.Module):
    """Paper Eq. (6): L = l_p + lambda * sum_{i=1..K} l_i, K = 2 aux outputs, lambda = 1.

    Takes the network's ``SegmentationOutput``; each loss is computed in fp32 (the logits may be
    fp16 under autocast). ``loss_aux1`` / ``loss_aux2`` are the aux heads in the output's order
    (res3, then the alpha-weighted coarse branch); a network built without aux heads gives l_p only.
    """

    def __init__(self, criterion: nn.Module, aux_weight: float = 1.0) -> None:
        super().__init__()
        self.criterion = criterion
        self.aux_weight = aux_weight

    def forward(self, outputs: SegmentationOutput, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(total loss, its parts as detached 0-d tensors): the caller reads them from the device
        when it logs, together with the total, in one transfer."""
        principal = self.criterion(outputs.logits.float(), labels)
        aux = [self.criterion(o.float(), labels) for o in (outputs.aux or {}).values()]
        total = principal + self.aux_weight * sum(aux) if aux else principal
        parts = {"loss_principal": principal.detach()}
        parts.update({f"loss_aux{i + 1}": a.detach() for i, a in enumerate(aux)})
        return total, parts
