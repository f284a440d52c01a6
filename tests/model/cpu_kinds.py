"""CPU capabilities to inject: a CPU with AMX and bf16, and one with neither (tests of every CPU kind here)."""

from attanet_model.cpu_capabilities import CpuCapabilities

AMX_CPU = CpuCapabilities(
    "Sapphire Rapids",
    frozenset({"avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}),
    frozenset({"FP32", "BF16", "INT8"}),
)
OLD_CPU = CpuCapabilities("Skylake", frozenset({"avx2", "avx512f"}), frozenset({"FP32", "INT8"}))
