"""Scene building blocks: things with a depth, boxes with decorated faces, colours drawn per instance.

Each thing has a near depth (for painter's order) and draws itself for a camera at time t (frames
since the start), so moving traffic stays coherent across a sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

import cv2
import numpy as np

from ..cityscapes_labels import LABEL_IDS as L
from .camera import NEAR, Camera
from .canvas import Canvas


def jitter(rng: np.random.Generator, base, spread: float) -> np.ndarray:
    return np.clip(np.asarray(base, np.float32) + rng.uniform(-spread, spread, 3), 0, 255)


def random_color(rng: np.random.Generator, lo: float = 20, hi: float = 235) -> np.ndarray:
    gray = rng.uniform(lo, hi)
    if rng.random() < 0.45:  # greys, whites, blacks are common on every class
        return jitter(rng, (gray, gray, gray), 12)
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(40, 230), rng.integers(60, 240)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


# --------------------------------------------------------------------------------------------
# World objects. Each has a near depth (for painter's order) and draws itself for a camera at
# time t (frames since the start), so moving traffic stays coherent across a sequence.
# --------------------------------------------------------------------------------------------


@dataclass
class Thing:
    z: float  # near depth at t = 0
    draw: Callable[[Canvas, Camera, float], None]
    vz: float = 0.0  # metres per frame along +z

    def depth(self, t: float) -> float:
        return self.z + self.vz * t


@dataclass
class Box:
    """An axis-aligned box [x0,x1] x [y0,y1] x [z0,z1] with per-face decorations."""

    x0: float
    x1: float
    y0: float
    y1: float
    z0: float
    z1: float
    _: KW_ONLY
    label: int
    color: np.ndarray
    texture: float = 0.07
    field_index: int = 1
    decorate: list[Callable] = field(default_factory=list)

    @classmethod
    def across(cls, x, width, y0, y1, z0, z1, label, color, texture, field_index, inset=0.0) -> Box:
        """A box ``width`` wide centred on ``x`` (less ``inset`` each side): a vehicle's body or cab."""
        return cls(
            x - width / 2 + inset,
            x + width / 2 - inset,
            y0,
            y1,
            z0,
            z1,
            label=label,
            color=color,
            texture=texture,
            field_index=field_index,
        )

    def faces(self, cam: Camera):
        """Visible faces as (name, origin, axis_s, axis_t, shade) with 3D axes."""
        z0 = max(self.z0, cam.z + NEAR)
        if self.z1 <= z0:
            return []
        out = [("front", (self.x0, self.y0, z0), (self.x1 - self.x0, 0, 0), (0, self.y1 - self.y0, 0), 1.0)]
        if cam.x < self.x0:
            out.append(("side", (self.x0, self.y0, z0), (0, 0, self.z1 - z0), (0, self.y1 - self.y0, 0), 0.78))
        if cam.x > self.x1:
            out.append(("side", (self.x1, self.y0, z0), (0, 0, self.z1 - z0), (0, self.y1 - self.y0, 0), 0.78))
        if cam.height > self.y1:
            out.append(("top", (self.x0, self.y1, z0), (self.x1 - self.x0, 0, 0), (0, 0, self.z1 - z0), 1.12))
        return out

    def draw(self, canvas: Canvas, cam: Camera, dz: float = 0.0) -> None:
        moved = Box(self.x0, self.x1, self.y0, self.y1, self.z0 + dz, self.z1 + dz, label=self.label, color=self.color)
        for name, o, a, b, shade in moved.faces(cam):
            quad = face_points(o, a, b, [(0, 0), (1, 0), (1, 1), (0, 1)])
            canvas.polygon(cam.project(*quad.T), self.label, self.color * shade, self.texture, self.field_index)
            for deco in self.decorate:
                deco(canvas, cam, name, o, a, b, shade)


def face_points(o, a, b, st) -> np.ndarray:
    o, a, b = (np.asarray(v, np.float64) for v in (o, a, b))
    st = np.asarray(st, np.float64)
    return o[None] + st[:, :1] * a[None] + st[:, 1:] * b[None]


def face_grid(
    label: int,
    color,
    rows: int,
    cols: int,
    margin=(0.1, 0.15),
    faces=("front", "side"),
    t_range=(0.0, 1.0),
    texture: float = 0.12,
    jitter_rng: np.random.Generator | None = None,
):
    """A decoration: a rows x cols grid of rectangles on a face (windows, window bands)."""
    lit = jitter_rng.random((rows, cols)) if jitter_rng is not None else np.zeros((rows, cols))

    def deco(canvas: Canvas, cam: Camera, name, o, a, b, shade) -> None:
        if name not in faces:
            return
        extent = np.linalg.norm(a)
        n_cols = cols if name == "side" else max(1, int(round(cols * min(1.0, extent / 12))))
        t0, t1 = t_range
        for r in range(rows):
            for c in range(n_cols):
                s_a, s_b = (c + margin[0]) / n_cols, (c + 1 - margin[0]) / n_cols
                v_a = t0 + (t1 - t0) * (r + margin[1]) / rows
                v_b = t0 + (t1 - t0) * (r + 1 - margin[1]) / rows
                quad = face_points(o, a, b, [(s_a, v_a), (s_b, v_a), (s_b, v_b), (s_a, v_b)])
                tint = 1.0 + 0.5 * lit[r % lit.shape[0], c % lit.shape[1]]
                canvas.polygon(
                    cam.project(*quad.T), label, np.clip(np.asarray(color) * shade * tint, 0, 255), texture, 0
                )

    return deco


def wheels(radius: float, positions: tuple[float, ...], label: int):
    """Dark wheels on a vehicle's side faces at fractions of its length."""

    def deco(canvas: Canvas, cam: Camera, name, o, a, b, shade) -> None:
        if name != "side":
            return
        for s in positions:
            centre = np.asarray(o, np.float64) + s * np.asarray(a, np.float64)
            uv = cam.project(centre[0], radius, centre[2])[0]
            r = radius * cam.scale(centre[2])
            canvas.ellipse(uv, (r * 0.55, r), label, (22, 22, 24), 0.05)
            canvas.ellipse(uv, (r * 0.25, r * 0.45), label, (120, 120, 125), 0.05)

    return deco


def rear_lights(label: int, color, faces=("front",)):
    def deco(canvas: Canvas, cam: Camera, name, o, a, b, shade) -> None:
        if name not in faces:
            return
        for s0, s1 in ((0.04, 0.2), (0.8, 0.96)):
            quad = face_points(o, a, b, [(s0, 0.35), (s1, 0.35), (s1, 0.5), (s0, 0.5)])
            canvas.polygon(cam.project(*quad.T), label, color, 0.05)

    return deco


# ---- sprites (billboards facing the camera) ----------------------------------------------------


def fence_lattice(color):
    def deco(canvas: Canvas, cam: Camera, name, o, a, b, shade) -> None:
        if name != "side":
            return
        n = max(2, int(np.linalg.norm(a) / 0.6))
        for i in range(n + 1):
            p = face_points(o, a, b, [(i / n, 0), (i / n, 1)])
            uv = cam.project(*p.T)
            canvas.bar(uv[0], uv[1], max(1.0, 0.06 * cam.scale(p[0, 2])), L["fence"], color * 0.6)
        for tt in (0.08, 0.92):
            p = face_points(o, a, b, [(0, tt), (1, tt)])
            uv = cam.project(*p.T)
            canvas.bar(uv[0], uv[1], max(1.0, 0.06 * cam.scale(max(p[0, 2], cam.z + 5))), L["fence"], color * 0.6)

    return deco
