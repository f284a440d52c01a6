"""The inference vocabulary, once: backends, devices, precisions, and the rules that tie them.

The Segmenter, the node's parameter table and every command line (viewer, bag-eval, ros-bench,
eval, predict, bench) take their choices and check a combination here, so a user sees the same
sentence wherever they ask for it. It imports no torch, so command lines start fast.

``auto`` (backend and precision, the defaults on the CPU) lets the Segmenter measure the
installed candidates on this CPU and run the fastest one whose labels agree with fp32
(``auto_backend.py``); a value given explicitly narrows the candidates and always wins.
The precision reported is the precision run: an fp32 request never runs bf16, a bf16 request is
refused where it would be emulated or silently run in fp32, int8 means an int8 ONNX file.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cpu_capabilities import CpuCapabilities, openvino_installed, this_cpu

AUTO = "auto"
BACKENDS = (AUTO, "torch", "onnxruntime", "openvino")
DEVICES = ("cpu", "cuda")
PRECISIONS = (AUTO, "fp32", "fp16", "bf16", "int8")


def torch_dtype(precision: str) -> Any:
    """The torch dtype of a precision name (torch is imported here, not when the vocabulary is)."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def engine_problems(
    backend: str,
    device: str,
    precision: str,
    compile_mode: str | None = None,
    cuda_available: bool | None = None,
    cpu: CpuCapabilities | None = None,
) -> list[str]:
    """Every problem with this combination, each a sentence with the value and what to use instead.

    ``cuda_available`` None asks torch; pass False/True to check a configuration for another machine.
    ``cpu`` None reads this machine's capabilities (only when a rule needs them).
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
    if device == "cuda":
        return _cuda_problems(backend, precision, compile_mode, cuda_available)
    return _cpu_problems(backend, precision, compile_mode, cpu)


def _cuda_problems(backend: str, precision: str, compile_mode: str | None, cuda_available: bool | None) -> list[str]:
    problems = []
    if backend in ("torch", AUTO) and cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if backend in ("torch", AUTO) and not cuda_available:
        problems.append("device 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu'")
    if backend == "openvino":
        problems.append("backend 'openvino' runs on the CPU here (its CPU plugin); use device 'cpu'")
    if compile_mode and backend not in ("torch", AUTO):
        problems.append(f"torch.compile (mode {compile_mode!r}) is for backend 'torch', not {backend}")
    if backend == "onnxruntime" and precision == "bf16":
        # the GPU providers run the fp32 graph (CUDA) or build fp32/fp16 engines (TensorRT, ort_providers.py)
        problems.append("precision 'bf16' with onnxruntime on cuda is not supported; use fp32 or fp16 (TensorRT)")
    if precision == "int8":
        problems.append(
            "precision 'int8' runs an int8 ONNX file on the CPU (onnxruntime or openvino); use device 'cpu'"
        )
    return problems


def _cpu_problems(backend: str, precision: str, compile_mode: str | None, cpu: CpuCapabilities | None) -> list[str]:
    problems = []
    if backend == "openvino" and not openvino_installed():
        problems.append("backend 'openvino' needs the openvino package (`pip install openvino`, in requirements.txt)")
    if compile_mode and backend not in ("torch", AUTO):
        problems.append(
            f"torch.compile (mode {compile_mode!r}) is for backend 'torch', not {backend}; leave it empty for {backend}"
        )
    if precision == "fp16":
        problems.append(
            f"precision 'fp16' on the CPU is not supported by {'torch kernels' if backend == 'torch' else backend}; "
            "use fp32 or bf16"
        )
    if precision == "int8" and backend == "torch":
        problems.append(
            "precision 'int8' runs an int8 ONNX file, which torch does not; use backend onnxruntime or openvino "
            "(or auto)"
        )
    if precision == "bf16":
        problems += _bf16_problems(backend, cpu)
    return problems


def _bf16_problems(backend: str, cpu: CpuCapabilities | None) -> list[str]:
    """bf16 on the CPU only where it really runs as bf16: never reported while fp32 or emulation runs."""
    if backend == "onnxruntime":
        return [
            "precision 'bf16' with onnxruntime on the CPU would run fp32 (its CPU provider has no bf16 "
            "convolutions); use backend openvino or torch for bf16, or precision int8 with onnxruntime"
        ]
    cpu = cpu or this_cpu()
    if backend == "torch" and not cpu.torch_bf16:
        return [
            f"precision 'bf16' with torch needs a CPU with AVX512-BF16 or AMX-BF16 and {cpu.model} has neither "
            "(torch would emulate bf16, slower than fp32); use fp32, or int8 with onnxruntime/openvino"
        ]
    if backend == "openvino" and cpu.openvino is not None and not cpu.openvino_bf16:
        return [
            f"precision 'bf16' with openvino needs BF16 among OpenVINO's CPU capabilities, and {cpu.model} offers "
            f"{', '.join(sorted(cpu.openvino))}; use fp32 or int8"
        ]
    return []


def check_engine(
    backend: str, device: str, precision: str, compile_mode: str | None = None, cpu: CpuCapabilities | None = None
) -> None:
    """Raise ValueError with every problem of :func:`engine_problems`, if any."""
    if problems := engine_problems(backend, device, precision, compile_mode, cpu=cpu):
        raise ValueError("; ".join(problems))


def add_engine_arguments(parser: argparse.ArgumentParser, *, precision: bool = True, note: str = "") -> None:
    """``--backend``, ``--device`` (and ``--precision``) with this vocabulary, for every command line that
    runs a model. The rules between them are checked where the model is built (``check_engine``)."""
    extra = f"; {note}" if note else ""
    parser.add_argument(
        "--backend",
        default=AUTO,
        choices=BACKENDS,
        help="inference backend (default: auto = the fastest installed one on this CPU, measured once and "
        f"cached; torch on cuda{extra})",
    )
    parser.add_argument("--device", default="cpu", choices=DEVICES, help="inference device (default: cpu)")
    if precision:
        parser.add_argument(
            "--precision",
            default=AUTO,
            choices=PRECISIONS,
            help="inference precision (default: auto = the fastest whose labels agree with fp32 on >= 99.5%% of "
            "pixels; fp32 on cuda); int8 runs an int8 ONNX file (onnxruntime/openvino), fp16 needs --device cuda",
        )


def input_scale(text: str) -> float:
    """An ``--input-scale`` value: frame -> network size factor in (0, 4]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 4:
        raise argparse.ArgumentTypeError(f"--input-scale must be a number in (0, 4], e.g. 0.5 or 1.0; got {text!r}")
    return value


def add_input_scale_argument(parser: argparse.ArgumentParser, default_help: str) -> None:
    """``--input-scale`` (frame -> network size factor), one spelling and check for every command that
    runs a model; ``default_help`` says what None means for that command."""
    parser.add_argument(
        "--input-scale",
        type=input_scale,
        metavar="S",
        help=f"frame -> network size factor, e.g. 0.5 (1024x2048 -> 512x1024); default: {default_help}",
    )
