"""SAM against a direct, loop-by-loop reading of the paper's equations."""

import math

import pytest
import torch

from attanet_model.attention import StripAttention


def sam_by_the_paper(sam: StripAttention, f: torch.Tensor) -> torch.Tensor:
    """F'_j = sum_i A[j,i] V_i + F_j with A[j,i] = softmax_i(Q_j . K_i), strips = column means."""
    q = sam.query(f)[0]  # C' x H x W
    k = sam.key(f)[0]
    v = sam.value(f)[0]  # C x H x W
    c, h, w = f.shape[1:]
    key_strips = [k[:, :, i].mean(dim=1) for i in range(w)]  # Striping: H x 1 average pool
    value_strips = [v[:, :, i].mean(dim=1) for i in range(w)]
    out = f[0].clone()
    for y in range(h):
        for x in range(w):
            scores = [float(q[:, y, x] @ key_strips[i]) for i in range(w)]
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            total = sum(weights)
            for i in range(w):
                out[:, y, x] += (weights[i] / total) * value_strips[i]
    return out[None]


@pytest.fixture
def sam():
    module = StripAttention(channels=6, key_channels=4).eval()
    for bn in (module.query[1], module.key[1], module.value[1]):  # non-trivial BN statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return module


@torch.no_grad()
def test_sam_matches_paper_equations(sam):
    f = torch.randn(1, 6, 5, 7)
    out, attention = sam(f)
    assert torch.allclose(out, sam_by_the_paper(sam, f), atol=1e-5)
    assert attention.shape == (1, 5 * 7, 7)
    assert torch.allclose(attention.sum(-1), torch.ones(1, 35), atol=1e-6)


@torch.no_grad()
def test_horizontal_sam_is_vertical_sam_on_transposed_input(sam):
    horizontal = StripAttention(channels=6, key_channels=4, direction="horizontal").eval()
    horizontal.load_state_dict(sam.state_dict())
    f = torch.randn(2, 6, 5, 7)
    out_h, attention_h = horizontal(f)
    out_v, attention_v = sam(f.transpose(2, 3))
    assert torch.allclose(out_h, out_v.transpose(2, 3), atol=1e-6)
    assert attention_h.shape == (2, 35, 5)  # attention over the H row strips
    assert torch.allclose(attention_h, attention_v)


def test_sam_rejects_unknown_direction():
    with pytest.raises(ValueError, match="diagonal"):
        StripAttention(8, direction="diagonal")


@torch.no_grad()
def test_sam_affinity_stays_fp32_under_bfloat16_autocast(sam):
    f = torch.randn(1, 6, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, attention = sam(f)
    assert attention.dtype == torch.float32
