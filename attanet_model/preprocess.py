"""Image checks, a frame's size plan (camera -> network -> output) and normalization, shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_SIDE = 16384  # larger than any camera; beyond it an image is a bug upstream
MIN_SIDE = 8
STRIDE = 32  # the coarsest feature is 1/32
OUTPUT_SIZES = ("input", "network")  # where the labels come out: the camera's size or the network's


def check_image(image: object) -> np.ndarray:
    """Return ``image`` if it is an HxWx3 uint8 BGR array, else raise ValueError saying why."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (HxWx3 uint8 BGR), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image dtype must be uint8, got {image.dtype}; scale float images to 0..255 first")
    if image.ndim != 3 or image.shape[2] != 3:
        hint = (
            " (convert BGRA with cv2.cvtColor(img, cv2.COLOR_BGRA2BGR))"
            if image.ndim == 3 and image.shape[2] == 4
            else ""
        )
        hint = hint or (" (convert mono with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))" if image.ndim == 2 else "")
        raise ValueError(f"image must be HxWx3 BGR, got shape {image.shape}{hint}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise ValueError(
            f"image size {h}x{w} (HxW) is outside the supported range {MIN_SIDE}..{MAX_SIDE} pixels per side"
        )
    return image


def network_size(height: int, width: int, scale: float = 0.5, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(H, W) the network sees for a camera frame: ``size`` if fixed, else the frame scaled by
    ``scale`` and rounded to a multiple of 32 (1024x2048 at 0.5 -> 512x1024, the paper's setting)."""
    if size is not None:
        h, w = size
    else:
        if not 0 < scale <= 4:
            raise ValueError(f"input scale must be in (0, 4], got {scale}")
        h, w = height * scale, width * scale
    return max(STRIDE, int(round(h / STRIDE)) * STRIDE), max(STRIDE, int(round(w / STRIDE)) * STRIDE)


@dataclass(frozen=True)
class SizePlan:
    """Every size one frame goes through, (H, W) each: the camera's, the network's input, the outputs'.

    ``output_hw`` is ``camera_hw`` when the outputs are wanted at the camera's size, else
    ``network_hw`` (labels at the network's size, never upsampled only to be shrunk again).
    """

    camera_hw: tuple[int, int]
    network_hw: tuple[int, int]
    output_hw: tuple[int, int]

    @property
    def resizes_input(self) -> bool:
        """Whether the frame is resized before the network."""
        return self.camera_hw != self.network_hw

    @property
    def resizes_output(self) -> bool:
        """Whether the network's labels are resized to the outputs' size."""
        return self.network_hw != self.output_hw


def size_plan(
    camera_hw: tuple[int, int], scale: float = 0.5, size: tuple[int, int] | None = None, output: str = "input"
) -> SizePlan:
    """The ``SizePlan`` of a frame of ``camera_hw``: the network size by ``network_size`` (``size`` if
    fixed, else ``scale`` and multiples of 32), the outputs at the camera's size (``output="input"``)
    or at the network's (``output="network"``)."""
    check_output(output)
    camera = (int(camera_hw[0]), int(camera_hw[1]))
    network = network_size(*camera, scale, size)
    return SizePlan(camera, network, camera if output == "input" else network)


def check_output(output: str) -> str:
    """``output`` if it is one of ``OUTPUT_SIZES``, else ValueError saying what to choose."""
    if output not in OUTPUT_SIZES:
        raise ValueError(f"output {output!r} is not supported; choose one of {', '.join(OUTPUT_SIZES)}")
    return output


def resize_frame(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``image`` at ``hw`` (OpenCV bilinear, the paper's inference resize); ``image`` itself if already that size."""
    if image.shape[:2] == tuple(hw):
        return image
    return cv2.resize(image, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)


def normalize_bgr(image: np.ndarray, mean, std, out: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 uint8 BGR -> 1x3xHxW float32 RGB, normalized with ``mean``/``std`` in [0, 1] units.

    One pass in OpenCV (``cv2.dnn.blobFromImageWithParams``: channel swap, per-channel
    ``(x - 255 mean) / (255 std)``, HWC -> NCHW float32), not four numpy passes over float copies;
    equal to ``(rgb / 255 - mean) / std`` within float32 rounding. Give it the frame at the
    network's size (``resize_frame`` first): normalizing a larger camera frame is wasted work.
    ``out``: a C-contiguous 1x3xHxW float32 array to write into and return (a caller that runs one
    frame at a time keeps one per size: a fresh multi-MB array per frame costs page faults).
    """
    std = np.asarray(std, np.float64).reshape(3)
    mean = np.asarray(mean, np.float64).reshape(3)
    if not np.all(std > 0):
        raise ValueError(f"std must be positive per channel, got {std.tolist()}")
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*(1.0 / (255.0 * std)).tolist(), 0.0)  # RGB order: applied after the swap
    params.mean = (*(255.0 * mean).tolist(), 0.0)
    params.swapRB = True
    params.ddepth = cv2.CV_32F  # the layout defaults to NCHW
    image = np.ascontiguousarray(image)
    if out is None:
        return cv2.dnn.blobFromImageWithParams(image, params)
    shape = (1, 3, *image.shape[:2])
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}, got {out.shape} {out.dtype}")
    written = cv2.dnn.blobFromImageWithParams(image, out, params)
    if written.ctypes.data != out.ctypes.data:  # OpenCV reallocated instead of writing in place
        np.copyto(out, written)
    return out
