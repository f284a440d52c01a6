"""BatchNorm folding for inference: the same outputs with no BatchNorm left."""

import copy

import pytest
import torch

from attanet_model import build_model
from attanet_model.layers import fold_batchnorm


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
        reference, result = model(x), folded(x)
        ref_attention, attention = model(x, return_attention=True)[1], folded(x, return_attention=True)[1]
    torch.testing.assert_close(result, reference, rtol=1e-3, atol=1e-3)  # fp32 rounding through 50 layers
    torch.testing.assert_close(attention, ref_attention, rtol=1e-4, atol=1e-5)


def test_folding_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="call model.eval"):
        fold_batchnorm(build_model("attanet_light").train())
