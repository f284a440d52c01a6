"""User mistakes in train / eval / predict / synth arguments: one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import cv2
import pytest
import torch
import yaml

from attanet_training.cli import synth_main, train_main
from attanet_training.config import TrainConfig
from attanet_training.eval_cli import eval_main, predict_main


def _one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_config_values_are_checked_together_before_any_work(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "run"
    base = [
        "--config",
        "synthetic_light",
        "--data-root",
        str(mini_cityscapes),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert train_main(base + ["--set", "iterations=2.7"]) == 2
    assert "'iterations': cannot use 2.7 (expected a whole number)" in _one_line(capsys)

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"iterations": 0, "scales": [], "lr": -0.1, "ckpt_interval": 0}))
    assert train_main(["--config", str(bad), "--data-root", str(mini_cityscapes), "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert "4 invalid value(s)" in line
    for part in ("iterations: 0 (expected", "scales: [] (expected at least one scale", "lr: -0.1", "ckpt_interval: 0"):
        assert part in line, line
    assert not out.exists()  # nothing half-written


def test_output_paths_that_are_files_and_impossible_synth_sizes(tmp_path, capsys):
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    assert predict_main(["--input", str(tmp_path), "--out", str(a_file)]) == 2
    assert "--out" in (line := _one_line(capsys)) and "existing file" in line
    assert synth_main(["--out", str(a_file), "--num", "1", "--size", "64x128"]) == 2
    assert "existing file" in _one_line(capsys)
    assert a_file.read_text() == "keep me"

    huge = tmp_path / "huge"
    assert synth_main(["--out", str(huge), "--num", "1", "--size", "100000x1024"]) == 2
    line = _one_line(capsys)
    assert "100000x1024 (HxW)" in line and "GiB" in line, line
    assert not huge.exists()


def test_synth_refuses_to_mix_frame_sizes_in_a_split(tmp_path, capsys):
    root = tmp_path / "data"
    assert synth_main(["--out", str(root), "--num", "1", "--size", "64x128", "--json"]) == 0
    capsys.readouterr()
    assert synth_main(["--out", str(root), "--num", "1", "--size", "96x128", "--seed", "1"]) == 2
    line = _one_line(capsys)
    assert "already holds 64x128 (HxW) frames" in line and "--size 64x128" in line, line
    assert "--overwrite" in line
    assert len(list((root / "leftImg8bit" / "train").glob("*/*.png"))) == 1
    # another split may have its own size; --overwrite replaces the split
    assert synth_main(["--out", str(root), "--num", "1", "--size", "96x128", "--split", "val"]) == 0
    argv = ["--out", str(root), "--num", "2", "--size", "96x128", "--seed", "1", "--overwrite"]
    assert synth_main(argv) == 0
    frames = sorted((root / "leftImg8bit" / "train").glob("*/*.png"))
    assert len(frames) == 2 and {cv2.imread(str(p)).shape[:2] for p in frames} == {(96, 128)}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("classes: [{name: floor, color: [1, 2, 3]\n", "is not valid YAML at line 2"),
        ("classes:\n  - {name: floor, color: red}\n", "class 'floor' colour red must be three values 0..255"),
        ("classes:\n  - {name: floor, value: one}\n", "class 'floor' pixel value one must be unique in 0..254"),
    ],
)
def test_a_broken_classes_file_is_one_line(tmp_path, capsys, text, expected):
    path = tmp_path / "classes.yaml"
    path.write_text(text)
    for main in (eval_main, predict_main):
        argv = ["--dataset", "custom", "--data-root", str(tmp_path), "--classes-file", str(path)]
        assert main(argv + (["--out", str(tmp_path / "pred")] if main is predict_main else [])) == 2
        line = _one_line(capsys)
        assert str(path) in line and expected in line, line
    assert not (tmp_path / "pred").exists()


def test_a_batch_of_one_per_process_is_refused_before_anything_runs(mini_cityscapes, tmp_path, capsys):
    # the reason, checked on the network itself: BatchNorm after the AFM's global pooling
    from attanet_model import build_model

    model = build_model("attanet_light", 19).train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        model(torch.zeros(1, 3, 64, 64))
    model(torch.zeros(2, 3, 64, 64))  # two samples train

    out = tmp_path / "run"
    argv = ["--config", "synthetic_light", "--data-root", str(mini_cityscapes), "--out", str(out)]
    assert train_main([*argv, "--device", "cpu", "--batch-size", "1"]) == 2
    assert _one_line(capsys) == (
        "attanet train: error: synthetic_light: 1 invalid value(s): batch_size: 1 (expected at least 2 samples per "
        "process: "
        "the AFM's BatchNorm after global pooling needs 2 or more values per channel in training; the smallest "
        "batch that works here is 2)"
    )
    assert not out.exists()
    # under torchrun the batch is the total: 2 processes need 4 (SyncBatchNorm on CUDA counts them together)
    cfg = TrainConfig(arch="attanet_r18", batch_size=2)
    assert "batch_size: 2 over 2 processes" in cfg.problems(world_size=2)[0]
    assert "the smallest batch that works here is 4" in cfg.problems(world_size=2)[0]
    assert cfg.problems(world_size=2, cuda=True) == []
    assert TrainConfig(batch_size=3).problems(world_size=2) == [
        "batch_size: 3 (expected a multiple of the 2 processes: it is the total over all of them, e.g. 4)"
    ]
