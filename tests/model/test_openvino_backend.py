"""The openvino backend on real frames with the bundled model: labels agree with torch fp32, the
precision hint is set and read back, bf16 by capability, one compiled model per network size; and
the other backends' precisions (onnxruntime bf16 refused, int8 files reported as int8, torch bf16
and torch.compile on the CPU)."""

import logging

import numpy as np
import pytest
from cpu_kinds import AMX_CPU, OLD_CPU

from attanet_model import Segmenter, build_model, save_checkpoint
from attanet_model.auto_backend import AutoSettings
from attanet_model.checkpoint import ModelMeta
from attanet_model.cpu_capabilities import this_cpu
from attanet_model.model_files import ModelFiles
from attanet_model.quantize import CALIBRATION_DIR, read_images

pytestmark = pytest.mark.skipif(this_cpu().openvino is None, reason="openvino is not installed")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache folder per module: the bundled model is exported (and quantized) once for all tests."""
    return tmp_path_factory.mktemp("attanet-cache")


@pytest.fixture(scope="module")
def frames():
    return read_images(CALIBRATION_DIR)  # six 512x1024 street frames -> network 256x512


@pytest.fixture(scope="module")
def torch_labels(frames):
    seg = Segmenter(backend="torch", precision="fp32")
    return [seg.segment(f).labels for f in frames]


def agreement(seg, frames, reference) -> float:
    same = sum(int((seg.segment(f).labels == r).sum()) for f, r in zip(frames, reference, strict=True))
    return same / sum(r.size for r in reference)


@pytest.mark.parametrize("precision", ["fp32", "int8", "bf16"])
def test_openvino_labels_agree_with_torch_fp32_on_real_frames(precision, cache, frames, torch_labels):
    if precision == "bf16" and not this_cpu().openvino_bf16:
        pytest.skip(f"OpenVINO offers no bf16 on {this_cpu().model} (refusal tested below)")
    seg = Segmenter(backend="openvino", precision=precision, cache_dir=cache)
    assert (seg.backend, seg.precision) == ("openvino", precision)
    assert agreement(seg, frames, torch_labels) >= 0.995
    hint = "bf16" if precision == "bf16" else "f32"  # an int8 file keeps its fp32 layers in f32
    assert seg._engine.inference_precision == hint  # read back from the compiled model
    assert seg.provider.startswith(f"openvino CPU {precision} (inference precision {hint}, ")


def test_fp32_hint_is_set_even_where_openvino_would_default_to_bf16(cache):
    import openvino as ov

    seg = Segmenter(backend="openvino", precision="fp32", cache_dir=cache)
    seg.segment(np.zeros((128, 256, 3), np.uint8))
    compiled, _ = seg._engine._compiled[(64, 128)]
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == str(ov.Type.f32)
    assert compiled.get_property("NUM_STREAMS") == 1 and compiled.get_property("INFERENCE_NUM_THREADS") >= 1


def test_one_compiled_model_per_network_size(cache):
    seg = Segmenter(backend="openvino", precision="fp32", cache_dir=cache)
    for hw in [(128, 256), (256, 512), (128, 256), (256, 512), (130, 250)]:  # 130x250 -> 64x128 again
        seg.segment(np.zeros((*hw, 3), np.uint8))
    assert seg._engine.compiles == 2 and set(seg._engine._compiled) == {(64, 128), (128, 256)}


def test_bf16_is_refused_or_allowed_by_the_cpu_capabilities(cache):
    with pytest.raises(ValueError, match="needs BF16 among OpenVINO's CPU capabilities, and Skylake offers"):
        Segmenter(backend="openvino", precision="bf16", cache_dir=cache, auto=AutoSettings(cpu=OLD_CPU))
    with pytest.raises(ValueError, match="torch needs a CPU with AVX512-BF16 or AMX-BF16 and Skylake has neither"):
        Segmenter(backend="torch", precision="bf16", auto=AutoSettings(cpu=OLD_CPU))
    # the capabilities say yes: the engine is built (and what OpenVINO really runs is read back)
    seg = Segmenter(backend="openvino", precision="bf16", cache_dir=cache, auto=AutoSettings(cpu=AMX_CPU))
    assert seg.precision == "bf16"


def test_a_checkpoint_is_exported_once_into_the_cache_and_reused(cache):
    files = ModelFiles(Segmenter(backend="torch", precision="fp32").model_path, cache)
    fp32 = files.onnx()
    assert fp32.parent == cache / files.sha256[:16] and fp32.is_file()
    before = fp32.stat().st_mtime_ns
    Segmenter(backend="onnxruntime", precision="fp32", cache_dir=cache)
    assert fp32.stat().st_mtime_ns == before  # not exported again
    assert not list(fp32.parent.glob("*.partial.onnx"))  # nothing half-written left


def test_onnxruntime_bf16_no_longer_claims_bf16(cache):
    with pytest.raises(ValueError, match="onnxruntime on the CPU would run fp32 .* use backend openvino or torch"):
        Segmenter(backend="onnxruntime", precision="bf16", cache_dir=cache)


def test_an_int8_file_runs_and_is_reported_as_int8(cache):
    int8 = ModelFiles(Segmenter(backend="torch", precision="fp32").model_path, cache).onnx(int8=True)
    for backend in ("onnxruntime", "openvino"):
        seg = Segmenter(int8, backend=backend, precision="fp32")  # the file decides: fp32 cannot run it
        assert seg.precision == "int8"
        assert seg.segment(np.zeros((128, 256, 3), np.uint8)).labels.shape == (128, 256)
    # on a CPU with bf16 (injected: this one may lack it, and is then refused for that first) the file refuses it
    with pytest.raises(ValueError, match="is an int8 model; precision 'bf16' cannot run it"):
        Segmenter(int8, backend="openvino", precision="bf16", auto=AutoSettings(cpu=AMX_CPU))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    model = build_model("attanet_light").eval()
    path = tmp_path_factory.mktemp("tiny") / "light.pt"
    return save_checkpoint(path, model, ModelMeta.for_model(model, "attanet_light"))


def test_torch_compile_runs_on_the_cpu_and_says_how_long_it_took(tiny_checkpoint, caplog):
    image = np.random.default_rng(0).integers(0, 256, (128, 256, 3), dtype=np.uint8)
    eager = Segmenter(tiny_checkpoint, backend="torch", precision="fp32").segment(image).labels
    compiled = Segmenter(tiny_checkpoint, backend="torch", precision="fp32", compile_mode="default")
    assert compiled.provider == "torch cpu fp32 (torch.compile default)"
    with caplog.at_level(logging.INFO, logger="attanet_model.engines"):
        labels = compiled.segment(image).labels
        compiled.segment(image)  # the same size: compiled once
    said = [r.getMessage() for r in caplog.records if "torch.compile" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("torch.compile (inductor, mode default, fp32) compiled for")
    assert (labels == eager).mean() >= 0.995
