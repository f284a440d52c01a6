"""What this CPU can run fast: the bf16 and int8 instructions, read from the kernel and from OpenVINO.

Two readers, because they answer different questions: ``/proc/cpuinfo`` flags say what torch's
oneDNN kernels can use (``avx512_bf16`` or ``amx_bf16`` for native bf16; without them torch
emulates bf16, slower than fp32), and OpenVINO's own ``OPTIMIZATION_CAPABILITIES`` say which
precisions its CPU plugin offers. Both go into one frozen value that callers pass around, so a
test can hand in a CPU without AMX or BF16 instead of the machine's.
"""

from __future__ import annotations

import functools
import importlib.util
import platform
from dataclasses import dataclass, replace
from pathlib import Path

# the flags that decide a precision (and so belong in the auto-backend cache key)
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
# int8 dot products that accumulate u8 x s8 straight into int32; without one, x86 int8 kernels (ONNX Runtime's
# and OpenVINO's) sum pairs of u8 x s8 products in int16 first (vpmaddubsw), which saturates for 8-bit weights
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
TORCH_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuCapabilities:
    """The CPU's name, its relevant instruction-set flags, and OpenVINO's CPU capabilities
    (None when the openvino package is not installed)."""

    model: str
    flags: frozenset[str]
    openvino: frozenset[str] | None = None

    @property
    def torch_bf16(self) -> bool:
        """Native bf16 for torch's CPU kernels (AVX512-BF16 or AMX-BF16)."""
        return any(flag in self.flags for flag in TORCH_BF16_FLAGS)

    @property
    def openvino_bf16(self) -> bool:
        """OpenVINO's CPU plugin offers bf16 inference here."""
        return self.openvino is not None and "BF16" in self.openvino

    @property
    def amx(self) -> bool:
        return "amx_tile" in self.flags

    @property
    def int8_dot(self) -> bool:
        """VNNI or AMX-INT8: int8 convolutions accumulate in int32 with no intermediate saturation."""
        return any(flag in self.flags for flag in INT8_DOT_FLAGS)

    @property
    def int8_weight_bits(self) -> int:
        """The weight width an int8 model should be quantized with for this CPU: 8 with VNNI/AMX; 7 without,
        so a pair of u8 x s7 products (at most 2 x 255 x 64 = 32640) cannot saturate vpmaddubsw's int16 sum
        (onnxruntime's ``reduce_range``)."""
        return 8 if self.int8_dot else 7

    def describe(self) -> str:
        """One line for logs, e.g. 'AMD EPYC (avx512_bf16, avx512_vnni; OpenVINO: BF16, FP32, INT8)'."""
        flags = ", ".join(f for f in RELEVANT_FLAGS if f in self.flags) or "no AVX-512/AMX"
        ov = f"; OpenVINO: {', '.join(sorted(self.openvino))}" if self.openvino is not None else ""
        return f"{self.model} ({flags}{ov})"

    def key(self) -> str:
        """What identifies this CPU for cached speed measurements."""
        return f"{self.model}|{','.join(sorted(self.flags))}|{','.join(sorted(self.openvino or ()))}"


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, relevant flags) from the text of /proc/cpuinfo (its first processor)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split()) & frozenset(RELEVANT_FLAGS)
    return model, flags


def openvino_cpu_capabilities() -> frozenset[str] | None:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU device, None without openvino."""
    if not openvino_installed():
        return None
    import openvino as ov

    return frozenset(str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def read_cpu_capabilities(cpuinfo: Path = Path("/proc/cpuinfo"), ask_openvino: bool = True) -> CpuCapabilities:
    """This machine's capabilities (on a system without /proc/cpuinfo: no flags, so no bf16 for torch);
    ``ask_openvino=False``: the flags alone, without loading OpenVINO's CPU plugin (``openvino`` None)."""
    try:
        model, flags = parse_cpuinfo(cpuinfo.read_text())
    except OSError:
        model, flags = "", frozenset()
    openvino = openvino_cpu_capabilities() if ask_openvino else None
    return CpuCapabilities(model or platform.processor() or platform.machine(), flags, openvino)


@functools.cache
def this_cpu() -> CpuCapabilities:
    """``read_cpu_capabilities()`` once per process (the CPU does not change while it runs)."""
    return replace(this_cpu_flags(), openvino=openvino_cpu_capabilities())


@functools.cache
def this_cpu_flags() -> CpuCapabilities:
    """This CPU's model and flags only (``openvino`` None): enough for ``int8_weight_bits``, and no OpenVINO
    plugin loaded for a torch-only process."""
    return read_cpu_capabilities(ask_openvino=False)
