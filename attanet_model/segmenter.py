"""``Segmenter``: load a model once, then turn BGR camera frames into label images.

One frame: check -> resize to the network size (the paper's 0.5 scale by default) ->
normalize -> network -> argmax + max-softmax at network size -> labels (nearest) and
confidence (bilinear) resized back to the frame's own size. Every backend shares the
pre- and post-processing, so torch and ONNX Runtime differ only in the network call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .checkpoint import CheckpointError, ModelMeta, load_checkpoint, read_checkpoint
from .engine_options import TORCH_DTYPES, check_engine
from .layers import fold_batchnorm
from .onnx_export import labels_and_confidence, read_onnx_meta
from .ort_providers import (
    TENSORRT,
    ProviderRequest,
    check_session_providers,
    default_cache_dir,
    prepare_cache_dir,
    provider_plan,
    read_profile,
)
from .preprocess import check_image, network_size, normalize_bgr

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).parent / "weights" / "attanet_light_synthetic.pt"


def default_model_path() -> Path:
    """The bundled model (trained by ``attanet train`` on synthetic city scenes; see its card)."""
    return DEFAULT_MODEL


def model_file_meta(path: str | Path) -> ModelMeta:
    """The ModelMeta of a checkpoint or .onnx file, with its integrity checked, without building the
    network: for tools that must refuse a bad model file before they start anything else."""
    path = Path(path)
    if path.suffix == ".onnx":
        return read_onnx_meta(path)[0]
    return ModelMeta.from_dict(read_checkpoint(path)["meta"])


@dataclass(frozen=True)
class AttentionQuery:
    """Which SAM attention to return, in image pixel coordinates.

    ``y`` given: the attention of pixel (x, y) over all strips, painted on the strips it looks
    at (paper Figure 9). ``y`` None: for the strip through column ``x``, how strongly every pixel
    attends to it (the strip's reach across the image).
    """

    x: int
    y: int | None = None


@dataclass
class Result:
    labels: np.ndarray  # HxW uint8 trainIds
    confidence: np.ndarray  # HxW float32, max softmax probability
    attention: np.ndarray | None = None  # HxW float32 in [0, 1] when asked for
    timings_ms: dict[str, float] = field(default_factory=dict)


class Segmenter:
    """Runs one model on BGR uint8 frames at their own size.

    Args:
        model_path: an attanet checkpoint (.pt) or an exported .onnx; None = the bundled model.
        backend: "torch" or "onnxruntime" (an .onnx path implies onnxruntime).
        device: "cpu" or "cuda".
        precision: "fp32", "fp16" or "bf16" (half precisions need device="cuda" on torch).
        input_scale / input_size: override the model's network-size setting.
        cuda_graphs: on torch + CUDA, replay a captured CUDA graph per frame size.
        compile_mode: on torch + CUDA, run the frame path through ``torch.compile`` in this mode
            ("default", "max-autotune", ...); the first frame of each size compiles (tens of seconds).
        trt_cache: on onnxruntime + CUDA, the TensorRT engine/timing cache folder (default: beside
            the model); engines built there by ``attanet export --trt-cache`` are loaded, not rebuilt.
        allow_fallback: on onnxruntime + CUDA, run on what is installed when TensorRT or CUDA is
            missing (with a warning) instead of raising ``ProviderError``.

    On torch + CUDA the whole frame path runs on the GPU (``DevicePipeline``); elsewhere
    resizing uses OpenCV on the host, which is the faster choice on a CPU.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        backend: str = "torch",
        device: str = "cpu",
        precision: str = "fp32",
        input_scale: float | None = None,
        input_size: tuple[int, int] | None = None,
        cuda_graphs: bool = False,
        compile_mode: str | None = None,
        trt_cache: str | Path | None = None,
        allow_fallback: bool = False,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if path.suffix == ".onnx" and backend == "torch":
            backend = "onnxruntime"
        check_engine(backend, device, precision, compile_mode)
        self.model_path, self.backend, self.device, self.precision = path, backend, device, precision
        if backend == "torch":
            self._engine = _TorchEngine(path, device, precision)
        else:
            self._engine = _OrtEngine(path, device, precision, trt_cache, allow_fallback)
        self.meta: ModelMeta = self._engine.meta
        self.input_scale = input_scale if input_scale is not None else self.meta.input_scale
        self.input_size = input_size if input_size is not None else self.meta.input_size
        network_size(64, 64, self.input_scale, self.input_size)  # validates the scale now
        self._pipeline = None
        if backend == "torch" and device == "cuda":
            from .device_pipeline import DevicePipeline

            self._pipeline = DevicePipeline(
                self._engine.model,
                self.meta.mean,
                self.meta.std,
                self.network_size,
                device,
                precision,
                cuda_graphs,
                compile_mode=compile_mode,
            )

    @property
    def classes(self):
        return self.meta.classes

    @property
    def provider(self) -> str:
        """What actually runs the network, e.g. 'torch cpu fp32' or 'CPUExecutionProvider'."""
        return self._engine.provider

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

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        return network_size(height, width, self.input_scale, self.input_size)

    def segment(self, image_bgr: np.ndarray, attention: AttentionQuery | None = None) -> Result:
        image = check_image(image_bgr)
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        if self._pipeline is not None and attention is None:
            labels, confidence = self._pipeline(image)
            return Result(labels, confidence, None, {"pipeline": (time.perf_counter() - t0) * 1e3})
        net_h, net_w = self.network_size(h, w)
        x = self._network_input(image, net_h, net_w)
        t1 = time.perf_counter()
        labels, confidence, attn = self._engine.run(x, attention is not None)
        t2 = time.perf_counter()
        if (net_h, net_w) != (h, w):
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
            confidence = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
        attention_map = None
        if attention is not None:
            attention_map = attention_image(attn, attention, (h, w), (net_h, net_w), self._engine.sam_direction)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
        return Result(labels, confidence, attention_map, timings)

    def _network_input(self, image: np.ndarray, net_h: int, net_w: int) -> np.ndarray:
        """The frame resized to the network size (OpenCV bilinear) and normalized, 1x3xHxW."""
        if image.shape[:2] != (net_h, net_w):
            image = cv2.resize(image, (net_w, net_h), interpolation=cv2.INTER_LINEAR)
        return normalize_bgr(image, self.meta.mean, self.meta.std)

    def segment_batch(self, images: list[np.ndarray]) -> list[Result]:
        """Several frames at once (e.g. four cameras); one batched forward on the GPU path."""
        if self._pipeline is not None and images and all(i.shape == images[0].shape for i in images):
            for image in images:
                check_image(image)
            labels, confidence = self._pipeline(np.stack(images))
            return [Result(labels[i], confidence[i]) for i in range(len(images))]
        return [self.segment(image) for image in images]

    def class_scores(self, image_bgr: np.ndarray, scale: float | None = None, flip: bool = False) -> np.ndarray:
        """KxHxW float32 softmax probabilities at the image's size (for multi-scale/flip eval)."""
        image = check_image(image_bgr)
        h, w = image.shape[:2]
        net_h, net_w = network_size(
            h, w, scale if scale is not None else self.input_scale, None if scale is not None else self.input_size
        )
        x = self._network_input(image, net_h, net_w)
        logits = self._engine.logits(x)
        if flip:
            logits = logits + self._engine.logits(np.ascontiguousarray(x[..., ::-1]))[..., ::-1]
        t = torch.from_numpy(np.ascontiguousarray(logits))
        probs = torch.softmax(torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False), 1)
        return probs[0].numpy()


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


