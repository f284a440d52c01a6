"""BatchNorm folding for inference: the same outputs with no BatchNorm left, by declared pairs only."""

import copy

import pytest
import torch

from attanet_model import build_model
from attanet_model.layers import conv_bn_pairs, fold_batchnorm


def with_random_statistics(model):
    """BatchNorm layers with non-trivial statistics and affine terms, so folding has work to do."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)
    return model.eval()


@pytest.mark.parametrize("arch", ["attanet_light", "attanet_r18", "attanet_r50"])
def test_folded_model_gives_the_same_logits(arch):
    torch.manual_seed(0)
    model = with_random_statistics(build_model(arch))
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 96, 160)
    with torch.inference_mode():
        reference, result = model(x).logits, folded(x).logits
        ref_attention, attention = model(x, return_attention=True).attention, folded(x, return_attention=True).attention
    torch.testing.assert_close(result, reference, rtol=1e-3, atol=1e-3)  # fp32 rounding through 50 layers
    torch.testing.assert_close(attention, ref_attention, rtol=1e-4, atol=1e-5)


def test_folding_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="call model.eval"):
        fold_batchnorm(build_model("attanet_light").train())


def test_pairs_are_the_ones_the_modules_name():
    model = build_model("attanet_r18").eval()
    pairs = dict(conv_bn_pairs(model))
    batchnorms = [name for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert sorted(pairs.values()) == sorted(batchnorms)  # every BatchNorm, each once
    assert pairs["backbone.layer2.0.downsample.0"] == "backbone.layer2.0.downsample.1"
    assert pairs["afm.conv_attention"] == "afm.bn_attention"
    assert pairs["sam.query.0"] == "sam.query.1"


def test_an_unlisted_batchnorm_is_refused_and_nothing_is_folded():
    model = with_random_statistics(build_model("attanet_light"))
    # a conv -> BN in a plain Sequential: registration order would pair it, but nothing declares it
    model.sam.query = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 1, bias=False), torch.nn.BatchNorm2d(64)).eval()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"no module lists in conv_bn_pairs: sam\.query\.1"):
        fold_batchnorm(model)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == len(conv_bn_pairs(model)) + 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_declared_pair_that_does_not_fit_is_refused():
    model = build_model("attanet_light").eval()
    model.refine[1] = torch.nn.BatchNorm2d(32).eval()  # refine's conv has 64 outputs
    with pytest.raises(ValueError, match=r"refine\.0 \(64 ch\) \+ refine\.1 \(32"):
        fold_batchnorm(model)


def test_folding_twice_changes_nothing():
    model = with_random_statistics(build_model("attanet_light"))
    folded = fold_batchnorm(copy.deepcopy(model))
    again = fold_batchnorm(copy.deepcopy(folded))
    for key, value in folded.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
