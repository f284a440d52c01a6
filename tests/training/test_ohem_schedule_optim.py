"""OHEM loss against a direct computation; lr schedule values; SGD parameter groups."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attanet_model import build_model
from attanet_model.network import SegmentationOutput
from attanet_training.ohem_loss import DeepSupervisionLoss, OhemCrossEntropy
from attanet_training.optim import build_sgd, param_groups
from attanet_training.schedule import poly_lr_factor, warmup_poly_scheduler


def _direct_ohem(logits, labels, thresh=0.7, frac=1 / 16):
    logp = F.log_softmax(logits, 1)
    losses, n_valid = [], 0
    b, _, h, w = logits.shape
    for i in range(b):
        for y in range(h):
            for x in range(w):
                c = int(labels[i, y, x])
                if c == 255:
                    losses.append(0.0)
                    continue
                n_valid += 1
                losses.append(-float(logp[i, c, y, x]))
    hard = [v for v in losses if v > -math.log(thresh)]
    n_min = int(n_valid * frac)
    if len(hard) < n_min:
        hard = sorted(losses, reverse=True)[:n_min]
    return sum(hard) / len(hard)


@pytest.mark.parametrize("scale", [0.2, 8.0])  # mostly-hard and mostly-easy pixels: both OHEM branches
def test_ohem_matches_direct_computation(scale):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 6, 7), generator=g)
    labels[0, :2] = 255
    logits = torch.randn(2, 4, 6, 7, generator=g)
    logits += scale * F.one_hot(labels.clamp(max=3), 4).permute(0, 3, 1, 2).float()
    ours = OhemCrossEntropy(0.7, 1 / 16)(logits, labels)
    assert float(ours) == pytest.approx(_direct_ohem(logits, labels), rel=1e-5)
    if scale == 8.0:  # nearly every pixel is easy: the min-kept branch must be what ran
        n_hard = int((F.cross_entropy(logits, labels, ignore_index=255, reduction="none") > -math.log(0.7)).sum())
        assert n_hard < int((labels != 255).sum()) // 16


def test_deep_supervision_sums_principal_and_aux_losses():
    crit = OhemCrossEntropy()
    labels = torch.randint(0, 3, (1, 4, 4))
    outs = tuple(torch.randn(1, 3, 4, 4) for _ in range(3))
    output = SegmentationOutput(outs[0], {"res3": outs[1], "afm": outs[2]})
    total, parts = DeepSupervisionLoss(crit, aux_weight=1.0)(output, labels)
    assert float(total) == pytest.approx(sum(float(crit(o, labels)) for o in outs), rel=1e-6)
    assert parts["loss_aux1"] == pytest.approx(float(crit(outs[1], labels)), rel=1e-6)  # res3 first
    assert set(parts) == {"loss_principal", "loss_aux1", "loss_aux2"}
    principal_only, parts = DeepSupervisionLoss(crit)(SegmentationOutput(outs[0]), labels)  # no aux heads
    assert float(principal_only) == pytest.approx(float(crit(outs[0], labels))) and set(parts) == {"loss_principal"}


def test_poly_schedule_values():
    assert poly_lr_factor(0, 1000, 0.9, 100, 0.1) == pytest.approx(0.1)
    assert poly_lr_factor(50, 1000, 0.9, 100, 0.1) == pytest.approx(0.55)
    assert poly_lr_factor(100, 1000, 0.9, 100, 0.1) == pytest.approx(1.0)
    assert poly_lr_factor(550, 1000, 0.9, 100, 0.1) == pytest.approx(0.5**0.9)
    assert poly_lr_factor(1000, 1000, 0.9, 100, 0.1) == 0.0
    assert poly_lr_factor(500, 1000, 0.9, 0) == pytest.approx(0.5**0.9)  # the paper's plain poly


def test_scheduler_keeps_head_groups_at_ten_times_the_base_lr():
    model = build_model("attanet_light", 5)
    opt = build_sgd(model, lr=0.01, momentum=0.9, weight_decay=5e-4, head_lr_mult=10)
    sched = warmup_poly_scheduler(opt, 100, 0.9, 10, 0.1)
    for _ in range(30):
        opt.step()
        sched.step()
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    expected = 0.01 * poly_lr_factor(30, 100, 0.9, 10, 0.1)
    assert lrs["backbone"] == pytest.approx(expected) and lrs["head"] == pytest.approx(10 * expected)


def test_no_weight_decay_on_norms_and_biases():
    model = build_model("attanet_light", 5)
    groups = {g["name"]: g for g in param_groups(model, 0.01, 5e-4, 10)}
    names = {id(p): n for n, p in model.named_parameters()}
    for g in groups.values():
        for p in g["params"]:
            is_norm_or_bias = p.ndim <= 1
            assert (g["weight_decay"] == 0) == is_norm_or_bias, names[id(p)]
            assert (g["lr"] == 0.01) == names[id(p)].startswith("backbone."), names[id(p)]
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