class _TorchEngine:
    def __init__(self, path: Path, device: str, precision: str) -> None:
        self.model, self.meta, _ = load_checkpoint(path)
        fold_batchnorm(self.model.eval())  # inference only: one kernel per conv layer, not two
        self.device = torch.device(device)
        self.dtype = TORCH_DTYPES[precision]
        self.model.to(self.device)
        if device == "cuda":
            self.model.to(memory_format=torch.channels_last)
        self.sam_direction = self.model.config.sam_direction
        self.provider = f"torch {device} {precision}"

    @torch.inference_mode()
    def _forward(self, x: np.ndarray, with_attention: bool):
        t = torch.from_numpy(x).to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            return self.model(t, return_attention=True) if with_attention else (self.model(t), None)

    def run(self, x: np.ndarray, with_attention: bool):
        logits, attention = self._forward(x, with_attention)
        labels, confidence = labels_and_confidence(logits.float())
        attn = attention[0].float().cpu().numpy() if attention is not None else None
        return labels[0].cpu().numpy(), confidence[0].cpu().numpy(), attn

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, False)[0].float().cpu().numpy()


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


class _OrtEngine:
    """ONNX Runtime on the providers ``ort_providers.provider_plan`` picks; GPU ones never dropped silently."""

    def __init__(
        self, path: Path, device: str, precision: str, trt_cache: str | Path | None = None, allow_fallback: bool = False
    ) -> None:
        import onnxruntime as ort

        self.meta, info = read_onnx_meta(path)
        self.argmax = bool(info.get("argmax"))
        self.sam_direction = self.meta.arch_config.get("sam_direction", "vertical")
        available = ort.get_available_providers()
        cache_dir, shapes = None, ()
        if device == "cuda" and TENSORRT in available:
            cache_dir = prepare_cache_dir(Path(trt_cache) if trt_cache else default_cache_dir(path))
            shapes = read_profile(cache_dir)
        plan = provider_plan(available, ProviderRequest(device, precision, cache_dir, allow_fallback, shapes))
        for warning in plan.warnings:
            log.warning(warning)
        self.session = ort_session(path, plan.providers)
        self.providers = self.session.get_providers()
        for warning in check_session_providers(plan.names, self.providers, allow_fallback):
            log.warning(warning)
        self.provider = self.providers[0]
        if precision == "fp16" and TENSORRT not in self.providers:
            self.provider += " (runs fp32: fp16 needs TensorRT)"  # allow_fallback only; never claim fp16
        self.trt_cache = cache_dir if TENSORRT in self.providers else None
        log.info("onnxruntime using %s", ", ".join(self.providers))

    def run(self, x: np.ndarray, with_attention: bool):
        if with_attention:
            raise ValueError("SAM attention maps need the torch backend (the ONNX graph does not output them)")
        out = self.session.run(None, {"input": x})
        if self.argmax:
            return out[0][0], out[1][0], None
        labels, confidence = labels_and_confidence(torch.from_numpy(out[0]))
        return labels[0].numpy(), confidence[0].numpy(), None

    def logits(self, x: np.ndarray) -> np.ndarray:
        if self.argmax:
            raise ValueError("this ONNX file was exported with --argmax and has no logits; export without it")
        return self.session.run(None, {"input": x})[0]
