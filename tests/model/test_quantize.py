"""Static int8 quantization: a real QDQ graph, metadata kept, labels close to fp32."""

import json
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
from onnx_files import conv_weight_ints

from attanet_bench.suite import interleaved_speedup, label_agreement
from attanet_model import Segmenter, default_model_path, load_checkpoint
from attanet_model.onnx_export import export_onnx, read_onnx_meta
from attanet_model.quantize import CALIBRATION_DIR, quantize_int8, read_images


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8")
    model, meta, _ = load_checkpoint(default_model_path())
    fp32 = export_onnx(model, meta, tmp / "m.onnx", argmax=True)
    frames = read_images(CALIBRATION_DIR)
    return fp32, quantize_int8(fp32, tmp / "m.int8.onnx", meta, frames[:4], (256, 512)), frames


def test_int8_graph_is_quantized_and_self_describing(models):
    fp32, int8, _ = models
    proto = onnx.load(str(int8))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    int8_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 10  # conv weights stored as int8
    assert "Softmax" in ops  # SAM's affinity stays fp32
    assert read_onnx_meta(int8)[0] == read_onnx_meta(fp32)[0]
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size


def test_int8_labels_agree_with_fp32_on_held_out_frames(models):
    fp32, int8, frames = models
    agreement = label_agreement(fp32, int8, frames[4:], (256, 512))  # frames not used for calibration
    assert agreement >= 0.95, agreement
    assert Segmenter(int8).segment(frames[4]).labels.shape == frames[4].shape[:2]


def test_empty_calibration_folder_is_an_error(tmp_path, models):
    fp32, _, _ = models
    with pytest.raises(ValueError, match="no .png/.jpg images"):
        read_images(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attanet_cli",
            "export",
            "--out",
            str(tmp_path / "x.onnx"),
            "--int8",
            "--calib",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no .png/.jpg images" in proc.stderr


def test_export_cli_honours_the_opset_skips_a_bad_calibration_image_and_checks_int8(tmp_path):
    """One export as a user runs it: --opset 20, a calibration folder with one broken file, --check, for a
    CPU without VNNI (--int8-weight-bits 7)."""
    import shutil

    calib = tmp_path / "calib"
    shutil.copytree(CALIBRATION_DIR, calib)
    (calib / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut off")
    out = tmp_path / "m.onnx"
    argv = ["export", "--out", str(out), "--opset", "20", "--int8", "--int8-weight-bits", "7", "--calib", str(calib)]
    argv += ["--check", "--json"]
    proc = subprocess.run([sys.executable, "-m", "attanet_cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    written = [o.version for o in onnx.load(str(out)).opset_import if o.domain in ("", "ai.onnx")]
    assert summary["opset"] == 20 and written == [20]
    assert summary["calibration_frames"] == 6
    assert summary["calibration_skipped"] == [
        {"file": str(calib / "zz_broken.png"), "reason": "not a readable image (truncated, empty or another format)"}
    ]
    assert f"calibration image {calib / 'zz_broken.png'} skipped" in proc.stderr and "Traceback" not in proc.stderr
    assert Segmenter(summary["int8"]).meta.arch == "attanet_light"
    assert summary["int8_weight_bits"] == 7
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in conv_weight_ints(summary["int8"])) == 64
    check = summary["int8_check"]
    assert 0.9 < check["label_agreement_vs_fp32"] <= 1.0 and check["frames"].startswith("the 6 calibration frames")


def test_export_refuses_an_int8_weight_width_without_int8(tmp_path, capsys):
    from attanet_cli import main

    assert main(["export", "--out", str(tmp_path / "m.onnx"), "--int8-weight-bits", "7"]) == 2
    assert capsys.readouterr().err.startswith("attanet export: --int8-weight-bits 7 goes with --int8")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("opset", [5, 17, 999])
def test_export_refuses_an_opset_it_cannot_write(tmp_path, capsys, opset):
    from attanet_cli import main

    assert main(["export", "--out", str(tmp_path / "m.onnx"), "--opset", str(opset)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"attanet export: --opset {opset} cannot be written; this exporter writes 18..")
    assert list(tmp_path.iterdir()) == []


def test_calibration_folder_without_a_usable_image_names_the_files(tmp_path, capsys):
    from attanet_cli import main

    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "a.png").write_bytes(b"not an image")
    cv2.imwrite(str(calib / "b.png"), np.zeros((4, 4, 3), np.uint8))  # too small for the network
    assert main(["export", "--out", str(tmp_path / "m.onnx"), "--int8", "--calib", str(calib)]) == 2
    err = capsys.readouterr().err
    assert f"none of the 2 images under {calib} can calibrate int8 ({calib / 'a.png'}: not a readable image" in err
    assert f"{calib / 'b.png'}: image size 4x4 (HxW) is outside the supported range" in err
    assert not (tmp_path / "m.onnx").exists()


def test_interleaved_speedup_times_both_models(models):
    fp32, int8, _ = models
    slow_ms, fast_ms = interleaved_speedup(fp32, int8, 128, 256, repeats=3)
    assert slow_ms > 0 and fast_ms > 0
    with pytest.raises(Exception, match="NO_SUCHFILE|No such file|doesn't exist|Load model"):
        interleaved_speedup(fp32.with_name("missing.onnx"), int8, 128, 256, repeats=1)


@pytest.mark.slow
def test_an_int8_model_that_does_not_fit_is_one_line_exit_2_naming_the_fp32_model_written(tmp_path, capsys):
    """Two exports (~10 s each): one to measure the fp32 file, one onto a disk with room for it alone."""
    from storage_faults import files_under, full_disk

    from attanet_cli import main

    assert main(["export", "--out", str(tmp_path / "measure.onnx")]) == 0
    capsys.readouterr()
    disk = tmp_path / "disk"
    with full_disk(disk, free_bytes=(tmp_path / "measure.onnx").stat().st_size + 8192):
        out = disk / "m.onnx"
        code = main(["export", "--out", str(out), "--int8"])
        left = files_under(disk)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err == (
        f"attanet export: cannot write {disk / 'm.int8.onnx'}: no space left on {disk} (the disk is full); "
        f"free some space or write to another folder (the fp32 model {out} was written)\n"
    )
    assert left == {"m.onnx": (tmp_path / "measure.onnx").stat().st_size}
