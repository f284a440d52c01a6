"""The inference vocabulary, once: backends, devices, precisions, and the rules that tie them.

The Segmenter, the node's parameter table and every command line (viewer, bag-eval, ros-bench,
bench) check a combination here, so a user sees the same sentence wherever they ask for it.
"""

from __future__ import annotations

import torch

BACKENDS = ("torch", "onnxruntime")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16")
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def engine_problems(
    backend: str, device: str, precision: str, compile_mode: str | None = None, cuda_available: bool | None = None
) -> list[str]:
    """Every problem with this combination, each a sentence with the value and what to use instead.

    ``cuda_available`` None asks torch; pass False/True to check a configuration for another machine.
    """
    problems = [
        f"{name} {value!r} is not supported; choose one of {', '.join(choices)}"
        for name, value, choices in (
            ("backend", backend, BACKENDS),
            ("device", device, DEVICES),
            ("precision", precision, PRECISIONS),
        )
        if value not in choices
    ]
    if problems:
        return problems
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if device == "cuda" and backend == "torch" and not cuda_available:
        problems.append("device 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu'")
    if compile_mode and (backend, device) != ("torch", "cuda"):
        problems.append(
            f"torch.compile (mode {compile_mode!r}) is for backend 'torch' on device 'cuda', not "
            f"{backend} on {device}: the CPU path runs OpenCV pre-processing and an eager network"
        )
    if backend == "onnxruntime" and device == "cuda" and precision == "bf16":
        # the GPU providers run the fp32 graph (CUDA) or build fp32/fp16 engines (TensorRT, ort_providers.py)
        problems.append("precision 'bf16' with onnxruntime on cuda is not supported; use fp32 or fp16 (TensorRT)")
    if backend == "torch" and device == "cpu" and precision == "fp16":
        problems.append("precision 'fp16' on the CPU is not supported by torch kernels; use fp32 or bf16")
    return problems


def check_engine(backend: str, device: str, precision: str, compile_mode: str | None = None) -> None:
    """Raise ValueError with every problem of :func:`engine_problems`, if any."""
    if problems := engine_problems(backend, device, precision, compile_mode):
        raise ValueError("; ".join(problems))
