"""ONNX Runtime provider selection: TensorRT -> CUDA -> CPU, options, caches, no silent CPU fallback.

The plan is a pure function of (installed providers, request), so every GPU combination is
checked here on the CPU; the real session path is the CPU one (the GPU runs are bench/run_gpu.sh).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from onnx_files import write_tiny_onnx

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
from attanet_model.trt_engines import build_engines, parse_sizes

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
    with pytest.raises(ValueError, match="precision 'bf16' with onnxruntime on cuda is not supported"):
        Segmenter(default_model_path().with_suffix(".onnx"), device="cuda", precision="bf16")  # checked first


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
def tiny_onnx(tmp_path_factory):
    """A real ONNX file with the bundled model's metadata and a 1x1-conv "network": the provider
    path is the same for any graph, and this one exports in milliseconds instead of half a minute."""
    _, meta, _ = load_checkpoint(default_model_path())
    return write_tiny_onnx(meta, tmp_path_factory.mktemp("ort") / "tiny.onnx")


def test_real_cpu_session_reports_what_runs(tiny_onnx):
    seg = Segmenter(tiny_onnx, backend="onnxruntime", precision="fp32")
    assert seg.provider == CPU and seg.providers == [CPU]
    assert Segmenter(tiny_onnx).provider == f"{CPU} [auto: onnxruntime fp32 chosen]"  # probe off in tests
    result = seg.segment(np.zeros((64, 128, 3), np.uint8))
    assert result.labels.shape == (64, 128)


@pytest.mark.skipif(CUDA in onnxruntime.get_available_providers(), reason="onnxruntime-gpu is installed here")
def test_real_session_on_cuda_without_onnxruntime_gpu_fails_or_falls_back_when_allowed(tiny_onnx, caplog):
    with pytest.raises(ValueError, match="are not installed .installed: .*CPUExecutionProvider.*allow_fallback"):
        Segmenter(tiny_onnx, device="cuda")
    with caplog.at_level(logging.WARNING, logger="attanet_model.segmenter"):
        seg = Segmenter(tiny_onnx, device="cuda", allow_fallback=True)
    assert seg.providers == [CPU] and "allow_fallback is set, running on CPUExecutionProvider" in caplog.text
    assert seg.segment(np.zeros((64, 128, 3), np.uint8)).labels.shape == (64, 128)


def test_sizes_are_parsed_as_camera_height_by_width():
    assert parse_sizes("1024x2048, 512x1024") == [(1024, 2048), (512, 1024)]
    with pytest.raises(ValueError, match="size '1024' is not HEIGHTxWIDTH"):
        parse_sizes("1024")
    with pytest.raises(ValueError, match="size '4x8' is too small"):
        parse_sizes("4x8")
    with pytest.raises(ValueError, match="no sizes in ','"):
        parse_sizes(",")


def _export(capsys, *args):
    """``attanet export ARGS`` in this process: (exit code, stderr)."""
    from attanet_model.cli import export_main

    code = export_main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.skipif(TENSORRT in onnxruntime.get_available_providers(), reason="TensorRT is installed here")
def test_export_refuses_to_build_engines_without_tensorrt_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code, err = _export(capsys, "--out", str(out), "--trt-cache", str(tmp_path / "trt"), "--sizes", "512x1024")
    assert code == 2, err
    assert "attanet export: building TensorRT engines needs onnxruntime-gpu with TensorRT" in err
    assert "make install GPU=1" in err
    assert not out.exists() and not (tmp_path / "trt").exists()
    code, err = _export(capsys, "--out", str(out), "--sizes", "512x1024")
    assert code == 2 and "--trt-cache and --sizes go together" in err
    with pytest.raises(SystemExit) as bad_size:  # refused by the shared --sizes parser, as in every command
        _export(capsys, "--out", str(out), "--trt-cache", str(tmp_path / "trt"), "--sizes", "512by1024")
    assert bad_size.value.code == 2 and "size '512by1024' is not HEIGHTxWIDTH" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(TENSORRT not in onnxruntime.get_available_providers(), reason="needs onnxruntime-gpu + TensorRT")
def test_engines_built_ahead_of_time_are_loaded_by_the_next_session(tmp_path):
    import time

    model, meta, _ = load_checkpoint(default_model_path())
    light_onnx = export_onnx(model, meta, tmp_path / "light.onnx", argmax=True)

    rows = build_engines(light_onnx, tmp_path / "trt", [(256, 512)], "fp16")
    assert rows[1]["network"] == "128x256" and read_profile(tmp_path / "trt") == ((1, 3, 128, 256),)
    assert any(p.suffix == ".engine" for p in (tmp_path / "trt").iterdir())
    t0 = time.perf_counter()
    seg = Segmenter(light_onnx, device="cuda", precision="fp16", trt_cache=tmp_path / "trt")
    seg.segment(np.zeros((256, 512, 3), np.uint8))
    cached_s = time.perf_counter() - t0
    assert seg.provider == TENSORRT
    print(f"engine build {rows[0]['seconds'] + rows[1]['seconds']} s, cached start-up + first frame {cached_s:.2f} s")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    "gpu, wanted, removed", [("1", "onnxruntime-gpu", "onnxruntime"), ("", "onnxruntime", "onnxruntime-gpu")]
)
def test_make_install_gpu_swaps_onnxruntime_for_onnxruntime_gpu(gpu, wanted, removed):
    # -n: print the recipe without running it; -B: as if nothing were installed yet
    repo = Path(__file__).resolve().parents[2]
    recipe = subprocess.run(
        ["make", "-n", "-B", "install", f"GPU={gpu}"], cwd=repo, capture_output=True, text=True, timeout=60
    ).stdout
    assert f"uninstall -y {removed}\n" in recipe
    assert f"echo '{wanted}>=1.18' >> .venv/requirements-resolved.txt" in recipe
    assert "grep -v '^onnxruntime' requirements.txt" in recipe
    assert ("touch .venv/.installed-gpu" in recipe) == (gpu == "1")
