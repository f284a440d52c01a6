"""One camera frame to output images, knowing nothing of ROS: decode -> segment -> outputs.

The node's worker calls ``decode_frame`` and ``FramePipeline.run``; everything it publishes is
computed here, so it is testable with numpy arrays alone. Only the outputs someone asked for
are computed (``wanted``), which is how the node keeps unsubscribed topics free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from attanet_model import IGNORE_INDEX, AttentionQuery, Segmenter, labels_to_color, overlay
from attanet_model.preprocess import MIN_SIDE, network_size

from .image_codec import ImageDecodeError, compressed_from_msg, image_from_msg


def decode_frame(msg: Any, compressed: bool) -> np.ndarray:
    """BGR pixels of an Image / CompressedImage; ImageDecodeError (with ``kind``) when unusable."""
    image = compressed_from_msg(msg) if compressed else image_from_msg(msg)
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageDecodeError("bad_size", f"image {w}x{h} is too small to segment (at least {MIN_SIDE} per side)")
    return image


@dataclass(frozen=True)
class FrameOptions:
    """Per-frame knobs that may change while the node runs (parameter callbacks)."""

    overlay_alpha: float = 0.5
    confidence_threshold: float = 0.0
    attention_column: int = -1  # -1: the image centre
    attention_row: int = -1  # -1: the whole strip through the column

    def attention_query(self, height: int, width: int) -> AttentionQuery:
        x = width // 2 if self.attention_column < 0 else min(self.attention_column, width - 1)
        y = None if self.attention_row < 0 else min(self.attention_row, height - 1)
        return AttentionQuery(x, y)


@dataclass
class FrameOutputs:
    """What one frame produced; an output not asked for is None."""

    size: tuple[int, int]  # (H, W) of every output image
    labels: np.ndarray | None = None  # HxW uint8 trainIds, 255 unlabeled or below the threshold
    color: np.ndarray | None = None  # HxWx3 uint8 RGB
    overlay: np.ndarray | None = None  # HxWx3 uint8 RGB
    confidence: np.ndarray | None = None  # HxW uint8, max softmax x 255
    attention: np.ndarray | None = None  # HxW uint8, SAM attention x 255
    timings_ms: dict[str, float] = field(default_factory=dict)


class FramePipeline:
    """Runs a ``Segmenter`` on frames and turns its result into the node's output images.

    ``output_resolution="network"`` wants labels at the network's size: the pipeline then
    resizes the frame itself (as the Segmenter would) and the Segmenter must run at scale 1.0,
    so nothing is upsampled only to be shrunk again. ``make_segmenter`` builds it that way.
    """

    def __init__(
        self,
        segmenter: Segmenter,
        output_resolution: str = "input",
        network_scale: float | None = None,
        network_size: tuple[int, int] | None = None,
    ) -> None:
        if output_resolution not in ("input", "network"):
            raise ValueError(f"output_resolution {output_resolution!r} is not supported; choose 'input' or 'network'")
        self.segmenter = segmenter
        self.output_resolution = output_resolution
        self.network_scale = network_scale if network_scale else segmenter.meta.input_scale
        self.fixed_size = network_size if network_size is not None else segmenter.meta.input_size
        self.classes = segmenter.classes

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the outputs for a frame of this size."""
        if self.output_resolution == "input":
            return height, width
        return network_size(height, width, self.network_scale, self.fixed_size)

    def run(self, image_bgr: np.ndarray, wanted: set[str] | frozenset[str], options: FrameOptions) -> FrameOutputs:
        t0 = time.perf_counter()
        image_bgr = self._resized(image_bgr)
        resize_ms = (time.perf_counter() - t0) * 1e3
        out_h, out_w = image_bgr.shape[:2]
        query = options.attention_query(out_h, out_w) if "attention" in wanted else None
        result = self.segmenter.segment(image_bgr, attention=query)
        return self._outputs(image_bgr, result, wanted, options, resize_ms)

    def run_many(
        self, frames: list[tuple[np.ndarray, frozenset[str]]], options: FrameOptions
    ) -> tuple[list[FrameOutputs], list[int]]:
        """Several cameras' frames, as (image, wanted): their outputs in the same order, and the
        forward batch sizes used. Same-size frames go through one batched forward where the
        Segmenter batches (the GPU frame path); elsewhere, and for attention, one at a time."""
        t0 = time.perf_counter()
        images = [self._resized(image) for image, _ in frames]
        resize_ms = (time.perf_counter() - t0) * 1e3 / max(len(frames), 1)
        keys = [(image.shape, "attention" in wanted) for image, (_, wanted) in zip(images, frames, strict=True)]
        outputs: list[FrameOutputs | None] = [None] * len(frames)
        groups = batch_groups(keys, self.segmenter.batches_frames)
        for group in groups:
            if len(group) == 1:
                i = group[0]
                query = options.attention_query(*images[i].shape[:2]) if keys[i][1] else None
                results = [self.segmenter.segment(images[i], attention=query)]
            else:
                t1 = time.perf_counter()
                results = self.segmenter.segment_batch([images[i] for i in group])
                forward_ms = (time.perf_counter() - t1) * 1e3
                for result in results:
                    result.timings_ms = {"inference": forward_ms}  # each frame waited for the whole batch
            for i, result in zip(group, results, strict=True):
                outputs[i] = self._outputs(images[i], result, frames[i][1], options, resize_ms)
        return outputs, [len(group) for group in groups]

    def _resized(self, image_bgr: np.ndarray) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        out_h, out_w = self.output_size(h, w)
        if (out_h, out_w) != (h, w):
            image_bgr = cv2.resize(image_bgr, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        return image_bgr

    def _outputs(self, image_bgr, result, wanted, options: FrameOptions, resize_ms: float) -> FrameOutputs:
        t1 = time.perf_counter()
        outputs = FrameOutputs(size=image_bgr.shape[:2])
        labels = result.labels
        if options.confidence_threshold > 0:
            labels = np.where(result.confidence < options.confidence_threshold, np.uint8(IGNORE_INDEX), labels)
        if "labels" in wanted:
            outputs.labels = labels
        if "color" in wanted:
            outputs.color = labels_to_color(labels, self.classes)
        if "overlay" in wanted:
            rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
            outputs.overlay = overlay(rgb, labels, options.overlay_alpha, self.classes)
        if "confidence" in wanted:
            outputs.confidence = to_mono8(result.confidence)
        if "attention" in wanted and result.attention is not None:
            outputs.attention = to_mono8(result.attention)
        timings = dict(result.timings_ms)
        timings["preprocess"] = timings.get("preprocess", 0.0) + resize_ms
        timings["postprocess"] = timings.get("postprocess", 0.0) + (time.perf_counter() - t1) * 1e3
        outputs.timings_ms = timings
        return outputs


def batch_groups(keys: list[tuple], batched: bool) -> list[list[int]]:
    """Indices of frames that go through one forward together, in order of first appearance.

    ``keys[i]`` is (frame shape, wants attention). With ``batched`` (a Segmenter whose
    ``segment_batch`` runs one forward), frames of the same shape without attention share a
    group; attention frames, and every frame without ``batched``, go alone.
    """
    groups: dict[tuple, list[int]] = {}
    alone: list[list[int]] = []
    order: list[list[int]] = []
    for i, (shape, attention) in enumerate(keys):
        if not batched or attention:
            alone.append([i])
            order.append(alone[-1])
            continue
        if shape not in groups:
            groups[shape] = []
            order.append(groups[shape])
        groups[shape].append(i)
    return order


def to_mono8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255, rounded."""
    return np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)


def make_segmenter(
    model_path: str,
    backend: str,
    device: str,
    precision: str,
    output_resolution: str,
    network_scale: float = 0.0,
    network_size: tuple[int, int] | None = None,
    cuda_graphs: bool = False,
    compile_mode: str | None = None,
    trt_cache: str = "",
    allow_fallback: bool = False,
) -> Segmenter:
    """The Segmenter a ``FramePipeline`` with these settings needs (scale 1.0 when the pipeline resizes).
    ``cuda_graphs`` and ``compile_mode`` act on torch + CUDA only, ``trt_cache`` and
    ``allow_fallback`` on onnxruntime + CUDA only (see ``Segmenter``)."""
    if output_resolution == "network":
        scale, size = 1.0, None
    else:
        scale, size = (network_scale or None), network_size
    return Segmenter(
        model_path or None,
        backend=backend,
        device=device,
        precision=precision,
        input_scale=scale,
        input_size=size,
        cuda_graphs=cuda_graphs,
        compile_mode=compile_mode or None,
        trt_cache=trt_cache or None,
        allow_fallback=allow_fallback,
    )


def scale_camera_info(fields: dict, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> dict:
    """Scale CameraInfo intrinsics (k, p) and size from the camera's size to the labels' size.

    Follows image_proc's resize: fx, cx scale with width, fy, cy with height; distortion is
    unitless and unchanged.
    """
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    k = list(fields["k"])
    p = list(fields["p"])
    k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
    p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
    return dict(fields, k=k, p=p, height=dst_hw[0], width=dst_hw[1])
