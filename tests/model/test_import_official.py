"""``attanet import-official``: an official AttaNet state dict, converted, is the same function.

The reference is ``official_reference.py``: the official networks transcribed with the official
attribute names, so its ``state_dict()`` has the keys the official ``train.py`` saves. Weights
and BatchNorm statistics are random (logits of order 10), the input size is not a multiple of 32.
"""

from __future__ import annotations

import json

import pytest
import torch
from official_reference import OfficialAttaNet, randomise
from torch import nn

from attanet_model import CITYSCAPES_CLASSES, OfficialImportError, Segmenter, import_official, load_checkpoint
from attanet_model.official import convert_official, official_state_dict

ARCHS = ("attanet_light", "attanet_r18")
SIZE = (68, 100)  # neither side a multiple of 32


def reference(arch: str, dtype=torch.float64, classes: int = 19) -> OfficialAttaNet:
    return randomise(OfficialAttaNet(classes, light=arch == "attanet_light"), seed=7).to(dtype).eval()


def frames(dtype, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, *SIZE, generator=torch.Generator().manual_seed(3)).to(dtype)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def train_mode_without_dropout(*models: nn.Module) -> None:
    """BatchNorm on batch statistics; Dropout (AttaNet.py's heads) off, since the two networks
    draw its masks in a different order."""
    for model in models:
        model.train()
        for m in model.modules():
            if isinstance(m, nn.Dropout2d):
                m.eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_same_function_fp64_eval_and_train(arch):
    official = reference(arch)
    ours = convert_official(official.state_dict(), arch, dtype=torch.float64)
    x = frames(torch.float64, batch=2)
    with torch.no_grad():
        expected = official(x)[0]
        assert 3 < float(expected.std()) < 30  # of order 10: a wrong tensor shows
        assert max_diff(ours(x).logits, expected) < 1e-8
    # Train mode. Official aux1 = conv_out1 (AFM branch), aux2 = conv_out2 (res3); ours names them.
    train_mode_without_dropout(official, ours)
    with torch.no_grad():
        main, aux_afm, aux_res3 = official(x)
        got = ours(x)
    assert max_diff(got.logits, main) < 1e-8
    assert max_diff(got.aux["afm"], aux_afm) < 1e-8
    assert max_diff(got.aux["res3"], aux_res3) < 1e-8


@pytest.mark.parametrize("arch", ARCHS)
def test_import_official_file_fp32_through_segmenter_paths(arch, tmp_path):
    official = reference(arch, torch.float32)
    state = {f"module.{k}": v for k, v in official.state_dict().items()}  # saved from the DDP wrapper
    if arch == "attanet_r18":
        assert any(k.startswith("module.head.resnet.fc.") for k in state)  # dropped on import
    torch.save(state, tmp_path / "model_final.pth")
    out, meta = import_official(tmp_path / "model_final.pth", arch, tmp_path / "imported.pt")
    model, loaded, _ = load_checkpoint(out)
    assert loaded.arch == arch and loaded.classes == CITYSCAPES_CLASSES
    assert loaded.mean == (0.485, 0.456, 0.406) and loaded.std == (0.229, 0.224, 0.225)
    x = frames(torch.float32)
    with torch.no_grad():
        expected, got = official(x)[0], model(x).logits
    assert max_diff(got, expected) < 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))  # 100 % of the labels
    Segmenter(out).segment(torch.randint(0, 255, (*SIZE, 3), dtype=torch.uint8).numpy())  # deploys


def swap(state: dict, a: str, b: str) -> dict:
    """``state`` with the tensors under the module paths ``a`` and ``b`` exchanged."""
    out = {}
    for key, value in state.items():
        if key.startswith(a + "."):
            key = b + key[len(a) :]
        elif key.startswith(b + "."):
            key = a + key[len(b) :]
        out[key] = value
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_negative_control_swapped_sam_mapping_fails(arch):
    """Loading the official SAM by name order (conv1 -> query) gives a network that loads
    without complaint and computes something else; the comparison must catch it."""
    official = reference(arch)
    ours = convert_official(swap(official.state_dict(), "head.sam.conv1", "head.sam.conv2"), arch, dtype=torch.float64)
    with torch.no_grad():
        x = frames(torch.float64)
        assert max_diff(ours(x).logits, official(x)[0]) > 1e-3


