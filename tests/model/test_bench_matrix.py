"""`attanet bench` without --backends/--precision: every CPU backend and precision in one round-robin
run, with speed-up over ONNX Runtime fp32, agreement with torch fp32, mIoU and auto's pick."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from cpu_kinds import AMX_CPU, OLD_CPU

from attanet_bench.cpu_matrix import cpu_variants, matrix_markdown, run_matrix
from attanet_bench.eval_frames import read_eval_frames
from attanet_model import default_model_path
from attanet_model.auto_backend import MIN_AGREEMENT
from attanet_model.cpu_capabilities import this_cpu
from attanet_model.quantize import CALIBRATION_DIR, read_images


def write_frames(root, n, size=(128, 256), missing_label=None):
    """Labelled frames in the Cityscapes layout (what `attanet synth` writes), one label left out if asked."""
    rng = np.random.default_rng(1000)
    images, labels = root / "leftImg8bit" / "val" / "town", root / "gtFine" / "val" / "town"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(images / f"town_{i:06d}_leftImg8bit.png"), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        if i != missing_label:
            gt = rng.integers(0, 19, size, dtype=np.uint8)
            cv2.imwrite(str(labels / f"town_{i:06d}_gtFine_labelTrainIds.png"), gt)
    return root


def test_rows_follow_the_cpu_kind():
    assert [v.name for v in cpu_variants(AMX_CPU, openvino=True)] == [
        "torch fp32",
        "torch fp32 +compile",
        "torch bf16",
        "torch bf16 +compile",
        "onnxruntime fp32",
        "onnxruntime int8",
        "openvino fp32",
        "openvino bf16",
        "openvino int8",
    ]
    names = [v.name for v in cpu_variants(OLD_CPU, compile_rows=False, openvino=False)]
    assert names == ["torch fp32", "onnxruntime fp32", "onnxruntime int8"]


def test_an_eval_frame_without_its_label_is_skipped_and_named(tmp_path):
    found = read_eval_frames(write_frames(tmp_path, 3, missing_label=1))
    assert len(found.pairs) == 2
    assert found.skipped == [
        "town_000001_leftImg8bit.png: no readable town_000001_gtFine_labelTrainIds.png of the image's size"
    ]
    with pytest.raises(ValueError, match="attanet synth --out"):
        read_eval_frames(tmp_path / "nothing")


def test_bench_measures_every_backend_and_precision_and_marks_autos_pick(tmp_path):
    eval_root = write_frames(tmp_path / "eval", 2)
    args = ["--arch", "attanet_light", "--model", str(default_model_path()), "--size", "64x128"]
    args += ["--rounds", "2", "--eval-data", str(eval_root), "--no-compile", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "attanet_cli", "bench", *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["variant"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert list(rows) == [v.name for v in cpu_variants(this_cpu(), compile_rows=False)]
    assert rows["onnxruntime fp32"]["speedup_vs_ort_fp32"] == 1.0
    assert rows["torch fp32"]["agreement_vs_torch_fp32"] == 1.0
    assert all(r["miou"] is not None and r["ms"] > 0 for r in rows.values())
    assert {r["agreement_frames"] for r in rows.values()} == {"2 eval frames"}
    (picked,) = [name for name, r in rows.items() if r["auto_pick"]]
    eligible = [name for name, r in rows.items() if r["agreement_vs_torch_fp32"] >= MIN_AGREEMENT]
    assert picked == max(eligible, key=lambda name: rows[name]["speedup_vs_ort_fp32"])


def test_agreement_is_measured_on_the_eval_frames_not_the_calibration_frames():
    """int8 is calibrated on the calibration frames: with eval frames, agreement must be measured on those."""
    calibration = read_images(CALIBRATION_DIR)
    rng = np.random.default_rng(7)
    unseen = [cv2.GaussianBlur(rng.integers(0, 256, f.shape, dtype=np.uint8), (0, 0), 3) for f in calibration[:3]]

    def agreements(eval_images):
        pairs = [(image, np.zeros(image.shape[:2], np.uint8)) for image in eval_images] if eval_images else None
        rows = run_matrix("attanet_light", default_model_path(), 64, 128, calibration, pairs, 1, 1, False)
        return {r.variant: r.agreement_vs_torch_fp32 for r in rows}, rows

    on_calibration, rows = agreements(None)
    assert {r.agreement_frames for r in rows} == {"6 calibration frames"}
    assert "labels = torch fp32 (on 6 calibration frames)" in matrix_markdown(rows)
    same_frames, rows = agreements(calibration)
    assert {r.agreement_frames for r in rows} == {"6 eval frames"}
    assert same_frames == on_calibration  # the same pixels judged: the same numbers
    on_unseen, rows = agreements(unseen)
    assert {r.agreement_frames for r in rows} == {"3 eval frames"}
    assert on_unseen["torch fp32"] == 1.0
    changed = [v for v in on_unseen if on_unseen[v] != on_calibration[v]]
    assert "onnxruntime int8" in changed, (on_unseen, on_calibration)


def test_the_suites_int8_agreement_note_is_on_the_eval_frames_when_given():
    from attanet_bench.eval_frames import EvalFrames
    from attanet_bench.suite import int8_agreement_note

    calibration = read_images(CALIBRATION_DIR)[:3]
    rng = np.random.default_rng(7)
    unseen = [cv2.GaussianBlur(rng.integers(0, 256, f.shape, dtype=np.uint8), (0, 0), 3) for f in calibration[:2]]
    as_eval = lambda images: EvalFrames([(image, np.zeros(image.shape[:2], np.uint8)) for image in images])  # noqa: E731
    on_calibration = int8_agreement_note(default_model_path(), calibration)
    same = int8_agreement_note(default_model_path(), calibration, as_eval(calibration))
    other = int8_agreement_note(default_model_path(), calibration, as_eval(unseen))
    assert "(on the 3 calibration frames; calibrated on 3 frames;" in on_calibration
    assert "(on 3 unseen eval frames; calibrated on 3 frames;" in same
    assert "(on 2 unseen eval frames; calibrated on 3 frames;" in other
    percent = lambda note: note.split(" of pixels")[0].rsplit(" ", 1)[1]  # noqa: E731
    assert percent(same) == percent(on_calibration) != percent(other)
