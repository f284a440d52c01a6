"""``attanet demo`` scores only a model whose classes are the ground truth's (refused before anything starts)."""

from __future__ import annotations

import shutil

import pytest
import torch

from attanet_model import ClassInfo, ModelMeta, build_model, save_checkpoint


@pytest.fixture(scope="module")
def floor_model(tmp_path_factory):
    """A 2-class (floor, obstacle) checkpoint, as a custom-data user would have (an .onnx export of it
    carries the same ModelMeta, read by the same check)."""
    torch.manual_seed(0)
    model = build_model("attanet_light", num_classes=2).eval()
    classes = (ClassInfo(0, "floor", (0, 255, 0)), ClassInfo(1, "obstacle", (255, 0, 0)))
    meta = ModelMeta.for_model(model, "attanet_light", classes)
    return save_checkpoint(tmp_path_factory.mktemp("floor") / "floor.pt", model, meta)


def run_demo(monkeypatch, capsys, *argv) -> tuple[int, str]:
    from attanet_demo import PROFILE_VARIABLE, demo_main

    monkeypatch.setenv(PROFILE_VARIABLE, "")  # the demo sets it for its own process; keep it to this test
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    capsys.readouterr()
    code = demo_main([*map(str, argv), "--headless", "--frames", "2", "--size", "64x128"])
    return code, capsys.readouterr().err


def test_model_of_another_class_table_is_refused_before_the_node_starts(tmp_path, monkeypatch, capsys, floor_model):
    code, err = run_demo(monkeypatch, capsys, "--out", tmp_path, "--model", floor_model, "--no-progress")
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        f"attanet demo: class tables differ: model {floor_model} predicts 2 classes: floor, obstacle, but the "
        "demo's ground truth is labelled with the 19 Cityscapes classes; score a model trained on this label set"
    )
    assert not (tmp_path / "logs").exists() and not (tmp_path / "summary.json").exists()  # no process was started


def test_damaged_model_is_refused_with_exit_2(tmp_path, monkeypatch, capsys):
    from damaged_files import flip_tensor_bytes

    from attanet_model import default_model_path

    model = tmp_path / "damaged.pt"
    shutil.copy(default_model_path(), model)
    flip_tensor_bytes(model)
    code, err = run_demo(monkeypatch, capsys, "--out", tmp_path / "out", "--model", model, "--no-progress")
    assert code == 2, err
    assert f"attanet demo: model file {model} is corrupt" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before the synthetic drive was generated
