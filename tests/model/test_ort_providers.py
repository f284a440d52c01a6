"""ONNX Runtime provider selection: TensorRT -> CUDA -> CPU, options, caches, no silent CPU fallback.

The plan is a pure function of (installed providers, request), so every GPU combination is
checked here on the CPU; the real session path is the CPU one (the GPU runs are bench/run_gpu.sh).
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import onnxruntime
import pytest

from attanet_model import Segmenter, default_model_path, load_checkpoint
from attanet_model.onnx_export import export_onnx
from attanet_model.ort_providers import (
    CPU,
    CUDA,
    PROFILE_FILE,
    TENSORRT,
    ProviderError,
    ProviderRequest,
    check_session_providers,
    default_cache_dir,
    prepare_cache_dir,
    provider_plan,
    read_profile,
    tensorrt_options,
    write_profile,
)

ALL = [TENSORRT, CUDA, CPU]


def test_cuda_asks_for_tensorrt_then_cuda_then_cpu_with_fp16_and_the_cache(tmp_path):
    plan = provider_plan(ALL, ProviderRequest("cuda", "fp16", tmp_path / "trt"))
    assert plan.names == ALL and plan.warnings == ()
    trt = plan.providers[0][1]
    assert trt["trt_fp16_enable"] is True
    assert trt["trt_engine_cache_enable"] is True and trt["trt_timing_cache_enable"] is True
    assert trt["trt_engine_cache_path"] == trt["trt_timing_cache_path"] == str(tmp_path / "trt")
    assert "trt_profile_min_shapes" not in trt  # no recorded sizes: TensorRT builds for the first frame
    assert plan.providers[1] == (CUDA, {"cudnn_conv_algo_search": "EXHAUSTIVE"})
    assert provider_plan(ALL, ProviderRequest("cuda", "fp32", tmp_path)).providers[0][1]["trt_fp16_enable"] is False
    assert provider_plan(ALL, ProviderRequest("cpu")).providers == [CPU]


def test_profile_spans_every_size_and_optimises_for_the_first():
    shapes = ((1, 3, 512, 1024), (1, 3, 256, 512), (1, 3, 384, 640))
    options = tensorrt_options("fp16", "/c", shapes)
    assert options["trt_profile_min_shapes"] == "input:1x3x256x512"
    assert options["trt_profile_max_shapes"] == "input:1x3x512x1024"
    assert options["trt_profile_opt_shapes"] == "input:1x3x512x1024"


@pytest.mark.parametrize(
    "available, expected",
    [
        ([CPU], "TensorrtExecutionProvider, CUDAExecutionProvider are not installed (installed: CPUExecutionProvider)"),
        ([CUDA, CPU], "but TensorrtExecutionProvider is not installed"),
        ([TENSORRT, CPU], "but CUDAExecutionProvider is not installed"),
    ],
    ids=["cpu-only-build", "no-tensorrt", "no-cuda"],
)
def test_a_missing_gpu_provider_is_an_error_unless_fallback_is_allowed(tmp_path, available, expected):
    with pytest.raises(ProviderError, match="set allow_fallback: true") as info:
        provider_plan(available, ProviderRequest("cuda", "fp32", tmp_path))
    assert expected in str(info.value) and "onnxruntime-gpu" in str(info.value)
    plan = provider_plan(available, ProviderRequest("cuda", "fp32", tmp_path, allow_fallback=True))
    assert plan.names == [p for p in ALL if p in available]
    assert expected in plan.warnings[0] and "allow_fallback is set" in plan.warnings[0]


def test_fp16_without_tensorrt_is_not_quietly_run_in_fp32():
    plan = provider_plan([CUDA, CPU], ProviderRequest("cuda", "fp16", None, allow_fallback=True))
    assert plan.names == [CUDA, CPU] and any("fp16 needs TensorRT" in w for w in plan.warnings)
    with pytest.raises(ProviderError, match="precision 'fp16' with onnxruntime on the CPU is not supported"):
        provider_plan(ALL, ProviderRequest("cpu", "fp16"))
    with pytest.raises(ProviderError, match="precision 'bf16' with onnxruntime on cuda"):
        provider_plan(ALL, ProviderRequest("cuda", "bf16", None))


def test_a_provider_the_session_dropped_is_an_error_unless_fallback_is_allowed():
    # what ONNX Runtime does when e.g. libnvinfer is missing: it logs and runs the rest
    assert check_session_providers(ALL, ALL, False) == []
    with pytest.raises(ProviderError, match="could not start TensorrtExecutionProvider .it runs CUDAExecution"):
        check_session_providers(ALL, [CUDA, CPU], False)
    (warning,) = check_session_providers(ALL, [CPU], True)
    assert "TensorrtExecutionProvider, CUDAExecutionProvider" in warning


def test_cache_folder_is_created_and_refused_when_unusable(tmp_path):
    assert default_cache_dir(tmp_path / "models" / "r18.onnx") == tmp_path / "models" / ".r18.trt-cache"
    made = prepare_cache_dir(tmp_path / "a" / "b")
    assert made.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProviderError, match="is a file, not a folder"):
        prepare_cache_dir(tmp_path / "file")
    with pytest.raises(ProviderError, match="cannot create the TensorRT cache folder"):
        prepare_cache_dir(tmp_path / "file" / "sub")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ProviderError, match="is not writable"):
            prepare_cache_dir(locked)


def test_profile_record_round_trips_and_a_corrupt_one_is_named(tmp_path):
    assert read_profile(tmp_path) == ()
    write_profile(tmp_path, [(1, 3, 512, 1024), (1, 3, 256, 512)])
    assert read_profile(tmp_path) == ((1, 3, 512, 1024), (1, 3, 256, 512))
    assert json.loads((tmp_path / PROFILE_FILE).read_text())["input_shapes"][0] == [1, 3, 512, 1024]
    (tmp_path / PROFILE_FILE).write_text("{not json")
    with pytest.raises(ProviderError, match="not a valid TensorRT profile record"):
        read_profile(tmp_path)


@pytest.fixture(scope="module")
def light_onnx(tmp_path_factory):
    model, meta, _ = load_checkpoint(default_model_path())
    return export_onnx(model, meta, tmp_path_factory.mktemp("ort") / "light.onnx", argmax=True)


def test_real_cpu_session_reports_what_runs(light_onnx):
    seg = Segmenter(light_onnx)
    assert seg.provider == CPU and seg.providers == [CPU]
    result = seg.segment(np.zeros((64, 128, 3), np.uint8))
    assert result.labels.shape == (64, 128)


@pytest.mark.skipif(CUDA in onnxruntime.get_available_providers(), reason="onnxruntime-gpu is installed here")
def test_real_session_on_cuda_without_onnxruntime_gpu_fails_or_falls_back_when_allowed(light_onnx, caplog):
    with pytest.raises(ValueError, match="are not installed .installed: .*CPUExecutionProvider.*allow_fallback"):
        Segmenter(light_onnx, device="cuda")
    with caplog.at_level(logging.WARNING, logger="attanet_model.segmenter"):
        seg = Segmenter(light_onnx, device="cuda", allow_fallback=True)
    assert seg.providers == [CPU] and "allow_fallback is set, running on CPUExecutionProvider" in caplog.text
    assert seg.segment(np.zeros((64, 128, 3), np.uint8)).labels.shape == (64, 128)
