"""One camera frame to output images, knowing nothing of ROS: decode -> segment -> outputs.

The node's worker calls ``decode_frame`` and ``FramePipeline.run``; everything it publishes is
computed here, so it is testable with numpy arrays alone. Only the outputs someone asked for
are computed (``wanted``), which is how the node keeps unsubscribed topics free. The sizes
(camera -> network -> output) are the Segmenter's plan. On the host path the node builds its
Segmenter with ``output="network"`` and this pipeline makes every output at the network size
and resizes it once, at the end: labels by nearest neighbour, confidence as mono8 by nearest too
(so it pairs with each label pixel for pixel), colour by one palette gather (then nearest, like the
labels), the overlay by one uint8 blend on the camera frame. No float32 copy of a camera-size frame is made.
With ``keep_buffers`` (the node) the camera-size outputs are written into arrays kept from frame to frame:
a fresh multi-MB array per output and frame costs its page faults again each time (the node fixes glibc's
mmap threshold, so such arrays are mapped and unmapped per frame).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import cv2
import numpy as np

from attanet_model import IGNORE_INDEX, AttentionQuery, Result, Segmenter, labels_to_color, overlay
from attanet_model.classes import palette
from attanet_model.preprocess import MIN_SIDE

from .image_codec import ImageDecodeError, compressed_from_msg, image_from_msg

Emit = Callable[[int, str, np.ndarray], None]  # (frame index, output name, the output) as soon as it is made


def decode_frame(msg: Any, compressed: bool) -> np.ndarray:
    """BGR pixels of an Image / CompressedImage; ImageDecodeError (with ``kind``) when unusable.
    A bgr8 frame is a view of the message's data, not a copy: nothing downstream writes into it."""
    image = compressed_from_msg(msg) if compressed else image_from_msg(msg, copy=False)
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageDecodeError(
            "bad_size", f"image {h}x{w} (HxW) is too small to segment (at least {MIN_SIDE} per side)"
        )
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

    Args:
        segmenter: the model. Its plan decides every size.
        output: "input" (outputs at the camera frame's size) or "network"; None = the segmenter's
            own ``output``. "input" with a segmenter built with ``output="network"`` makes the
            outputs at the network size and resizes them here, at the end (the node's host path).
        keep_buffers: write the resized outputs, colour and overlay into arrays kept per output and
            per frame of a ``run_many`` call: the next ``run``/``run_many`` overwrites what the last
            one returned, so a caller that keeps outputs copies them (the node publishes them first).
    """

    def __init__(self, segmenter: Segmenter, output: str | None = None, keep_buffers: bool = False) -> None:
        self.segmenter = segmenter
        self._buffers: dict[tuple, np.ndarray] | None = {} if keep_buffers else None
        self.classes = segmenter.classes
        self.palette = palette(self.classes)  # the colour lookup table, built once
        self.output = output or segmenter.output
        if self.output == "network" and segmenter.output != "network":
            raise ValueError("outputs at the network size need a Segmenter built with output='network'")
        self.resizes = self.output == "input" and segmenter.output == "network"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the outputs (and of the scaled camera_info) for a frame of this size."""
        return (height, width) if self.resizes else self.segmenter.plan(height, width).output_hw

    def run(self, image_bgr: np.ndarray, wanted: set[str] | frozenset[str], options: FrameOptions) -> FrameOutputs:
        result = self.segmenter.segment(image_bgr, attention=self._attention_query(image_bgr, wanted, options))
        return self._outputs(result, image_bgr, wanted, options, 0)

    def run_many(
        self, frames: list[tuple[np.ndarray, frozenset[str]]], options: FrameOptions, emit: Emit | None = None
    ) -> tuple[list[FrameOutputs], list[int]]:
        """Several cameras' frames, as (image, wanted): their outputs in the same order, and the
        forward batch sizes used. Same-size frames go through one batched forward where the
        Segmenter batches (the GPU frame path); elsewhere, and for attention, one at a time.
        ``emit(i, name, array)``, when given, gets each output of frame ``i`` the moment it is made
        (labels first, then confidence, colour, overlay, attention), so a caller can publish the labels
        while the rest is computed; its time is left out of ``postprocess``."""
        keys = [(image.shape, "attention" in wanted) for image, wanted in frames]
        outputs: list[FrameOutputs | None] = [None] * len(frames)
        groups = batch_groups(keys, self.segmenter.batches_frames)
        for group in groups:
            if len(group) == 1:
                image, wanted = frames[group[0]]
                results = [self.segmenter.segment(image, attention=self._attention_query(image, wanted, options))]
            else:
                results = self.segmenter.segment_batch([frames[i][0] for i in group])
            for i, result in zip(group, results, strict=True):
                frame_emit = None if emit is None else partial(emit, i)
                outputs[i] = self._outputs(result, frames[i][0], frames[i][1], options, i, frame_emit)
        return outputs, [len(group) for group in groups]

    def _attention_query(self, image_bgr: np.ndarray, wanted, options: FrameOptions) -> AttentionQuery | None:
        """The SAM query in the Segmenter's result pixels; the parameters name pixels of the published images."""
        if "attention" not in wanted:
            return None
        height, width = self.output_size(*image_bgr.shape[:2])
        query = options.attention_query(height, width)
        if not self.resizes:
            return query
        net_h, net_w = self.segmenter.plan(height, width).network_hw
        return AttentionQuery(query.x * net_w / width, None if query.y is None else query.y * net_h / height)

    def _outputs(
        self, result: Result, image_bgr: np.ndarray, wanted, options: FrameOptions, slot: int, emit=None
    ) -> FrameOutputs:
        t1 = time.perf_counter()
        emitted_s = 0.0

        def made(name: str, array: np.ndarray | None) -> None:
            nonlocal emitted_s
            setattr(outputs, name, array)
            if emit is not None and array is not None:
                started = time.perf_counter()
                emit(name, array)
                emitted_s += time.perf_counter() - started

        size = image_bgr.shape[:2] if self.resizes else result.labels.shape[:2]
        outputs = FrameOutputs(size=size)
        small = result.labels
        if options.confidence_threshold > 0:  # at the network size, before the labels are resized
            small = np.where(result.confidence < options.confidence_threshold, np.uint8(IGNORE_INDEX), small)
        labels = self._resized(small, size, cv2.INTER_NEAREST, self._buffer(slot, "labels", size))
        if "labels" in wanted:
            made("labels", labels)
        if "confidence" in wanted:  # mono8 at the network size, then resized: no camera-size float map
            # nearest, like the labels: each published pixel's confidence is the one its label came from, so a
            # consumer thresholding it (Nav2's segmentation layer) agrees with the node's 255s pixel for pixel
            mono8 = to_mono8(result.confidence)
            made("confidence", self._resized(mono8, size, cv2.INTER_NEAREST, self._buffer(slot, "confidence", size)))
        color = None
        if "color" in wanted or "overlay" in wanted:
            # the palette gather on the network-size labels, then nearest: the same pixels, fewer gathers
            kept = self._buffer(slot, "color", (*size, 3))
            same_size = small.shape[:2] == tuple(size)
            small_color = labels_to_color(small, lut=self.palette, out=kept if same_size else None)
            color = self._resized(small_color, size, cv2.INTER_NEAREST, kept)
        if "color" in wanted:
            made("color", color)
        if "overlay" in wanted:
            frame = image_bgr if self.resizes else result.frame  # the frame at the output size
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=self._buffer(slot, "rgb", frame.shape))
            out = self._buffer(slot, "overlay", frame.shape)
            made("overlay", overlay(rgb, labels, options.overlay_alpha, color=color, out=out))
        if "attention" in wanted and result.attention is not None:
            made("attention", to_mono8(self._attention_at(result.attention, size)))
        timings = dict(result.timings_ms)
        compute_ms = (time.perf_counter() - t1 - emitted_s) * 1e3
        timings["postprocess"] = timings.get("postprocess", 0.0) + compute_ms
        outputs.timings_ms = timings
        return outputs

    def _buffer(self, slot: int, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        """The kept uint8 array for this frame slot and output (None without ``keep_buffers``)."""
        if self._buffers is None:
            return None
        shape = tuple(int(n) for n in shape)
        kept = self._buffers.get((slot, name))
        if kept is None or kept.shape != shape:  # a new camera size replaces the old array
            kept = self._buffers[(slot, name)] = np.empty(shape, np.uint8)
        return kept

    def _resized(
        self, image: np.ndarray, size: tuple[int, int], interpolation: int, dst: np.ndarray | None = None
    ) -> np.ndarray:
        if image.shape[:2] == tuple(size):
            return image
        return cv2.resize(image, (size[1], size[0]), dst=dst, interpolation=interpolation)

    def _attention_at(self, attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """SAM's map at the output size, its strongest pixel exactly 1 as the Segmenter gives it."""
        if attention.shape[:2] == tuple(size):
            return attention
        image = self._resized(attention, size, cv2.INTER_LINEAR)
        peak = float(image.max())
        return image / peak if peak > 0 else image


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
