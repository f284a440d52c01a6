"""``Segmenter``: load a model once, then turn BGR camera frames into label images.

One frame: check -> its ``SizePlan`` (camera -> network -> output size, decided here and
nowhere else) -> resize to the network size (the paper's 0.5 scale by default) -> normalize ->
network -> argmax (on the CPU the label head, ``head.py``) at network size -> labels (nearest)
resized to the output size: the frame's own (``output="input"``) or none (``output="network"``);
the max-softmax confidence (bilinear) is computed and resized only when ``Result.confidence`` is read.
Every backend shares the pre- and post-processing, so torch, ONNX Runtime and OpenVINO differ
only in the network call (``engines.py``, ``openvino_engine.py``; which one runs is decided in
``engine_choice.py``). Every path times the same stages (``TIMING_STAGES``).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .auto_backend import AutoSettings
from .checkpoint import ModelMeta
from .cpu_capabilities import this_cpu_flags
from .engine_choice import EngineRequest, open_engine
from .engine_options import AUTO, check_engine
from .model_files import ModelFiles, default_cache_dir, model_file_meta
from .preprocess import SizePlan, check_image, check_output, network_size, normalize_bgr, resize_frame, size_plan

log = logging.getLogger(__name__)
__all__ = [
    "AttentionQuery",
    "Result",
    "Segmenter",
    "default_model_path",
    "model_file_meta",
    "model_input_scale",
    "segmenter_from_args",
]

DEFAULT_MODEL = Path(__file__).parent / "weights" / "attanet_light_synthetic.pt"
# what Result.timings_ms holds, ms each, on every backend and device. On the GPU frame path the
# device does the resizes inside one timed call: it reports that call as "inference" and 0 for
# "postprocess" ("preprocess" is the host's part), as timing the steps apart would add syncs.
TIMING_STAGES = ("preprocess", "inference", "postprocess")


def default_model_path() -> Path:
    """The bundled model (trained by ``attanet train`` on synthetic city scenes; see its card)."""
    return DEFAULT_MODEL


def model_input_scale(model: str | Path | None, requested: float | None = None) -> float:
    """``requested``, or the input scale the model was trained for (``ModelMeta.trained_input_scale``;
    the bundled model: 1.0). ``model`` None is the bundled model; a bad file raises CheckpointError."""
    meta = model_file_meta(model if model is not None else default_model_path())
    return requested if requested is not None else meta.trained_input_scale


@dataclass(frozen=True)
class AttentionQuery:
    """Which SAM attention to return, in image pixel coordinates.

    ``y`` given: the attention of pixel (x, y) over all strips, painted on the strips it looks
    at (paper Figure 9). ``y`` None: for the strip through column ``x``, how strongly every pixel
    attends to it (the strip's reach across the image).
    """

    x: int
    y: int | None = None


class Result:
    """One frame's segmentation, every image at the plan's output size (H, W).

    ``labels``: HxW uint8 trainIds. ``confidence``: HxW float32, the max softmax probability,
    computed (and resized) when first read, then kept: given as an array or as a function of no
    arguments that computes it (on the CPU the label head makes labels without it, ``head.py``).
    ``attention``: HxW float32 in [0, 1] when asked for. ``timings_ms``: ``TIMING_STAGES`` (the
    confidence's time is not in them). ``frame``: the BGR frame at the output size, to draw overlays
    on: the input itself, or with output="network" the resized frame the network saw.
    """

    def __init__(
        self,
        labels: np.ndarray,
        confidence: np.ndarray | Callable[[], np.ndarray],
        attention: np.ndarray | None = None,
        timings_ms: dict[str, float] | None = None,
        frame: np.ndarray | None = None,
    ) -> None:
        self.labels = labels
        self._confidence = confidence
        self.attention = attention
        self.timings_ms = timings_ms if timings_ms is not None else {}
        self.frame = frame

    @property
    def confidence(self) -> np.ndarray:
        if callable(self._confidence):
            self._confidence = self._confidence()
        return self._confidence

    @property
    def confidence_computed(self) -> bool:
        """Whether ``confidence`` has been computed (read, or given as an array)."""
        return not callable(self._confidence)


class Segmenter:
    """Runs one model on BGR uint8 frames; results at the frame's own size or the network's.

    Args:
        model_path: an attanet checkpoint (.pt) or an exported .onnx; None = the bundled model.
        backend: "auto" (default: the fastest installed backend on this CPU, measured once and
            cached, ``auto_backend.py``), "torch", "onnxruntime" or "openvino" (CPU). An .onnx path
            with "torch" means onnxruntime; a checkpoint on onnxruntime/openvino is exported to ONNX
            once into ``cache_dir``.
        device: "cpu" or "cuda".
        precision: "auto" (default: with backend auto the fastest whose labels agree with fp32 on
            >= 99.5 % of pixels, else fp32), "fp32", "fp16" (cuda), "bf16" (torch/openvino on a CPU
            with native bf16), "int8" (an int8 ONNX file on onnxruntime/openvino: the given one, the
            ``.int8.onnx`` beside it, or one quantized once into ``cache_dir``).
        input_scale / input_size: override the model's network-size setting.
        output: "input" (results at the frame's size) or "network" (at the network's size, as
            ``plan`` says; no upsample that a user would then shrink again).
        cuda_graphs: on torch + CUDA, replay a captured CUDA graph per frame size.
        compile_mode: on torch, run the network through ``torch.compile`` in this mode
            ("default", "max-autotune", ...); the first frame of each size compiles (seconds on the
            CPU, tens of seconds on CUDA, where the whole frame path is compiled).
        trt_cache: on onnxruntime + CUDA, the TensorRT engine/timing cache folder (default: beside
            the model); engines built there by ``attanet export --trt-cache`` are loaded, not rebuilt.
        allow_fallback: on onnxruntime + CUDA, run on what is installed when TensorRT or CUDA is
            missing (with a warning) instead of raising ``ProviderError``.
        cache_dir: derived ONNX files and auto's decisions (default ``~/.cache/attanet``).
        auto: how auto decides (probe on/off, rounds, injected CPU capabilities or timings).
        confidence_every_frame: the caller reads ``result.confidence`` of every frame (a viewer, a node
            with a confidence subscriber): on the CPU the label head then makes labels and confidence in
            one pass, cheaper than labels now and confidence when read, and the frame's timings include it.

    ``backend`` and ``precision`` are what runs (auto resolved); ``provider`` says how, and
    ``auto_decision`` why. On torch + CUDA the whole frame path runs on the GPU
    (``DevicePipeline``); elsewhere resizing uses OpenCV on the host, the faster choice on a CPU.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        backend: str = AUTO,
        device: str = "cpu",
        precision: str = AUTO,
        input_scale: float | None = None,
        input_size: tuple[int, int] | None = None,
        output: str = "input",
        cuda_graphs: bool = False,
        compile_mode: str | None = None,
        trt_cache: str | Path | None = None,
        allow_fallback: bool = False,
        cache_dir: str | Path | None = None,
        auto: AutoSettings | None = None,
        confidence_every_frame: bool = False,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if path.suffix == ".onnx" and (backend == "torch" or (backend == AUTO and device == "cuda")):
            backend = "onnxruntime"  # torch runs checkpoints; auto measures CPU candidates only
        settings = auto or AutoSettings()
        check_engine(backend, device, precision, compile_mode, cpu=settings.cpu)
        self.output = check_output(output)
        # an int8 copy made here is quantized for the CPU it runs on (7-bit weights without VNNI/AMX-INT8)
        bits = (settings.cpu or this_cpu_flags()).int8_weight_bits if device == "cpu" else 8
        self._files = ModelFiles(path, Path(cache_dir) if cache_dir else default_cache_dir(), bits)
        request = EngineRequest(
            backend, device, precision, compile_mode, trt_cache, allow_fallback, confidence_every_frame
        )
        self._engine, self.auto_decision = open_engine(self._files, request, input_scale, input_size, settings)
        self._attention_engine = None
        self.model_path, self.device = path, device
        self.confidence_every_frame = confidence_every_frame
        self.backend, self.precision = self._engine.backend, self._engine.precision
        self.meta: ModelMeta = self._engine.meta
        self.input_scale = input_scale if input_scale is not None else self.meta.input_scale
        self.input_size = input_size if input_size is not None else self.meta.input_size
        self.plan(64, 64)  # validates the scale now
        self._pipeline = None
        self._inputs = threading.local()  # kept network input arrays (_input_buffer)
        if self.backend == "torch" and device == "cuda":
            from .device_pipeline import DevicePipeline

            self._pipeline = DevicePipeline(
                self._engine.model,
                self.meta.mean,
                self.meta.std,
                self._device_plan,
                device,
                self.precision,
                cuda_graphs,
                compile_mode=compile_mode,
            )

    @property
    def classes(self):
        return self.meta.classes

    @property
    def provider(self) -> str:
        """What actually runs the network, e.g. 'torch cpu fp32', 'CPUExecutionProvider' or
        'openvino CPU int8 (inference precision f32, 2 threads)'; with auto, also why."""
        text = self._engine.provider
        if self._attention_engine is not None:
            text += f"; frames with an attention query: {self._attention_engine.provider}"
        if (decision := self.auto_decision) is not None:
            text += f" [auto: {decision.candidate.name} {'cached' if decision.from_cache else 'chosen'}]"
        return text

    @property
    def providers(self) -> list[str]:
        """Every ONNX Runtime provider the session runs, in order (torch: its one ``provider``)."""
        return list(getattr(self._engine, "providers", [self._engine.provider]))

    @property
    def batches_frames(self) -> bool:
        """Whether ``segment_batch`` runs same-size frames through one forward (the GPU frame path)."""
        return self._pipeline is not None

    @property
    def frame_path(self) -> str:
        """Where a frame goes, for logs and diagnostics, e.g. 'device (CUDA graphs, torch.compile default)'."""
        if self._pipeline is None:
            return f"host: OpenCV resize + {self.backend}"
        extras = ["CUDA graphs"] if self._pipeline.use_graphs else []
        if self._pipeline.compile_mode:
            extras.append(f"torch.compile {self._pipeline.compile_mode}")
        return "device" + (f" ({', '.join(extras)})" if extras else " (eager)")

    def plan(self, height: int, width: int) -> SizePlan:
        """The sizes a frame of ``height`` x ``width`` goes through: camera -> network -> output."""
        return size_plan((height, width), self.input_scale, self.input_size, self.output)

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        return self.plan(height, width).network_hw

    def _input_buffer(self, hw: tuple[int, int]) -> np.ndarray:
        """The network input array of this thread for one network size, kept from frame to frame: a fresh
        multi-MB array per frame costs its page faults every time. The engines only read it during ``run``
        (nothing they return refers to it); one per thread, so concurrent callers never share one."""
        buffers = self._inputs.__dict__.setdefault("by_size", {})
        if hw not in buffers:
            buffers.clear()  # a camera rarely changes size: keep one
            buffers[hw] = np.empty((1, 3, *hw), np.float32)
        return buffers[hw]

    def segment(self, image_bgr: np.ndarray, attention: AttentionQuery | None = None) -> Result:
        """Labels and confidence (and SAM attention for ``attention``, whose x/y are pixels of the
        output image) of one frame, at ``plan(H, W).output_hw``."""
        image = check_image(image_bgr)
        t0 = time.perf_counter()
        plan = self.plan(*image.shape[:2])
        if self._pipeline is not None and attention is None:
            return self._segment_on_device([image], plan, t0)[0]
        network_frame = resize_frame(image, plan.network_hw)
        x = normalize_bgr(network_frame, self.meta.mean, self.meta.std, out=self._input_buffer(plan.network_hw))
        t1 = time.perf_counter()
        labels, confidence, attn = self._engine_for(attention is not None).run(x, attention is not None)
        t2 = time.perf_counter()
        if plan.resizes_output:
            out_h, out_w = plan.output_hw
            labels = cv2.resize(labels, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            confidence = _resized_confidence(confidence, (out_w, out_h))
        attention_map = None
        if attention is not None:
            direction = self._engine.sam_direction
            attention_map = attention_image(attn, attention, plan.output_hw, plan.network_hw, direction)
        t3 = time.perf_counter()
        frame = image if self.output == "input" else network_frame
        return Result(labels, confidence, attention_map, _stage_timings(t0, t1, t2, t3), frame)

    def segment_batch(self, images: list[np.ndarray]) -> list[Result]:
        """Several frames at once (e.g. four cameras); one batched forward on the GPU path, where
        each frame's timings are the whole batch's (each waited for all of it)."""
        if self._pipeline is not None and images and all(i.shape == images[0].shape for i in images):
            for image in images:
                check_image(image)
            t0 = time.perf_counter()
            return self._segment_on_device(images, self.plan(*images[0].shape[:2]), t0)
        return [self.segment(image) for image in images]

    def _device_plan(self, height: int, width: int) -> SizePlan:
        """The part of the plan the GPU frame path does: all of it, or with ``output="network"``
        none, because ``_segment_on_device`` then resizes on the host (the frame at the network
        size is what overlays are drawn on, and OpenCV's resize keeps the labels of every path alike)."""
        if self.output == "network":
            return SizePlan((height, width), (height, width), (height, width))
        return self.plan(height, width)

    def _segment_on_device(self, images: list[np.ndarray], plan: SizePlan, t0: float) -> list[Result]:
        """Same-size frames through ``DevicePipeline`` in one forward; ``t0`` when their work began."""
        frames = [resize_frame(image, plan.network_hw) for image in images] if self.output == "network" else images
        batch = frames[0][None] if len(frames) == 1 else np.stack(frames)
        t1 = time.perf_counter()
        labels, confidence = self._pipeline(batch)
        t2 = time.perf_counter()
        timings = _stage_timings(t0, t1, t2, t2)
        return [Result(labels[i], confidence[i], None, dict(timings), frames[i]) for i in range(len(frames))]

    def _engine_for(self, attention: bool = False, logits: bool = False):
        """The engine that can answer: SAM attention and logits need torch. When auto picked an
        engine without them (an ONNX graph), a torch fp32 engine of the same checkpoint answers those
        calls, built at the first one and named in ``provider``; an explicit backend raises instead."""
        engine = self._engine
        if (attention and not engine.has_attention) or (logits and not engine.has_logits):
            if self.auto_decision is None or self._files.is_onnx or self.device != "cpu":
                return engine  # its run/logits raise, saying what to use
            if self._attention_engine is None:
                from .engines import TorchEngine

                self._attention_engine = TorchEngine(self.model_path, "cpu", "fp32")
                log.warning(
                    "auto runs %s, which has no %s output: such calls run on %s",
                    self.auto_decision.candidate.name,
                    "attention" if attention else "logits",
                    self._attention_engine.provider,
                )
            return self._attention_engine
        return engine

    def class_scores(self, image_bgr: np.ndarray, scale: float | None = None, flip: bool = False) -> np.ndarray:
        """KxHxW float32 softmax probabilities at the image's size (for multi-scale/flip eval)."""
        image = check_image(image_bgr)
        h, w = image.shape[:2]
        net_h, net_w = network_size(
            h, w, scale if scale is not None else self.input_scale, None if scale is not None else self.input_size
        )
        x = normalize_bgr(resize_frame(image, (net_h, net_w)), self.meta.mean, self.meta.std)
        engine = self._engine_for(logits=True)
        logits = engine.logits(x)
        if flip:
            logits = logits + engine.logits(np.ascontiguousarray(x[..., ::-1]))[..., ::-1]
        t = torch.from_numpy(np.ascontiguousarray(logits))
        probs = torch.softmax(torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False), 1)
        return probs[0].numpy()


def _resized_confidence(confidence, size_wh: tuple[int, int]) -> Callable[[], np.ndarray]:
    """The confidence (an array or a function computing it) bilinearly resized to ``size_wh``, when called."""
    return lambda: cv2.resize(
        confidence() if callable(confidence) else confidence, size_wh, interpolation=cv2.INTER_LINEAR
    )


def _stage_timings(t0: float, t1: float, t2: float, t3: float) -> dict[str, float]:
    """``TIMING_STAGES`` in ms from the perf_counter() marks that begin and end them."""
    return {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}


def attention_image(
    attention: np.ndarray, query: AttentionQuery, image_hw: tuple[int, int], net_hw: tuple[int, int], direction: str
) -> np.ndarray:
    """Turn SAM's N x S attention (at 1/16 of the network size) into an HxW map in [0, 1].

    In vertical mode pixel j = fy * fw + fx and strips are columns; in horizontal mode SAM ran
    on the transposed map, so j = fx * fh + fy and strips are rows.
    """
    if attention is None:
        raise ValueError("this model has no attention to show (SAM is switched off)")
    h, w = image_hw
    n, strips = attention.shape
    if direction == "vertical":
        fw = strips
        fh = n // fw
    else:
        fh = strips
        fw = n // fh
    fx = min(max(int(query.x * fw / w), 0), fw - 1)
    if query.y is None:
        strip = fx if direction == "vertical" else min(max(int(query.x * fh / h), 0), fh - 1)
        grid = attention[:, strip]
        grid = grid.reshape(fh, fw) if direction == "vertical" else grid.reshape(fw, fh).T
    else:
        fy = min(max(int(query.y * fh / h), 0), fh - 1)
        j = fy * fw + fx if direction == "vertical" else fx * fh + fy
        row = attention[j]
        grid = np.tile(row[None, :], (fh, 1)) if direction == "vertical" else np.tile(row[:, None], (1, fw))
    interpolation = cv2.INTER_NEAREST if query.y is not None else cv2.INTER_LINEAR
    image = cv2.resize(grid.astype(np.float32), (w, h), interpolation=interpolation)
    peak = float(image.max())  # normalise after resizing so the strongest pixel is exactly 1
    return image / peak if peak > 0 else image


def segmenter_from_args(args: argparse.Namespace, **overrides: Any) -> Segmenter:
    """The ``Segmenter`` a command's flags ask for: ``--model`` and the engine flags
    (``engine_options.add_engine_arguments``), with ``--input-scale`` where the command has it; ``overrides``
    replace any of these keywords."""
    options = {"backend": args.backend, "device": args.device, "precision": args.precision}
    options["input_scale"] = getattr(args, "input_scale", None)
    return Segmenter(args.model, **(options | overrides))
