"""Which engine runs a model: the explicit request, or what ``auto`` decides; then build it.

One place turns (model file, backend, device, precision, compile mode) into a running engine:
derived ONNX files come from ``ModelFiles`` (a checkpoint is exported once for ONNX Runtime and
OpenVINO), ``auto`` resolves through the decision cache, the probe or the fixed order
(``auto_backend.py``), and every choice is logged with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .auto_backend import (
    AGREEMENT_DIR,
    ORDER,
    AutoDecision,
    AutoSettings,
    Candidate,
    DecisionCache,
    cpu_candidates,
    decision_key,
    probe,
)
from .checkpoint import ModelMeta
from .cpu_capabilities import this_cpu
from .engine_options import AUTO
from .model_files import ModelFiles
from .preprocess import network_size, normalize_bgr, resize_frame

log = logging.getLogger(__name__)


@dataclass
class EngineRequest:
    """What the user asked for (``auto`` allowed in backend and precision) and the engines' options."""

    backend: str
    device: str
    precision: str
    compile_mode: str | None = None
    trt_cache: str | Path | None = None
    allow_fallback: bool = False
    confidence_every_frame: bool = False  # the CPU label head makes labels and confidence in one pass


def typical_network_hw(
    files: ModelFiles,
    input_scale: float | None,
    input_size: tuple[int, int] | None,
    frame_hw: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The network size to probe at before any frame is seen: the fixed size, else the
    model's scale applied to ``frame_hw`` (None: a 1024x2048 frame, the paper's Cityscapes setting)."""
    meta = files.meta
    if input_size or meta.input_size:
        return tuple(input_size or meta.input_size)
    height, width = frame_hw or (1024, 2048)
    return network_size(height, width, input_scale if input_scale is not None else meta.input_scale)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def build_engine(files: ModelFiles, request: EngineRequest, candidate: Candidate):
    """The engine for ``candidate`` (backend and precision resolved) on ``request.device``."""
    backend, precision = candidate.backend, candidate.precision
    if backend == "torch":
        from .engines import TorchEngine

        if files.is_onnx:
            raise ValueError(
                f"backend 'torch' needs a checkpoint (.pt), got {files.source}; use onnxruntime or openvino"
            )
        return TorchEngine(
            files.source,
            request.device,
            precision,
            request.compile_mode,
            torch_threads(),
            confidence_every_frame=request.confidence_every_frame,
        )
    # CPU engines run the graph that ends at the coarse logits (the label head does the rest, head.py);
    # CUDA keeps the full-size argmax in the graph, where it is cheap
    onnx_path = files.onnx(int8=precision == "int8", coarse=request.device == "cpu")
    if backend == "onnxruntime":
        from .engines import OrtEngine

        return OrtEngine(
            onnx_path,
            request.device,
            precision,
            request.trt_cache,
            request.allow_fallback,
            torch_threads(),
            confidence_every_frame=request.confidence_every_frame,
        )
    from .openvino_engine import OpenVinoEngine

    return OpenVinoEngine(onnx_path, precision, torch_threads(), confidence_every_frame=request.confidence_every_frame)


def explicit_candidate(files: ModelFiles, request: EngineRequest) -> Candidate:
    """An explicit (backend, precision): an int8 file runs as int8 (fp32 cannot run it), so
    the precision is corrected to what runs, and said."""
    precision = request.precision
    if request.backend != "torch" and files.source_is_int8 and precision != "int8":
        log.info("%s is an int8 model: precision int8 (asked: %s)", files.source, precision)
        if precision not in ("fp32", AUTO):
            raise ValueError(f"{files.source} is an int8 model; precision {precision!r} cannot run it: use int8")
        precision = "int8"
    return Candidate(request.backend, precision)


def open_engine(
    files: ModelFiles,
    request: EngineRequest,
    input_scale: float | None,
    input_size: tuple[int, int] | None,
    settings: AutoSettings,
) -> tuple[object, AutoDecision | None]:
    """(the engine, auto's decision or None when nothing was auto). ``input_scale``/``input_size``:
    the Segmenter's overrides of the model's own (None: the model's), for the size auto probes at."""
    files.meta  # noqa: B018 -- first: a damaged or foreign file is its own error, before any engine is built
    if AUTO not in (request.backend, request.precision):
        return build_engine(files, request, explicit_candidate(files, request)), None
    if request.device == "cuda":
        decision = _cuda_decision(files, request)
        return build_engine(files, request, decision.candidate), _logged(decision)
    cpu = settings.cpu or this_cpu()
    backend = "torch" if request.compile_mode else request.backend
    candidates = cpu_candidates(cpu, not files.is_onnx, files.source_is_int8, backend, request.precision)
    if not candidates:
        raise ValueError(
            f"auto: nothing on this CPU ({cpu.describe()}) runs {files.source.name} as backend {request.backend} "
            f"at precision {request.precision}; choose them explicitly"
        )
    if len(candidates) == 1 or not settings.probing():
        why = "the only candidate" if len(candidates) == 1 else "probe off (ATTANET_AUTO_PROBE=0 or probe=False)"
        first = candidates[0]
        decision = AutoDecision(first.backend, first.precision, f"auto picked {first.name}: {why}, not measured")
        return build_engine(files, request, first), _logged(decision)
    hw = settings.network_hw or typical_network_hw(files, input_scale, input_size, settings.frame_hw)
    asked = f"{backend}/{request.precision}/{request.compile_mode or 'eager'}"
    key = decision_key(files.sha256, cpu, tuple(hw), torch_threads(), asked)
    cache = DecisionCache(files.cache_dir) if settings.use_cache else None
    cached = cache.get(key) if cache else None
    if cached is not None and cached.candidate in candidates:
        cached.from_cache = True
        cached.reason = f"{cached.reason} [measured before, cached in {cache.path}]"
        return build_engine(files, request, cached.candidate), _logged(cached)
    engine, decision = _probe(files, request, files.meta, candidates, settings, tuple(hw))
    if cache:
        cache.put(key, decision)
    return engine, _logged(decision)


def _cuda_decision(files: ModelFiles, request: EngineRequest) -> AutoDecision:
    backend = request.backend if request.backend != AUTO else ("onnxruntime" if files.is_onnx else "torch")
    precision = request.precision if request.precision != AUTO else "fp32"
    return AutoDecision(backend, precision, f"auto on cuda: {backend} {precision} (the probe measures CPU candidates)")


def _probe(
    files: ModelFiles,
    request: EngineRequest,
    meta: ModelMeta,
    candidates: list[Candidate],
    settings: AutoSettings,
    hw: tuple[int, int],
):
    """Build every candidate, measure, keep the winner's engine (the rest are dropped)."""
    from .quantize import read_images

    log.info("auto: measuring %s at %dx%d (once; the decision is cached)", ", ".join(c.name for c in candidates), *hw)
    inputs = [normalize_bgr(resize_frame(image, hw), meta.mean, meta.std) for image in read_images(AGREEMENT_DIR)]
    engines, skipped = {}, []
    for c in candidates:
        try:
            engines[c] = build_engine(files, request, c)
        except (ValueError, RuntimeError, OSError) as exc:  # e.g. a runtime that cannot load this graph
            skipped.append(f"{c.name} skipped: {exc}")
            log.warning("auto: %s could not be built: %s", c.name, exc)
    built = [c for c in candidates if c in engines]
    if not built:
        raise ValueError("auto: no candidate could be built (" + "; ".join(skipped) + ")")
    reference = _reference_labels(files, request, engines, inputs)
    decision = probe(built, engines, inputs, reference, settings, hw)
    decision.refused += skipped
    return engines[decision.candidate], decision


def _reference_labels(files: ModelFiles, request: EngineRequest, engines: dict, inputs: list[np.ndarray]):
    """fp32 labels to compare with: torch fp32 for a checkpoint, ONNX Runtime fp32 for an fp32 .onnx,
    none for an int8 file."""
    if files.source_is_int8:
        return None
    reference = ORDER[0] if not files.is_onnx else Candidate("onnxruntime", "fp32")
    engine = engines.get(reference) or build_engine(files, EngineRequest(reference.backend, "cpu", "fp32"), reference)
    return [engine.run(x, False)[0] for x in inputs]


def _logged(decision: AutoDecision) -> AutoDecision:
    log.info("%s", decision.reason)
    return decision
