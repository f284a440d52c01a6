"""The inference vocabulary and its rules: one sentence per problem, every problem at once."""

import pytest

from attanet_model.engine_options import BACKENDS, DEVICES, PRECISIONS, check_engine, engine_problems


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cpu_combinations_that_work_have_no_problem(backend, precision):
    assert engine_problems(backend, "cpu", precision, cuda_available=False) == []


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
    (problem,) = engine_problems("onnxruntime", "cuda", "fp16", "default", cuda_available=True)
    assert problem.startswith("torch.compile (mode 'default') is for backend 'torch' on device 'cuda', not onnxruntime")
    # ONNX Runtime's CUDA path does not depend on torch seeing the GPU
    assert engine_problems("onnxruntime", "cuda", "fp16", cuda_available=False) == []
    assert engine_problems("onnxruntime", "cuda", "bf16", cuda_available=True) == [
        "precision 'bf16' with onnxruntime on cuda is not supported; use fp32 or fp16 (TensorRT)"
    ]


def test_check_engine_raises_every_problem_in_one_error():
    with pytest.raises(ValueError, match=r"torch.compile .*; precision 'fp16' on the CPU"):
        check_engine("torch", "cpu", "fp16", compile_mode="default")
