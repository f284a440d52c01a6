"""The network call of each backend: torch and ONNX Runtime (OpenVINO: ``openvino_engine.py``).

An engine takes the normalized network input (1x3xHxW float32) and returns labels, confidence
(and SAM attention where it can) at the network size; everything around it is the Segmenter's.
On the CPU the network stops at its coarse logits and ``head.LabelHead`` makes the labels, and
the confidence only when it is read (``run`` then returns a function for it, not an array).
Each says what really runs in ``provider`` and which precision in ``precision``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import CheckpointError, load_checkpoint
from .engine_options import torch_dtype
from .head import LabelHead, requested_kind
from .layers import fold_batchnorm
from .onnx_export import graph_output, labels_and_confidence, read_onnx_meta
from .ort_providers import (
    TENSORRT,
    ProviderRequest,
    check_session_providers,
    default_cache_dir,
    prepare_cache_dir,
    provider_plan,
    read_profile,
)
from .preprocess import STRIDE

log = logging.getLogger(__name__)


class TorchEngine:
    """The checkpoint's network in torch, BatchNorm folded. bf16 runs under autocast with
    channels_last (oneDNN's bf16 kernels want NHWC; NCHW bf16 on the CPU is ~1.5x slower,
    shared/notes/CPU-SPEED.md). ``compile_mode`` on the CPU runs it through ``torch.compile``
    (Inductor with freezing: the weights become constants that oneDNN pre-packs), compiled at
    the first frame of each network size; on CUDA the Segmenter's ``DevicePipeline`` compiles."""

    backend = "torch"
    has_attention = True
    has_logits = True

    def __init__(
        self,
        path: Path,
        device: str,
        precision: str,
        compile_mode: str | None = None,
        threads: int = 1,
        confidence_every_frame: bool = False,
    ) -> None:
        self.model, self.meta, _ = load_checkpoint(path)
        # on the CPU the full-size upsample + argmax costs more than the network: the label head does it
        self.head = LabelHead(threads, requested_kind(), confidence_every_frame) if device == "cpu" else None
        fold_batchnorm(self.model.eval())  # inference only: one kernel per conv layer, not two
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = torch_dtype(precision)
        self.model.to(self.device)
        self.channels_last = device == "cuda" or precision == "bf16"
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.sam_direction = self.model.config.sam_direction
        self.compile_mode = compile_mode if device == "cpu" else None
        self._compiled = None
        self._compiled_shapes: set[tuple[int, ...]] = set()
        if self.compile_mode:
            from .device_pipeline import COMPILE_MODES

            if self.compile_mode not in COMPILE_MODES:
                raise ValueError(f"compile mode {compile_mode!r} is not one of {', '.join(COMPILE_MODES)}")
            self._compiled = torch.compile(self._coarse, mode=self.compile_mode, dynamic=False)
        extras = [
            *(["autocast", "channels_last"] if precision == "bf16" else []),
            *([f"torch.compile {self.compile_mode}"] if self.compile_mode else []),
        ]
        self.provider = f"torch {device} {precision}" + (f" ({', '.join(extras)})" if extras else "")

    def _input(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).to(self.device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last else t

    def _forward(self, t: torch.Tensor, with_attention: bool):
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            output = self.model(t, return_attention=with_attention)
        return output.logits, output.attention

    def _coarse(self, t: torch.Tensor, with_attention: bool = False):
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            coarse, attention = self.model.coarse_logits(t, return_attention=with_attention)
        return coarse.float(), attention

    @torch.inference_mode()
    def run(self, x: np.ndarray, with_attention: bool):
        t = self._input(x)
        if self.head is not None:
            if self._compiled is not None and not with_attention:
                coarse, attention = self._run_compiled(t)
            else:
                coarse, attention = self._coarse(t, with_attention)
            labels, confidence = self.head.run(coarse[0].numpy(), x.shape[2:], x.shape[2:])
            return labels, confidence, attention[0].float().numpy() if attention is not None else None
        logits, attention = self._forward(t, with_attention)
        labels, confidence = labels_and_confidence(logits.float())
        attn = attention[0].float().cpu().numpy() if attention is not None else None
        return labels[0].cpu().numpy(), confidence[0].cpu().numpy(), attn

    def _run_compiled(self, t: torch.Tensor):
        import torch._inductor.config as inductor_config

        first = tuple(t.shape) not in self._compiled_shapes
        started = time.perf_counter()
        with inductor_config.patch(freezing=True):
            out = self._compiled(t)
        if first:
            self._compiled_shapes.add(tuple(t.shape))
            log.info(
                "torch.compile (inductor, mode %s, %s) compiled for input %s in %.1f s",
                self.compile_mode,
                self.precision,
                "x".join(map(str, t.shape)),
                time.perf_counter() - started,
            )
        return out

    @torch.inference_mode()
    def logits(self, x: np.ndarray) -> np.ndarray:
        return self._forward(self._input(x), False)[0].float().cpu().numpy()


def ort_session(path: Path, providers: list):
    """The ONNX Runtime session for ``path`` on ``providers``, with the settings every user of the
    file shares (TensorRT's cached engines only match a session built the same way)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:
        raise CheckpointError(f"ONNX Runtime cannot load {path}: {exc}") from exc


def padded_size(hw: tuple[int, int]) -> tuple[int, int]:
    """``hw`` rounded up to a multiple of 32, as the exported graph pads its input."""
    return tuple(-(-int(n) // STRIDE) * STRIDE for n in hw)


class OnnxGraphOutputs:
    """What an exported graph returns (``onnx_export.GRAPH_OUTPUTS``): labels + confidence, logits,
    or coarse logits that ``head`` (a ``LabelHead`` on ``threads``) turns into labels."""

    has_attention = False

    def __init__(self, info: dict, threads: int, confidence_every_frame: bool = False) -> None:
        self.output = graph_output(info)
        self.argmax = self.output == "labels"
        self.has_logits = not self.argmax
        coarse = self.output == "coarse_logits"
        self.head = LabelHead(threads, requested_kind(), confidence_every_frame) if coarse else None

    def labels(self, outputs: list[np.ndarray], input_hw: tuple[int, int]):
        """(labels, confidence or a function computing it, None) of one frame of ``input_hw``."""
        if self.argmax:
            return outputs[0][0], outputs[1][0], None
        if self.head is not None:
            return (*self.head.run(outputs[0][0], padded_size(input_hw), input_hw), None)
        labels, confidence = labels_and_confidence(torch.from_numpy(outputs[0]))
        return labels[0].numpy(), confidence[0].numpy(), None

    def full_logits(self, outputs: list[np.ndarray], input_hw: tuple[int, int]) -> np.ndarray:
        """BxKxHxW logits at the input's size: the graph's own, or its coarse ones upsampled as the network does."""
        if self.head is None:
            return outputs[0]
        full = F.interpolate(
            torch.from_numpy(outputs[0]), size=padded_size(input_hw), mode="bilinear", align_corners=True
        )
        return full[:, :, : input_hw[0], : input_hw[1]].numpy()

    def check_attention(self, with_attention: bool) -> None:
        if with_attention:
            raise ValueError("SAM attention maps need the torch backend (the ONNX graph does not output them)")

    def check_logits(self) -> None:
        if self.argmax:
            raise ValueError("this ONNX file was exported with --argmax and has no logits; export without it")


class OrtEngine(OnnxGraphOutputs):
    """ONNX Runtime on the providers ``ort_providers.provider_plan`` picks; GPU ones never dropped silently.

    ``precision`` is what the file runs: "int8" for a quantized file, else the request (fp16 only
    through TensorRT)."""

    backend = "onnxruntime"

    def __init__(
        self,
        path: Path,
        device: str,
        precision: str,
        trt_cache: str | Path | None = None,
        allow_fallback: bool = False,
        threads: int = 1,
        confidence_every_frame: bool = False,
    ) -> None:
        import onnxruntime as ort

        self.meta, info = read_onnx_meta(path)
        super().__init__(info, threads, confidence_every_frame)
        self.sam_direction = self.meta.arch_config.get("sam_direction", "vertical")
        self.precision = precision
        available = ort.get_available_providers()
        cache_dir, shapes = None, ()
        if device == "cuda" and TENSORRT in available:
            cache_dir = prepare_cache_dir(Path(trt_cache) if trt_cache else default_cache_dir(path))
            shapes = read_profile(cache_dir)
        request_precision = "fp32" if precision == "int8" else precision
        plan = provider_plan(available, ProviderRequest(device, request_precision, cache_dir, allow_fallback, shapes))
        for warning in plan.warnings:
            log.warning(warning)
        self.session = ort_session(path, plan.providers)
        self.providers = self.session.get_providers()
        for warning in check_session_providers(plan.names, self.providers, allow_fallback):
            log.warning(warning)
        self.provider = self.providers[0]
        if precision == "fp16" and TENSORRT not in self.providers:
            self.provider += " (runs fp32: fp16 needs TensorRT)"  # allow_fallback only; never claim fp16
            self.precision = "fp32"
        if precision == "int8":
            self.provider += " int8"
        self.trt_cache = cache_dir if TENSORRT in self.providers else None
        log.info("onnxruntime using %s", ", ".join(self.providers))

    def run(self, x: np.ndarray, with_attention: bool):
        self.check_attention(with_attention)
        return self.labels(self.session.run(None, {"input": x}), x.shape[2:])

    def logits(self, x: np.ndarray) -> np.ndarray:
        self.check_logits()
        return self.full_logits(self.session.run(None, {"input": x}), x.shape[2:])