def test_negative_control_swapped_aux_heads_fail():
    """In AttaNet.py both aux heads take 128 channels, so mapping conv_out1/conv_out2 by order
    loads silently; the train-mode comparison of the aux outputs must catch it."""
    official = reference("attanet_r18")
    ours = convert_official(swap(official.state_dict(), "conv_out1", "conv_out2"), "attanet_r18", dtype=torch.float64)
    x = frames(torch.float64, batch=2)
    train_mode_without_dropout(official, ours)
    with torch.no_grad():
        _, aux_afm, aux_res3 = official(x)
        got = ours(x).aux
    assert max_diff(got["afm"], aux_afm) > 1e-3 and max_diff(got["res3"], aux_res3) > 1e-3


def test_state_dict_wrapper_and_class_count(tmp_path):
    official = reference("attanet_light", torch.float32, classes=5)
    torch.save({"state_dict": official.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    assert len(official_state_dict(tmp_path / "wrapped.pth")) == len(official.state_dict())
    out, meta = import_official(tmp_path / "wrapped.pth", "attanet_light", tmp_path / "five.pt", num_classes=5)
    assert meta.num_classes == 5 and load_checkpoint(out)[1].num_classes == 5
    with pytest.raises(OfficialImportError, match="--num-classes 19 given, but its classifier has 5 outputs"):
        import_official(tmp_path / "wrapped.pth", "attanet_light", tmp_path / "bad.pt", num_classes=19)
    assert not (tmp_path / "bad.pt").exists()


def test_wrong_keys_are_listed_and_nothing_is_written(tmp_path):
    state = reference("attanet_light", torch.float32).state_dict()
    state["head.extra.weight"] = torch.zeros(1)
    del state["head.conv_head81.conv.weight"]
    state["head.conv_head2.conv.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(OfficialImportError) as err:
        import_official(tmp_path / "odd.pth", "attanet_light", tmp_path / "out.pt")
    message = str(err.value)
    assert "head.extra.weight" in message
    assert "conv_low2.0.weight" in message  # the missing conv_head81, in this package's name
    assert "refine.0.weight (64, 64, 1, 1) vs (64, 64, 3, 3)" in message
    assert not (tmp_path / "out.pt").exists()


def test_cli_import_official(tmp_path, capsys):
    from attanet_cli import main

    torch.save(reference("attanet_light", torch.float32).state_dict(), tmp_path / "light.pth")
    src = str(tmp_path / "light.pth")
    assert main(["import-official", src, "--arch", "attanet_light", "--out", str(tmp_path / "m.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 19 and (tmp_path / "m.pt").is_file()
    assert main(["import-official", src, "--arch", "attanet_r18", "--out", str(tmp_path / "r18.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attanet import-official: ") and "unknown key(s)" in err and "Traceback" not in err
    assert "its keys look like --arch attanet_light" in err
    assert not (tmp_path / "r18.pt").exists()


@pytest.mark.parametrize(
    "key, poison, expected",
    [
        ("conv_out.conv_out.weight", float("nan"), "conv_out.conv_out.weight holds 1 NaN value"),
        ("head.sam.conv3.bn.running_var", -0.5, "head.sam.conv3.bn.running_var (a BatchNorm running variance) is"),
    ],
    ids=["nan-classifier", "negative-running-var"],
)
def test_a_diverged_official_state_dict_is_refused_by_tensor_name_and_nothing_written(
    tmp_path, capsys, key, poison, expected
):
    """Such files used to import, and every pixel came out 'road' with NaN confidence."""
    from attanet_cli import main

    state = reference("attanet_light", torch.float32).state_dict()
    state[key].view(-1)[0] = poison
    torch.save(state, tmp_path / "diverged.pth")
    out = tmp_path / "m.pt"
    assert main(["import-official", str(tmp_path / "diverged.pth"), "--arch", "attanet_light", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"attanet import-official: {tmp_path / 'diverged.pth'} has unusable weights: {expected}")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [tmp_path / "diverged.pth"]


def test_import_official_to_a_full_disk_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys):
    from storage_faults import files_under, full_disk

    from attanet_cli import main

    torch.save(reference("attanet_light", torch.float32).state_dict(), tmp_path / "light.pth")
    disk = tmp_path / "disk"
    with full_disk(disk):
        out = disk / "m.pt"
        code = main(["import-official", str(tmp_path / "light.pth"), "--arch", "attanet_light", "--out", str(out)])
        left = files_under(disk)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err == (
        f"attanet import-official: cannot write {out}: no space left on {disk} (the disk is full); "
        "free some space or write to another folder\n"
    )
    assert left == {}
