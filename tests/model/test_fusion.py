"""AFM against its formula, and the ablation fusions."""

import pytest
import torch
import torch.nn.functional as F

from attanet_model.fusion import AddFusion, AttentionFusion, ConcatFusion, build_fusion


@torch.no_grad()
def test_afm_matches_formula():
    afm = AttentionFusion(low_channels=8, high_channels=12).eval()
    afm.bn_attention.running_mean.uniform_(-1, 1)
    low, high_raw, high = torch.randn(2, 8, 6, 10), torch.randn(2, 12, 3, 5), torch.randn(2, 8, 3, 5)

    # alpha = sigmoid(BN(W_a . GAP(ConvBNReLU_1x1([low, up(high_raw)]))))
    up_raw = high_raw.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest x2
    mixed = afm.conv(torch.cat([low, up_raw], 1))
    gap = mixed.mean(dim=(2, 3))
    bn = afm.bn_attention
    z = gap @ afm.conv_attention.weight[:, :, 0, 0].T
    z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    alpha = torch.sigmoid(z)[:, :, None, None]
    expected = low * (1 - alpha) + (high * alpha).repeat_interleave(2, 2).repeat_interleave(2, 3)

    fused, high_weighted = afm(low, high_raw, high)
    assert torch.allclose(fused, expected, atol=1e-5)
    assert torch.allclose(high_weighted, F.interpolate(high * alpha, size=(6, 10), mode="nearest"), atol=1e-6)
    assert ((alpha > 0) & (alpha < 1)).all()


@torch.no_grad()
def test_ablation_fusions():
    low, high_raw, high = torch.randn(1, 4, 4, 4), torch.randn(1, 6, 2, 2), torch.randn(1, 4, 2, 2)
    fused, _ = AddFusion()(low, high_raw, high)
    assert torch.allclose(fused, low + F.interpolate(high, size=(4, 4)))
    concat = ConcatFusion(4, 6).eval()
    fused, _ = concat(low, high_raw, high)
    assert torch.allclose(fused, concat.conv(torch.cat([low, F.interpolate(high_raw, size=(4, 4))], 1)))
    with pytest.raises(ValueError, match="fusion must be one of"):
        build_fusion("multiply", 4, 6)
