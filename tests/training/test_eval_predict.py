"""``attanet eval`` against the official cityscapesscripts evaluation of ``attanet predict`` output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from attanet_model import CITYSCAPES_CLASSES, Segmenter
from attanet_training.eval_cli import eval_main, predict_main
from attanet_training.synth import generate_dataset


@pytest.fixture(scope="module")
def val_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval_val")
    generate_dataset(root, 3, 128, 256, seed=21, split="val")
    return root


def _official(pred_dir: Path, root: Path) -> dict:
    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as ev

    args = ev.args
    saved = dict(vars(args))
    try:
        args.predictionPath, args.predictionWalk = str(pred_dir), None
        args.evalInstLevelScore, args.JSONOutput, args.quiet, args.evalPixelAccuracy = False, False, True, False
        gts = sorted(str(p) for p in (root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
        preds = [ev.getPrediction(args, gt) for gt in gts]
        return ev.evaluateImgLists(preds, gts, args)
    finally:
        vars(args).update(saved)


def test_eval_miou_equals_the_official_evaluation_of_predict_output(val_root, tmp_path, capsys):
    assert eval_main(["--data-root", str(val_root), "--split", "val", "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert ours["frames"] == 3 and ours["input_scale"] == Segmenter().input_scale
    pred = tmp_path / "pred"
    assert (
        predict_main(
            ["--data-root", str(val_root), "--split", "val", "--out", str(pred), "--label-format", "labelIds", "--json"]
        )
        == 0
    )
    written = json.loads(capsys.readouterr().out)
    assert written["written"] == 3
    official = _official(pred, val_root)
    assert ours["miou"] == pytest.approx(official["averageScoreClasses"], abs=1e-12)
    for name, value in ours["iou"].items():
        reference = official["classScores"][name]
        if value is None:
            assert math.isnan(reference), name
        else:
            assert value == pytest.approx(reference, abs=1e-12), name


def test_predict_keeps_the_stem_and_writes_each_format(val_root, tmp_path, capsys):
    for fmt in ("trainIds", "color"):
        out = tmp_path / fmt
        assert predict_main(["--data-root", str(val_root), "--out", str(out), "--label-format", fmt, "--json"]) == 0
        files = json.loads(capsys.readouterr().out)["files"]
        names = sorted(Path(f).relative_to(out).as_posix() for f in files)
        assert names[0] == f"synth21/synth21_000000_000019_{fmt}.png"
        img = cv2.imread(files[0], cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == (128, 256)
        if fmt == "trainIds":
            assert img.ndim == 2 and img.max() < 19
            trained = img
        else:
            palette = np.array([c.color[::-1] for c in CITYSCAPES_CLASSES], np.uint8)  # BGR on disk
            np.testing.assert_array_equal(img, palette[trained])
    folder = tmp_path / "plain" / "sub"
    folder.mkdir(parents=True)
    frame = cv2.imread(str(next((val_root / "leftImg8bit").rglob("*.png"))))
    cv2.imwrite(str(folder / "frame.jpg"), frame)
    assert predict_main(["--input", str(tmp_path / "plain"), "--out", str(tmp_path / "plain_out"), "--json"]) == 0
    assert (tmp_path / "plain_out" / "sub" / "frame_trainIds.png").exists()
    capsys.readouterr()


def test_eval_plots_flip_scales_and_user_errors(val_root, tmp_path, capsys):
    plots = tmp_path / "plots"
    assert (
        eval_main(
            [
                "--data-root",
                str(val_root),
                "--flip",
                "--scales",
                "0.5",
                "0.75",
                "--max-images",
                "1",
                "--plots",
                str(plots),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["flip"] is True and result["scales"] == [0.5, 0.75] and result["frames"] == 1
    assert 0.0 <= result["miou"] <= 1.0
    for name in ("iou_bar.png", "confusion_matrix.png"):
        img = cv2.imread(str(plots / name))
        assert img is not None and img.shape[0] > 100
    assert eval_main(["--data-root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert eval_main(["--data-root", str(val_root), "--model", str(tmp_path / "missing.pt")]) == 2
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_predict_on_a_full_or_read_only_disk_says_which_file_and_why_and_leaves_nothing(val_root, tmp_path, fault):
    """cv2.imwrite reported success for PNGs a full disk left empty: eight 0-byte files, 'written: 8', rc 0."""
    import subprocess
    import sys

    from storage_faults import files_under, full_disk, read_only_folder

    disk = tmp_path / "disk"
    with full_disk(disk) if fault == "full" else read_only_folder(disk):
        done = subprocess.run(
            [sys.executable, "-m", "attanet_cli", "predict", "--data-root", str(val_root), "--out", str(disk / "pred")]
            + ["--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        left = files_under(disk)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    cause = "no space left on" if fault == "full" else "is on a read-only file system"
    assert line.startswith("attanet predict: error: cannot ") and str(disk) in line and cause in line, line
    assert left == {}  # neither empty PNGs nor temporary files
