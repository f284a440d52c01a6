"""Build TensorRT engines ahead of time, on the target machine, into the cache the node reads.

TensorRT compiles an engine for the GPU, TensorRT version and input-shape profile it runs on,
which for a 1024x2048 camera takes minutes; done at node start-up, no topic appears meanwhile.
``build_engines`` opens the ONNX Runtime session exactly as the node does (same providers,
options and session settings, see ``Segmenter``), with one shape profile spanning the network
input shapes of the given camera sizes, runs one frame of each size and records the profile in
the cache folder, so that the node (``trt_cache`` pointing there, same precision) loads the
engines instead of building them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .onnx_export import read_onnx_meta
from .ort_providers import (
    TENSORRT,
    ProviderError,
    ProviderRequest,
    check_session_providers,
    prepare_cache_dir,
    provider_plan,
    write_profile,
)
from .preprocess import MIN_SIDE, network_size


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"1024x2048,512x1024"`` (camera HEIGHTxWIDTH, comma-separated) -> [(1024, 2048), (512, 1024)]."""
    import argparse

    from .cli_args import parse_size

    try:
        sizes = [parse_size(word) for word in text.replace(",", " ").split()]
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    if not sizes:
        raise ValueError(f"no sizes in {text!r}; give camera sizes as HEIGHTxWIDTH[,HEIGHTxWIDTH...]")
    return check_sizes(sizes)


def check_sizes(sizes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``sizes`` when every side is at least MIN_SIDE; ValueError naming the first that is not."""
    for h, w in sizes:
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"size '{h}x{w}' is too small; at least {MIN_SIDE} per side")
    return sizes


def require_tensorrt(available: list[str]) -> None:
    """ProviderError unless this onnxruntime has the TensorRT provider (say so before exporting anything)."""
    if TENSORRT not in available:
        raise ProviderError(
            f"building TensorRT engines needs onnxruntime-gpu with TensorRT on the target machine "
            f"(this onnxruntime has {', '.join(available)}); run `make install GPU=1` there"
        )


def build_engines(
    onnx_path: str | Path,
    cache_dir: str | Path,
    sizes: list[tuple[int, int]],
    precision: str = "fp16",
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict]:
    """Build (or find cached) engines for camera ``sizes``; one row per size with its time.

    The first row's time includes the engine build (TensorRT builds for the whole profile on
    the first run); a later size is within the profile and costs one frame. Raises
    ProviderError when TensorRT is missing or ONNX Runtime could not start it.
    """
    import onnxruntime as ort

    from .engines import ort_session

    available = ort.get_available_providers()
    require_tensorrt(available)
    meta, _ = read_onnx_meta(onnx_path)
    cache = prepare_cache_dir(Path(cache_dir))
    shapes = [(1, 3, *network_size(h, w, meta.input_scale, meta.input_size)) for h, w in sizes]
    write_profile(cache, shapes)
    plan = provider_plan(available, ProviderRequest("cuda", precision, cache, False, tuple(shapes)))
    t0 = time.perf_counter()
    session = ort_session(Path(onnx_path), plan.providers)
    check_session_providers(plan.names, session.get_providers(), allow_fallback=False)
    rows = [{"size": "session", "seconds": round(time.perf_counter() - t0, 2)}]
    progress(f"session created in {rows[0]['seconds']} s")
    for (h, w), shape in zip(sizes, shapes, strict=True):
        t1 = time.perf_counter()
        session.run(None, {"input": np.zeros(shape, np.float32)})
        row = {"size": f"{h}x{w}", "network": f"{shape[2]}x{shape[3]}", "seconds": round(time.perf_counter() - t1, 2)}
        progress(f"engine for {row['size']} (network {row['network']}): {row['seconds']} s")
        rows.append(row)
    return rows
