"""Shapes for every arch, training outputs, ablation switches, Table 3 figures, torchvision keys."""

import pytest
import torch

from attanet_model import ARCHS, build_model
from attanet_model.complexity import count_macs, count_params
from attanet_model.network import AUX_HEADS, without_aux_heads


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("size", [(64, 128), (96, 160), (100, 150)])
@torch.no_grad()
def test_output_shapes(arch, size):
    model = build_model(arch, num_classes=7).eval()
    output = model(torch.randn(1, 3, *size))
    assert output.aux is None and output.attention is None  # eval, not asked for
    logits = output.logits
    assert logits.shape == (1, 7, *size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", ["attanet_r18", "attanet_light"])
def test_training_returns_main_and_two_aux_outputs(arch):
    model = build_model(arch, num_classes=5).train()
    output = model(torch.randn(2, 3, 64, 64))
    assert list(output.aux) == ["res3", "afm"] and output.attention is None
    outputs = [output.logits, *output.aux.values()]
    assert [tuple(o.shape) for o in outputs] == [(2, 5, 64, 64)] * 3
    sum(o.mean() for o in outputs).backward()
    assert model.aux_head_res3[2].weight.grad is not None and model.aux_head_afm[2].weight.grad is not None


@torch.no_grad()
def test_attention_output_covers_the_strips():
    model = build_model("attanet_r18").eval()
    attention = model(torch.randn(1, 3, 128, 256), return_attention=True).attention
    assert attention.shape == (1, (128 // 16) * (256 // 16), 256 // 16)  # N pixels x W strips at 1/16
    assert torch.allclose(attention.sum(-1), torch.ones(1, attention.shape[1]), atol=1e-5)


@torch.no_grad()
def test_ablation_switches_change_the_network():
    no_sam = build_model("attanet_r18", use_sam=False).eval()
    assert no_sam.sam is None
    assert no_sam(torch.randn(1, 3, 64, 64), return_attention=True).attention is None
    for fusion in ("add", "concat"):
        logits = build_model("attanet_r18", fusion=fusion).eval()(torch.randn(1, 3, 64, 64)).logits
        assert logits.shape == (1, 19, 64, 64)
    with pytest.raises(ValueError, match="unknown arch"):
        build_model("attanet_r34")


def test_paper_table3_and_parameter_count():
    model = build_model("attanet_r18")
    macs = count_macs(model, 1024, 1024)
    assert macs["sam"] == pytest.approx(0.185, abs=0.0015)  # Table 3, SAM-vertical
    assert macs["afm"] == pytest.approx(0.336, abs=0.0015)  # Table 3, AFM
    assert macs["sam"] + macs["afm"] == pytest.approx(0.521, abs=0.002)  # Table 2, both modules
    assert macs["total"] == pytest.approx(sum(v for k, v in macs.items() if k != "total"), rel=1e-6)
    params = count_params(model)
    assert params["total"] == pytest.approx(12.6e6, rel=0.01)  # official count, no aux heads
    assert params["total_with_aux"] > params["total"]
    horizontal = count_macs(build_model("attanet_r18", sam_direction="horizontal"), 1024, 1024)
    assert horizontal["sam"] == pytest.approx(0.185, abs=0.0015)  # SAM-horizontal, same cost on a square input


def torchvision_resnet_keys(blocks, bottleneck):
    """The state-dict keys torchvision.models.resnet produces (written out from its layout)."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["conv1.weight"] + [f"bn1.{s}" for s in bn]
    convs = 3 if bottleneck else 2
    for layer, n in enumerate(blocks, start=1):
        for b in range(n):
            prefix = f"layer{layer}.{b}"
            for c in range(1, convs + 1):
                keys += [f"{prefix}.conv{c}.weight"] + [f"{prefix}.bn{c}.{s}" for s in bn]
            if b == 0 and (layer > 1 or bottleneck):
                keys += [f"{prefix}.downsample.0.weight"] + [f"{prefix}.downsample.1.{s}" for s in bn]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize(
    "arch,blocks,bottleneck", [("attanet_r18", [2, 2, 2, 2], False), ("attanet_r50", [3, 4, 6, 3], True)]
)
def test_backbone_uses_torchvision_names_and_loads_imagenet_weights(tmp_path, arch, blocks, bottleneck):
    reference = build_model(arch).backbone.state_dict()
    expected = torchvision_resnet_keys(blocks, bottleneck)
    assert sorted(reference) == sorted(k for k in expected if not k.startswith("fc."))
    # A torchvision-style file: every backbone tensor plus the ImageNet classifier.
    state = {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v for k, v in reference.items()}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512 * (4 if bottleneck else 1)), torch.randn(1000)
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    model = build_model(arch, pretrained_backbone=path)
    assert torch.equal(model.backbone.layer3[1].conv1.weight, state["layer3.1.conv1.weight"])


def test_pretrained_weights_of_the_wrong_depth_are_rejected(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save(build_model("attanet_r50").backbone.state_dict(), path)
    with pytest.raises(ValueError, match="do not fit the backbone"):
        build_model("attanet_r18", pretrained_backbone=path)
    with pytest.raises(FileNotFoundError, match="not found"):
        build_model("attanet_r18", pretrained_backbone=tmp_path / "missing.pth")


def test_inference_build_has_no_aux_heads_and_computes_the_same_logits():
    torch.manual_seed(0)
    full = build_model("attanet_light", num_classes=5).eval()
    inference = build_model("attanet_light", num_classes=5, aux_heads=False)
    assert not inference.has_aux_heads and inference.aux_head_res3 is None and inference.aux_head_afm is None
    assert list(inference.state_dict()) == list(without_aux_heads(full.state_dict()))  # same keys, same order
    assert all(k.split(".")[0] in AUX_HEADS for k in set(full.state_dict()) - set(inference.state_dict()))
    inference.load_state_dict(without_aux_heads(full.state_dict()))
    x = torch.randn(2, 3, 64, 96)  # two frames: train-mode BatchNorm over AFM's pooled 1x1 map
    with torch.no_grad():
        torch.testing.assert_close(inference.eval()(x).logits, full(x).logits)
        trained = inference.train()(x)
    assert trained.aux is None and trained.logits.shape == (2, 5, 64, 96)  # training mode: l_p only
    assert count_params(inference)["total"] == count_params(full)["total"] == count_params(inference)["total_with_aux"]


@torch.no_grad()
def test_backbones_return_named_features():
    x = torch.randn(1, 3, 64, 128)
    res = build_model("attanet_r18").backbone.eval()(x)
    assert res.fine is res.aux  # res3: supervised by the first aux head and the output grid
    assert [tuple(f.shape[1:]) for f in (res.aux, res.low, res.high)] == [(128, 8, 16), (256, 4, 8), (512, 2, 4)]
    light = build_model("attanet_light_compact").backbone.eval()(x)
    assert light.fine is light.low and light.aux is light.high  # the compact variant supervises S3_3
    assert tuple(light.low.shape[1:]) == (64, 8, 16) and tuple(light.high.shape[1:]) == (128, 4, 8)
