"""Image checks, network-size arithmetic and normalization, shared by every backend."""

from __future__ import annotations

import numpy as np

MAX_SIDE = 16384  # larger than any camera; beyond it an image is a bug upstream
MIN_SIDE = 8
STRIDE = 32  # the coarsest feature is 1/32


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
        raise ValueError(f"image size {w}x{h} is outside the supported range {MIN_SIDE}..{MAX_SIDE} pixels per side")
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


def normalize_bgr(image: np.ndarray, mean, std) -> np.ndarray:
    """HxWx3 uint8 BGR -> 1x3xHxW float32 RGB, normalized with ``mean``/``std`` in [0, 1] units."""
    scale = 1.0 / (255.0 * np.asarray(std, np.float32))
    shift = np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    rgb = image[:, :, ::-1].astype(np.float32)
    out = rgb * scale - shift
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])
