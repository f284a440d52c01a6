"""The inference vocabulary and its rules: one sentence per problem, every problem at once; bf16 and
int8 only where they really run (CPU capabilities injected, so every CPU kind is tested here)."""

import pytest
from cpu_kinds import AMX_CPU, OLD_CPU

from attanet_model.cpu_capabilities import CpuCapabilities, parse_cpuinfo
from attanet_model.engine_options import BACKENDS, DEVICES, PRECISIONS, check_engine, engine_problems


@pytest.mark.parametrize("backend", ["auto", "torch", "openvino"])
@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_cpu_combinations_that_work_on_a_bf16_cpu_have_no_problem(backend, precision):
    assert engine_problems(backend, "cpu", precision, cuda_available=False, cpu=AMX_CPU) == []


@pytest.mark.parametrize("backend", ["auto", "onnxruntime", "openvino"])
def test_int8_runs_on_the_onnx_backends(backend):
    assert engine_problems(backend, "cpu", "int8", cpu=OLD_CPU) == []


def test_unknown_names_are_all_reported_with_the_choices():
    problems = engine_problems("tensorflow", "tpu", "int4", cuda_available=False)
    assert problems == [
        f"backend 'tensorflow' is not supported; choose one of {', '.join(BACKENDS)}",
        f"device 'tpu' is not supported; choose one of {', '.join(DEVICES)}",
        f"precision 'int4' is not supported; choose one of {', '.join(PRECISIONS)}",
    ]


def test_rules_between_backend_device_precision_and_compile():
    assert engine_problems("torch", "cpu", "fp16", cuda_available=False) == [
        "precision 'fp16' on the CPU is not supported by torch kernels; use fp32 or bf16"
    ]
    assert engine_problems("torch", "cuda", "fp16", cuda_available=False) == [
        "device 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu'"
    ]
    assert engine_problems("torch", "cuda", "fp16", "max-autotune", cuda_available=True) == []
    # torch.compile now runs on the CPU too; it is still torch's alone
    assert engine_problems("torch", "cpu", "fp32", "default", cpu=OLD_CPU) == []
    (problem,) = engine_problems("onnxruntime", "cuda", "fp16", "default", cuda_available=True)
    assert problem.startswith("torch.compile (mode 'default') is for backend 'torch', not onnxruntime")
    (problem,) = engine_problems("openvino", "cpu", "fp32", "default", cpu=OLD_CPU)
    assert problem.startswith("torch.compile (mode 'default') is for backend 'torch', not openvino")
    # ONNX Runtime's CUDA path does not depend on torch seeing the GPU
    assert engine_problems("onnxruntime", "cuda", "fp16", cuda_available=False) == []
    assert engine_problems("onnxruntime", "cuda", "bf16", cuda_available=True) == [
        "precision 'bf16' with onnxruntime on cuda is not supported; use fp32 or fp16 (TensorRT)"
    ]
    assert engine_problems("openvino", "cuda", "fp32", cuda_available=True) == [
        "backend 'openvino' runs on the CPU here (its CPU plugin); use device 'cpu'"
    ]


def test_onnxruntime_bf16_on_the_cpu_is_refused_because_it_would_run_fp32():
    (problem,) = engine_problems("onnxruntime", "cpu", "bf16", cpu=AMX_CPU)
    assert "would run fp32" in problem and "use backend openvino or torch for bf16" in problem


def test_bf16_is_refused_on_a_cpu_without_native_bf16():
    (torch_problem,) = engine_problems("torch", "cpu", "bf16", cpu=OLD_CPU)
    assert "AVX512-BF16 or AMX-BF16 and Skylake has neither" in torch_problem and "emulate" in torch_problem
    (ov_problem,) = engine_problems("openvino", "cpu", "bf16", cpu=OLD_CPU)
    assert "needs BF16 among OpenVINO's CPU capabilities, and Skylake offers FP32, INT8" in ov_problem
    # a CPU with AVX512-BF16 but no AMX (e.g. AMD Zen 4) runs bf16 natively in both
    zen4 = CpuCapabilities("AMD EPYC", frozenset({"avx512f", "avx512_bf16"}), frozenset({"FP32", "BF16", "INT8"}))
    assert (
        engine_problems("torch", "cpu", "bf16", cpu=zen4) == engine_problems("openvino", "cpu", "bf16", cpu=zen4) == []
    )


def test_int8_is_an_onnx_file_on_the_cpu():
    (problem,) = engine_problems("torch", "cpu", "int8", cpu=OLD_CPU)
    assert "use backend onnxruntime or openvino" in problem
    (problem,) = engine_problems("onnxruntime", "cuda", "int8", cuda_available=True)
    assert "use device 'cpu'" in problem


def test_check_engine_raises_every_problem_in_one_error():
    with pytest.raises(ValueError, match=r"torch.compile .*; precision 'fp16' on the CPU"):
        check_engine("onnxruntime", "cpu", "fp16", compile_mode="default")


def test_cpuinfo_flags_are_read_from_the_first_processor():
    text = "processor : 0\nmodel name : AMD EPYC\nflags : fpu avx2 avx512f avx512_bf16 sse\n\nprocessor : 1\n"
    assert parse_cpuinfo(text) == ("AMD EPYC", frozenset({"avx2", "avx512f", "avx512_bf16"}))


def test_the_flags_alone_are_read_without_asking_openvino(tmp_path):
    from attanet_model.cpu_capabilities import read_cpu_capabilities

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nmodel name : Old Xeon\nflags : fpu avx2 avx512f\n")
    cpu = read_cpu_capabilities(cpuinfo, ask_openvino=False)
    assert (cpu.model, cpu.flags, cpu.openvino) == ("Old Xeon", frozenset({"avx2", "avx512f"}), None)
    assert cpu.int8_weight_bits == 7  # AVX-512F without VNNI


def test_a_commands_engine_flags_build_the_segmenter_they_name_and_overrides_win():
    import argparse

    from attanet_model.cli_args import add_input_scale
    from attanet_model.engine_options import add_engine_arguments
    from attanet_model.segmenter import segmenter_from_args

    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    add_engine_arguments(parser)
    add_input_scale(parser)
    args = parser.parse_args(["--backend", "onnxruntime", "--precision", "fp32", "--input-scale", "0.25"])
    seg = segmenter_from_args(args)
    assert (seg.backend, seg.precision, seg.input_scale) == ("onnxruntime", "fp32", 0.25)
    seg = segmenter_from_args(args, backend="torch", input_scale=0.5)
    assert (seg.backend, seg.precision, seg.input_scale) == ("torch", "fp32", 0.5)
    del args.input_scale  # a command without --input-scale: the model's own
    assert segmenter_from_args(args).input_scale == seg.meta.input_scale
