"""``attanet eval --protocol official``: evaluate.py's sliding window, against a direct computation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor, nn

from attanet_training.official_eval import official_scores, plan_windows, sliding_scores


class PositionalNet(nn.Module):
    """Cheap (a 1x1 conv), plus a ramp across each window's width, so where a window sits changes
    its output (a position-independent model would hide a misplaced window)."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, classes, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))

    def forward(self, x: Tensor) -> Tensor:
        w = x.shape[3]
        ramp = torch.linspace(0, 3, w, dtype=x.dtype).view(1, 1, 1, w)
        return self.conv(x) + ramp * torch.arange(self.conv.out_channels, dtype=x.dtype).view(1, -1, 1, 1)


def test_window_positions_follow_evaluate_py():
    stride = math.ceil(1024 * 5 / 6)
    assert stride == 854
    plan = plan_windows(1024, 2048)
    # n_x = ceil((2048 - 1024) / 854) + 1 = 3, n_y = 1; the last window ends at the frame's edge
    assert plan.windows == ((0, 0), (0, 854), (0, 1024))
    assert plan.padded == (1024, 2048) and plan.inner == (0, 1024, 0, 2048)
    small = plan_windows(600, 800)  # both sides below the window: padded, centred, one window
    assert small.windows == ((0, 0),) and small.padded == (1024, 1024)
    assert small.inner == ((1024 - 600) // 2, (1024 - 600) // 2 + 600, (1024 - 800) // 2, (1024 - 800) // 2 + 800)
    wide = plan_windows(512, 1400)  # only the short side below: padded on that side
    assert wide.padded == (1024, 1400) and wide.inner == (256, 768, 0, 1400)
    assert wide.windows == ((0, 0), (0, 376))


def direct(net: nn.Module, image: Tensor, windows, size: int, classes: int) -> Tensor:
    """evaluate.py crop_eval + eval_chip written out for frames that need no padding."""
    out = torch.zeros(1, classes, *image.shape[2:], dtype=image.dtype)  # padded frames: cut by the caller
    for y, x in windows:
        chip = image[:, :, y : y + size, x : x + size]
        prob = torch.softmax(net(chip), 1) + torch.flip(torch.softmax(net(torch.flip(chip, dims=(3,))), 1), dims=(3,))
        out[:, :, y : y + size, x : x + size] += torch.exp(prob)
    return out


@torch.no_grad()
def test_sliding_scores_equal_a_direct_per_window_computation_on_1024x2048():
    net = PositionalNet().eval()
    image = torch.randn(1, 3, 1024, 2048, generator=torch.Generator().manual_seed(1))
    got = sliding_scores(net, image, 3, window=1024, flip=True)
    expected = direct(net, image, [(0, 0), (0, 854), (0, 1024)], 1024, 3)
    assert float((got - expected).abs().max()) < 1e-5
    # overlaps are summed: columns 854..2047 are covered by two windows, the rest by one
    assert float(got[0, :, :, :854].sum(0).min()) >= 3 and float(got[0, :, :, 1024:1878].sum(0).min()) >= 6
    # and the position matters for this net: one full-frame pass is not the same thing
    assert float((got - direct(net, image, [(0, 0)], 2048, 3)[..., :2048]).abs().max()) > 0.01


@torch.no_grad()
def test_small_frame_is_padded_once_and_scales_resize_back():
    net = PositionalNet().double().eval()
    image = torch.randn(1, 3, 60, 90, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    got = sliding_scores(net, image, 3, window=64)
    padded = torch.zeros(1, 3, 64, 90, dtype=torch.float64)  # long side 90 >= 64: pad H only, centred
    padded[:, :, 2:62] = image
    # stride ceil(64 * 5 / 6) = 54, n_x = ceil((90 - 64) / 54) + 1 = 2, the second ends at the edge
    windows = [(0, 0), (0, 26)]
    assert plan_windows(60, 90, 64).windows == tuple(windows)
    expected = direct(net, padded, windows, 64, 3)[:, :, 2:62]
    assert float((got - expected).abs().max()) < 1e-12
    multi = official_scores(net, image, 3, scales=(0.75, 1.0), window=64)
    assert multi.shape == (1, 3, 60, 90)
    resized = torch.nn.functional.interpolate(image, (45, 67), mode="bilinear", align_corners=True)
    part = torch.nn.functional.interpolate(
        sliding_scores(net, resized, 3, window=64), (60, 90), mode="bilinear", align_corners=True
    )
    assert float((multi - part - got).abs().max()) < 1e-12


def test_cli_protocol_official(mini_cityscapes, tmp_path, capsys):
    from attanet_model import CITYSCAPES_CLASSES, ModelMeta, build_model, save_checkpoint
    from attanet_training.eval_cli import eval_main

    model = build_model("attanet_light", len(CITYSCAPES_CLASSES)).eval()
    ckpt = save_checkpoint(tmp_path / "m.pt", model, ModelMeta.for_model(model, "attanet_light"))
    argv = ["--model", str(ckpt), "--data-root", str(mini_cityscapes), "--max-images", "2", "--json"]
    assert eval_main([*argv, "--protocol", "official", "--window", "64"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "official" and result["frames"] == 2 and result["flip"] is True
    assert result["window"] == 64 and result["scales"] == [1.0]
    assert eval_main([*argv, "--protocol", "official", "--backend", "onnxruntime"]) == 2
    assert "runs the torch model in fp32" in capsys.readouterr().err
    assert eval_main(argv) == 0 and json.loads(capsys.readouterr().out)["protocol"] == "deploy"


def test_window_too_small_is_refused():
    with pytest.raises(ValueError, match="at least 32 pixels, got 8"):
        plan_windows(100, 100, 8)
