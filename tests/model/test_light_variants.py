"""The official light network and the compact variant shipped before it, side by side.

``tests/model/data/compact_light_labels/`` holds the labels the bundled model gave on the six
calibration frames before ``attanet_light`` became ``AttaNet_light.py``'s network (written with
``Segmenter().segment`` at that commit), so any change to how old checkpoints are built shows.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
from torch import nn

from attanet_model import Segmenter, build_model, default_model_path
from attanet_model.checkpoint import read_checkpoint
from attanet_model.network import ARCHS

CALIBRATION = Path(__file__).parents[2] / "attanet_model" / "assets" / "calibration"
EXPECTED = Path(__file__).parent / "data" / "compact_light_labels"


def test_bundled_model_segments_exactly_as_before():
    meta = read_checkpoint(default_model_path())["meta"]
    assert "decoder" not in meta["arch_config"]  # written before the switch existed
    segmenter = Segmenter()
    assert segmenter.meta.arch_config["decoder"] == "attanet"
    frames = sorted(CALIBRATION.glob("*.jpg"))
    assert len(frames) == 6
    for frame in frames:
        expected = cv2.imread(str(EXPECTED / f"{frame.stem}.png"), cv2.IMREAD_UNCHANGED)
        labels = segmenter.segment(cv2.imread(str(frame))).labels
        assert labels.shape == expected.shape
        differ = int((labels != expected).sum())
        assert differ == 0, f"{frame.name}: {differ} of {labels.size} labels changed"


def test_official_light_structure():
    official = build_model("attanet_light")
    compact = build_model("attanet_light_compact")
    assert official.config.decoder == "attanet_light" and compact.config.decoder == "attanet"
    # AttaNet_light.py: 3x3 AFM mixing over the two projected 64-channel levels (128 in).
    assert official.afm.conv[0].weight.shape == (64, 128, 3, 3)
    assert compact.afm.conv[0].weight.shape == (64, 192, 1, 1)
    assert official.conv_low2 is not None and compact.conv_low2 is None
    assert not any(isinstance(m, nn.Dropout2d) for m in official.modules())
    assert sum(isinstance(m, nn.Dropout2d) for m in compact.modules()) == 3


def test_official_light_aux_head_reads_the_penultimate_conv():
    model = build_model("attanet_light").eval()
    x = torch.randn(1, 3, 96, 160)
    aux, low, high = model.backbone(x)
    stage3 = model.backbone.stage3
    torch.testing.assert_close(aux, stage3[1](stage3[0](low)))
    torch.testing.assert_close(high, stage3[2](aux))
    assert aux.shape == high.shape == (1, 128, 6, 10)


def test_decoder_needs_the_light_backbone():
    from attanet_model.network import ArchConfig, AttaNet

    with pytest.raises(ValueError, match="needs the light backbone"):
        AttaNet(ArchConfig("resnet18", decoder="attanet_light"))
    with pytest.raises(ValueError, match="unknown decoder 'nope'"):
        AttaNet(ArchConfig("light", head_channels=64, decoder="nope"))


def test_both_light_variants_are_registered():
    assert ARCHS["attanet_light"].backbone == ARCHS["attanet_light_compact"].backbone == "light"
    for arch in ("attanet_light", "attanet_light_compact"):
        model = build_model(arch, 5).train()
        outputs = model(torch.randn(2, 3, 70, 90))
        assert [o.shape for o in outputs] == [(2, 5, 70, 90)] * 3
        assert all(torch.isfinite(o).all() for o in outputs)


def test_info_reports_the_compact_variant_next_to_the_official_light(capsys):
    import json

    from attanet_model.cli import info_main
    from attanet_model.complexity import count_macs, count_params

    assert info_main(["--arch", "attanet_light", "--height", "64", "--width", "96", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    compact = build_model("attanet_light_compact")
    assert report["params"]["total"] == count_params(build_model("attanet_light"))["total"]
    assert report["compact_variant"]["params"]["total"] == count_params(compact)["total"]
    assert report["compact_variant"]["gmacs"]["total"] == pytest.approx(count_macs(compact, 64, 96)["total"])
    assert report["params"]["total"] > report["compact_variant"]["params"]["total"]
    assert info_main(["--arch", "attanet_light_compact", "--height", "64", "--width", "64", "--json"]) == 0
    assert "compact_variant" not in json.loads(capsys.readouterr().out)
