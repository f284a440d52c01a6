"""Static int8 quantization: a real QDQ graph, metadata kept, labels close to fp32."""

import json
import subprocess
import sys

import onnx
import pytest

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


def test_export_cli_writes_int8_with_bundled_calibration(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "attanet_cli", "export", "--out", str(tmp_path / "m.onnx"), "--int8", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["calibration_frames"] == 6
    assert Segmenter(summary["int8"]).meta.arch == "attanet_light"


def test_interleaved_speedup_times_both_models(models):
    fp32, int8, _ = models
    slow_ms, fast_ms = interleaved_speedup(fp32, int8, 128, 256, repeats=3)
    assert slow_ms > 0 and fast_ms > 0
    with pytest.raises(Exception, match="NO_SUCHFILE|No such file|doesn't exist|Load model"):
        interleaved_speedup(fp32.with_name("missing.onnx"), int8, 128, 256, repeats=1)
