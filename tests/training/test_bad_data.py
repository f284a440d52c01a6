"""One bad file in a split (truncated image, label values outside the table) is named and counted,
never fatal for the other files: eval, predict, training (and --strict-data stops with a save)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_train import tiny_config

from attanet_model import Segmenter
from attanet_model.checkpoint import read_checkpoint
from attanet_training.datasets import ADE20KDataset, BadSampleError, CityscapesDataset
from attanet_training.eval_cli import eval_main, predict_main
from attanet_training.evaluate import evaluate_segmenter
from attanet_training.sample_stream import SampleStream
from attanet_training.synth import generate_dataset
from attanet_training.trainer import Trainer
from attanet_training.transforms import TrainTransform


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def damaged_val(tmp_path) -> tuple[Path, Path, Path]:
    """3 val frames: one image truncated, one label with 500 pixels of labelId 200 (not in the table)."""
    root = tmp_path / "data"
    generate_dataset(root, 3, 64, 128, seed=3, split="val")
    images = sorted((root / "leftImg8bit" / "val").glob("*/*.png"))
    labels = sorted((root / "gtFine" / "val").glob("*/*_labelIds.png"))
    _truncate(images[0])
    raw = cv2.imread(str(labels[1]), cv2.IMREAD_UNCHANGED)
    raw.reshape(-1)[:500] = 200
    cv2.imwrite(str(labels[1]), raw)
    return root, images[0], labels[1]


def test_eval_and_predict_skip_and_name_an_unreadable_frame(damaged_val, tmp_path, capsys):
    root, broken, odd_label = damaged_val
    assert eval_main(["--data-root", str(root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 2
    assert [s["file"] for s in result["skipped"]] == [str(broken)] and "truncated" in result["skipped"][0]["reason"]
    assert [o["file"] for o in result["out_of_range"]] == [str(odd_label)]
    assert "500 pixels with label values 200" in result["out_of_range"][0]["reason"]
    # the score is that of the two good frames, with labelId 200 scored as ignore (like labelId 0)
    dataset = CityscapesDataset(root, "val")
    dataset.samples = dataset.samples[1:]
    fixed = cv2.imread(str(odd_label), cv2.IMREAD_UNCHANGED)
    fixed[fixed == 200] = 0
    cv2.imwrite(str(odd_label), fixed)
    cm, _ = evaluate_segmenter(Segmenter(None), dataset)
    assert result["miou"] == pytest.approx(cm.miou())

    assert eval_main(["--data-root", str(root)]) == 0
    captured = capsys.readouterr()
    assert f"attanet eval: {broken}: cannot be decoded" in captured.err and "1 unreadable skipped" in captured.out

    out = tmp_path / "pred"
    assert predict_main(["--data-root", str(root), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 2 and [s["file"] for s in summary["skipped"]] == [str(broken)]
    assert len(summary["files"]) == 2 and all(cv2.imread(f) is not None for f in summary["files"])


def test_nothing_readable_is_exit_1(tmp_path, capsys):
    root = tmp_path / "data"
    generate_dataset(root, 2, 64, 128, seed=4, split="val")
    for image in (root / "leftImg8bit" / "val").glob("*/*.png"):
        image.write_bytes(b"")
    assert eval_main(["--data-root", str(root), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["frames"] == 0 and "nothing was scored" in captured.err
    assert predict_main(["--input", str(root / "leftImg8bit"), "--out", str(tmp_path / "p")]) == 1
    assert "nothing was written" in capsys.readouterr().err


@pytest.fixture
def damaged_ade(mini_cityscapes, tmp_path) -> tuple[Path, Path, Path]:
    """6 training images in the ADE20K layout: one JPEG truncated, one annotation with value 200 (> 150)."""
    root = tmp_path / "ade"
    source = CityscapesDataset(mini_cityscapes, "train")
    for kind in ("images", "annotations"):
        (root / kind / "training").mkdir(parents=True)
    for i in range(len(source)):
        image, train_ids = source[i]
        cv2.imwrite(
            str(root / "images" / "training" / f"ADE_train_{i:08d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        )
        annotation = np.where(train_ids == 255, 0, train_ids.astype(np.int16) + 1).astype(np.uint8)
        if i == 2:
            annotation[:4] = 200
        cv2.imwrite(str(root / "annotations" / "training" / f"ADE_train_{i:08d}.png"), annotation)
    broken = root / "images" / "training" / "ADE_train_00000004.jpg"
    _truncate(broken)
    return root, broken, root / "annotations" / "training" / "ADE_train_00000002.png"


def test_training_names_skips_and_counts_bad_files(damaged_ade, tmp_path, capsys):
    root, broken, odd = damaged_ade
    cfg = tiny_config(root, tmp_path / "run", dataset="ade20k", iterations=4, batch_size=3, workers=1)
    result = Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
    assert result.exit_code == 0 and result.iteration == 4  # ADE20K value 200 used to be an IndexError
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    bad = {r["bad_data"]["file"]: r["bad_data"] for r in records if "bad_data" in r}
    assert set(bad) == {str(broken), str(odd)}  # 4 iterations x 3 = 2 epochs: each file reported once
    assert bad[str(broken)]["skipped"] and not bad[str(odd)]["skipped"]
    assert "pixels with label values 200 outside the ADE20K annotation values 0..150" in bad[str(odd)]["reason"]
    assert records[-1]["bad_data_files"] == 2
    err = capsys.readouterr().err
    assert f"bad data: {broken}: cannot be decoded" in err
    assert "1 unreadable file(s) skipped; 1 label file(s) with values outside the table" in err

    # the replacement is the next readable sample of the epoch's order: the same in any run
    dataset = ADE20KDataset(root, "train")
    stream = SampleStream(dataset, TrainTransform((64, 64)), seed=0)
    position = next(p for p in range(6) if stream.index_at(p) == 4)
    substitute = stream.index_at(position + 1) if position < 5 else stream.index_at(0)
    image, labels, problems = stream.readable(position)
    np.testing.assert_array_equal(image, dataset.load(substitute)[0])
    assert problems[0]["file"] == str(broken) and problems[0]["skipped"]
    with pytest.raises(BadSampleError, match="cannot be decoded"):
        dataset.load(4)


def test_strict_data_stops_with_a_save_before_the_bad_batch(damaged_ade, tmp_path, capsys):
    root, broken, odd = damaged_ade
    shutil.copy(root / "images" / "training" / "ADE_train_00000000.jpg", broken)  # only the label is wrong now
    cfg = tiny_config(root, tmp_path / "run", dataset="ade20k", iterations=8, batch_size=2, strict_data=True)
    result = Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
    assert result.exit_code == 2 and result.stopped == "bad data"
    assert read_checkpoint(tmp_path / "run" / "last.pt")["extra"]["iteration"] == result.iteration < 8
    err = capsys.readouterr().err
    assert f"--strict-data: {odd}: " in err and f"stopped at iteration {result.iteration}" in err
