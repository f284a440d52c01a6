"""The raster the scenes are painted on: an RGB image and a labelIds image, far to near."""

from __future__ import annotations

import cv2
import numpy as np


class Canvas:
    """An RGB float image and a labelIds image painted together, far to near (painter's order)."""

    def __init__(self, height: int, width: int, rng: np.random.Generator) -> None:
        self.h, self.w = height, width
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)
        fine = rng.standard_normal((height, width)).astype(np.float32)
        coarse = cv2.resize(
            rng.standard_normal((max(2, height // 24), max(2, width // 24))).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        blotch = cv2.resize(
            rng.standard_normal((max(2, height // 6), max(2, width // 6))).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_LINEAR,
        )
        self.fields = (fine, coarse, blotch)

    def polygon(self, pts, label: int, color, texture: float = 0.06, field_index: int = 0) -> None:
        """Fill a polygon with ``color`` modulated by a noise field, and with ``label``."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        if not np.all(np.isfinite(pts)):
            return
        pts = np.clip(pts, -8 * self.w, 8 * self.w)
        x0, y0 = np.floor(pts.min(0)).astype(int)
        x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(pts - (x0, y0)).astype(np.int32)], 1)
        m = mask.astype(bool)
        if not m.any():
            return
        tex = 1.0 + texture * self.fields[field_index][y0:y1, x0:x1][m]
        self.image[y0:y1, x0:x1][m] = np.asarray(color, np.float32)[None, :] * tex[:, None]
        self.label[y0:y1, x0:x1][m] = label

    def ellipse(self, center, axes, label: int, color, texture: float = 0.06, field_index: int = 0) -> None:
        if min(axes) < 0.3:
            return
        pts = cv2.ellipse2Poly(
            (int(round(center[0])), int(round(center[1]))),
            (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))),
            0,
            0,
            360,
            12,
        )
        self.polygon(pts, label, color, texture, field_index)

    def bar(self, p, q, width: float, label: int, color, texture: float = 0.05) -> None:
        """A straight bar of ``width`` pixels from p to q (frames, arms, legs)."""
        p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
        d = q - p
        n = np.hypot(*d)
        if n < 1e-6:
            return
        off = np.array([-d[1], d[0]]) / n * max(width, 1.0) / 2
        self.polygon([p + off, q + off, q - off, p - off], label, color, texture)

    def ring(self, center, radius: float, thickness: float, label: int, color) -> None:
        if radius < 1:
            return
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        outer = np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], -1)
        inner_r = max(radius - max(thickness, 1.0), 0.0)
        inner = np.stack([center[0] + inner_r * np.cos(t), center[1] + inner_r * np.sin(t)], -1)
        for i in range(len(t)):
            j = (i + 1) % len(t)
            self.polygon([outer[i], outer[j], inner[j], inner[i]], label, color, 0.03)
