"""Synthetic street scenes in the Cityscapes layout, for tests, demos and the bundled model.

Each frame is rendered from a small 3D world seen by a pinhole camera 1.2-1.6 m above a flat
road: a road in perspective with lane markings, sidewalks and terrain, building and wall boxes
with window grids, fences, trees and hedges, poles carrying traffic lights and signs, vehicles
(cars, trucks, buses, trams, motorcycles and bicycles with riders) and persons, sky with clouds.
Colours are drawn per instance from overlapping ranges (grey cars on grey roads, blue signs
against blue sky), surfaces carry noise and coarse stains, and frames get sun shadows, exposure
and white-balance changes, so the class must come from shape and context, which is what SAM's
column strips capture. All 19 evaluation classes appear, plus ego-vehicle and parking pixels
that map to the ignore label.

``generate_dataset`` writes ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` and the
``gtFine`` labelIds, labelTrainIds and colour images. The same seed gives the same bytes.
``sequence=True`` renders one world with a camera driving forward (traffic moves too), so
consecutive frames are temporally coherent, as from a real car.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .cityscapes_labels import LABEL_IDS, label_ids_to_color, label_ids_to_train_ids

L = LABEL_IDS  # labelIds by official name
NEAR = 0.6  # metres: geometry closer than this to the camera is clipped
MAX_SIDE = 8192  # pixels: beyond any camera (8K video is 7680x4320)
RENDER_BYTES_PER_PIXEL = 100  # peak memory of one frame being rendered (measured: 95-102 B/px)


@dataclass
class Camera:
    """Pinhole camera looking down +z over a flat ground (y = 0 is the road surface)."""

    f: float
    cx: float
    horizon: float
    height: float
    x: float = 0.0
    z: float = 0.0

    def project(self, x, y, z) -> np.ndarray:
        """World points -> Nx2 pixel coordinates (u right, v down)."""
        x, y, z = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, np.float64)) for a in (x, y, z)))
        d = np.maximum(z - self.z, NEAR)
        return np.stack([self.cx + self.f * (x - self.x) / d, self.horizon + self.f * (self.height - y) / d], -1)

    def scale(self, z: float) -> float:
        """Pixels per metre at depth ``z``."""
        return self.f / max(z - self.z, NEAR)


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


def _jitter(rng: np.random.Generator, base, spread: float) -> np.ndarray:
    return np.clip(np.asarray(base, np.float32) + rng.uniform(-spread, spread, 3), 0, 255)


def _random_color(rng: np.random.Generator, lo: float = 20, hi: float = 235) -> np.ndarray:
    gray = rng.uniform(lo, hi)
    if rng.random() < 0.45:  # greys, whites, blacks are common on every class
        return _jitter(rng, (gray, gray, gray), 12)
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
    label: int
    color: np.ndarray
    texture: float = 0.07
    field_index: int = 1
    decorate: list[Callable] = field(default_factory=list)

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
        moved = Box(self.x0, self.x1, self.y0, self.y1, self.z0 + dz, self.z1 + dz, self.label, self.color)
        for name, o, a, b, shade in moved.faces(cam):
            quad = _face_points(o, a, b, [(0, 0), (1, 0), (1, 1), (0, 1)])
            canvas.polygon(cam.project(*quad.T), self.label, self.color * shade, self.texture, self.field_index)
            for deco in self.decorate:
                deco(canvas, cam, name, o, a, b, shade)


def _face_points(o, a, b, st) -> np.ndarray:
    o, a, b = (np.asarray(v, np.float64) for v in (o, a, b))
    st = np.asarray(st, np.float64)
    return o[None] + st[:, :1] * a[None] + st[:, 1:] * b[None]


def _face_grid(
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
                quad = _face_points(o, a, b, [(s_a, v_a), (s_b, v_a), (s_b, v_b), (s_a, v_b)])
                tint = 1.0 + 0.5 * lit[r % lit.shape[0], c % lit.shape[1]]
                canvas.polygon(
                    cam.project(*quad.T), label, np.clip(np.asarray(color) * shade * tint, 0, 255), texture, 0
                )

    return deco


def _wheels(radius: float, positions: tuple[float, ...], label: int):
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


def _rear_lights(label: int, color, faces=("front",)):
    def deco(canvas: Canvas, cam: Camera, name, o, a, b, shade) -> None:
        if name not in faces:
            return
        for s0, s1 in ((0.04, 0.2), (0.8, 0.96)):
            quad = _face_points(o, a, b, [(s0, 0.35), (s1, 0.35), (s1, 0.5), (s0, 0.5)])
            canvas.polygon(cam.project(*quad.T), label, color, 0.05)

    return deco


# ---- sprites (billboards facing the camera) ----------------------------------------------------


def _person(rng: np.random.Generator, x: float, z: float, label: int, vz: float = 0.0) -> Thing:
    height = rng.uniform(1.55, 1.95)
    shirt, pants = _random_color(rng), _random_color(rng, 15, 160)
    skin = _jitter(rng, rng.choice([(230, 190, 160), (190, 140, 100), (120, 80, 55)]), 15)
    stride = rng.uniform(-0.25, 0.25)
    bag = rng.random() < 0.3

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        zz = z + vz * t
        if zz - cam.z < NEAR * 2:
            return
        s = cam.scale(zz)
        u, v = cam.project(x, 0, zz)[0]
        hpx = height * s
        hip = (u, v - 0.48 * hpx)
        canvas.bar(hip, (u - stride * s - 0.08 * s, v), 0.14 * s, label, pants)
        canvas.bar(hip, (u + stride * s + 0.08 * s, v), 0.14 * s, label, pants * 0.9)
        canvas.polygon(
            [
                (u - 0.2 * s, v - 0.82 * hpx),
                (u + 0.2 * s, v - 0.82 * hpx),
                (u + 0.17 * s, v - 0.45 * hpx),
                (u - 0.17 * s, v - 0.45 * hpx),
            ],
            label,
            shirt,
        )
        canvas.bar((u - 0.2 * s, v - 0.8 * hpx), (u - 0.26 * s, v - 0.52 * hpx), 0.09 * s, label, shirt * 0.85)
        canvas.bar((u + 0.2 * s, v - 0.8 * hpx), (u + 0.26 * s, v - 0.52 * hpx), 0.09 * s, label, shirt * 0.85)
        canvas.ellipse((u, v - 0.9 * hpx), (0.1 * s, 0.12 * s), label, skin)
        if bag:
            canvas.polygon(
                [
                    (u + 0.18 * s, v - 0.7 * hpx),
                    (u + 0.36 * s, v - 0.7 * hpx),
                    (u + 0.36 * s, v - 0.5 * hpx),
                    (u + 0.18 * s, v - 0.5 * hpx),
                ],
                label,
                pants * 0.7,
            )

    return Thing(z, draw, vz)


def _two_wheeler(rng: np.random.Generator, x: float, z: float, motor: bool, with_rider: bool, vz: float = 0.0) -> Thing:
    """A bicycle or motorcycle seen from the side, optionally ridden (rider pixels are 'rider')."""
    vehicle_label = L["motorcycle"] if motor else L["bicycle"]
    frame_color = _random_color(rng)
    wheel_r = 0.33 if motor else 0.34
    length = 1.9 if motor else 1.7
    facing = 1 if rng.random() < 0.5 else -1
    rider_color, pants = _random_color(rng), _random_color(rng, 15, 120)
    helmet = _random_color(rng)

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        zz = z + vz * t
        if zz - cam.z < NEAR * 3:
            return
        s = cam.scale(zz)
        u, v = cam.project(x, 0, zz)[0]
        half = length / 2 * s
        back, front = (
            (u - facing * (half - wheel_r * s), v - wheel_r * s),
            (u + facing * (half - wheel_r * s), v - wheel_r * s),
        )
        seat = (u - facing * 0.2 * s, v - (0.95 if motor else 0.9) * s)
        bars = (u + facing * 0.45 * s, v - 1.05 * s)
        if motor:
            canvas.ellipse(back, (wheel_r * s, wheel_r * s), vehicle_label, (25, 25, 25))
            canvas.ellipse(front, (wheel_r * s, wheel_r * s), vehicle_label, (25, 25, 25))
            canvas.polygon(
                [(back[0], back[1] - 0.1 * s), (u + facing * 0.35 * s, v - 0.35 * s), bars, (u, v - 0.95 * s), seat],
                vehicle_label,
                frame_color,
            )
            canvas.bar(bars, front, 0.08 * s, vehicle_label, (150, 150, 150))
        else:
            canvas.ring(back, wheel_r * s, 0.06 * s, vehicle_label, (30, 30, 30))
            canvas.ring(front, wheel_r * s, 0.06 * s, vehicle_label, (30, 30, 30))
            crank = (u, v - wheel_r * s)
            for p, q in ((back, crank), (crank, seat), (seat, back), (crank, bars), (bars, front), (seat, bars)):
                canvas.bar(p, q, 0.05 * s, vehicle_label, frame_color)
        if with_rider:
            hip = seat
            shoulder = (u + facing * 0.15 * s, v - 1.55 * s)
            knee = (u + facing * 0.2 * s, v - 0.6 * s)
            canvas.bar(hip, knee, 0.15 * s, L["rider"], pants)
            canvas.bar(knee, (u + facing * 0.05 * s, v - 0.2 * s), 0.12 * s, L["rider"], pants)
            canvas.bar(hip, shoulder, 0.32 * s, L["rider"], rider_color)
            canvas.bar(shoulder, bars, 0.09 * s, L["rider"], rider_color * 0.85)
            canvas.ellipse((shoulder[0], shoulder[1] - 0.18 * s), (0.12 * s, 0.13 * s), L["rider"], helmet)

    return Thing(z, draw, vz)


def _pole(rng: np.random.Generator, x: float, z: float, side: int) -> Thing:
    """A pole; maybe a traffic light (on top or on an arm over the road) and/or traffic signs."""
    height = rng.uniform(3.5, 8.0)
    width = rng.uniform(0.12, 0.28)
    color = _jitter(rng, rng.choice([(120, 120, 120), (60, 70, 60), (170, 170, 165), (40, 40, 40)]), 20)
    kind = rng.choice(["plain", "light", "sign", "light+sign", "lamp"], p=[0.12, 0.3, 0.3, 0.18, 0.1])
    arm = rng.random() < 0.4
    sign_shape = rng.choice(["circle", "triangle", "square", "rect"])
    sign_color = _jitter(rng, rng.choice([(200, 30, 30), (30, 70, 170), (230, 230, 230), (240, 200, 20)]), 20)
    housing = _jitter(rng, rng.choice([(35, 35, 35), (200, 170, 40), (70, 80, 70)]), 15)
    lit = rng.integers(0, 3)
    sign_h = rng.uniform(2.0, 3.2)

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        if z - cam.z < NEAR * 3:
            return
        s = cam.scale(z)
        u, v = cam.project(x, 0, z)[0]
        top = v - height * s
        canvas.polygon(
            [(u - width * s / 2, v), (u + width * s / 2, v), (u + width * s / 2, top), (u - width * s / 2, top)],
            L["pole"],
            color,
            0.05,
        )
        head_u = u
        if arm and kind in ("light", "light+sign", "lamp"):
            head_u = u - side * 2.2 * s
            canvas.bar((u, top + 0.1 * s), (head_u, top + 0.1 * s), 0.12 * s, L["pole"], color)
        if kind in ("light", "light+sign"):
            hw, hh = 0.18 * s, 0.5 * s
            cy = top + (0.6 * s if arm else -hh)
            canvas.polygon(
                [(head_u - hw, cy - hh), (head_u + hw, cy - hh), (head_u + hw, cy + hh), (head_u - hw, cy + hh)],
                L["traffic light"],
                housing,
                0.05,
            )
            for i, lamp in enumerate(((230, 40, 30), (240, 180, 30), (40, 220, 90))):
                c = lamp if i == lit else (50, 50, 45)
                canvas.ellipse((head_u, cy - hh + (i + 0.5) * 2 * hh / 3), (hw * 0.6, hw * 0.6), L["traffic light"], c)
        if kind == "lamp":
            canvas.polygon(
                [
                    (head_u - 0.3 * s, top),
                    (head_u + 0.3 * s, top),
                    (head_u + 0.2 * s, top + 0.15 * s),
                    (head_u - 0.2 * s, top + 0.15 * s),
                ],
                L["pole"],
                color * 1.2,
            )
        if kind in ("sign", "light+sign"):
            cy = v - sign_h * s
            r = 0.35 * s
            label = L["traffic sign"]
            if sign_shape == "circle":
                canvas.ellipse((u, cy), (r, r), label, sign_color)
                canvas.ellipse((u, cy), (r * 0.7, r * 0.7), label, (235, 235, 235))
            elif sign_shape == "triangle":
                canvas.polygon([(u, cy - r), (u + r, cy + r * 0.8), (u - r, cy + r * 0.8)], label, sign_color)
                canvas.polygon(
                    [(u, cy - r * 0.5), (u + r * 0.55, cy + r * 0.55), (u - r * 0.55, cy + r * 0.55)],
                    label,
                    (235, 235, 235),
                )
            elif sign_shape == "square":
                canvas.polygon([(u - r, cy - r), (u + r, cy - r), (u + r, cy + r), (u - r, cy + r)], label, sign_color)
            else:
                canvas.polygon(
                    [
                        (u - 1.6 * r, cy - 0.6 * r),
                        (u + 1.6 * r, cy - 0.6 * r),
                        (u + 1.6 * r, cy + 0.6 * r),
                        (u - 1.6 * r, cy + 0.6 * r),
                    ],
                    label,
                    sign_color,
                )

    return Thing(z, draw)


def _tree(rng: np.random.Generator, x: float, z: float) -> Thing:
    trunk_h, trunk_w = rng.uniform(1.8, 3.5), rng.uniform(0.25, 0.5)
    crown = rng.uniform(1.5, 3.5)
    blobs = [
        (rng.uniform(-0.8, 0.8), rng.uniform(-0.5, 0.9), rng.uniform(0.5, 0.9), rng.uniform(0.85, 1.1))
        for _ in range(rng.integers(3, 7))
    ]
    leaf = _jitter(rng, rng.choice([(70, 110, 40), (40, 80, 35), (110, 130, 50), (130, 100, 50)]), 25)
    bark = _jitter(rng, (90, 70, 50), 20)

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        if z - cam.z < NEAR * 3:
            return
        s = cam.scale(z)
        u, v = cam.project(x, 0, z)[0]
        canvas.polygon(
            [
                (u - trunk_w * s / 2, v),
                (u + trunk_w * s / 2, v),
                (u + trunk_w * s / 3, v - trunk_h * s),
                (u - trunk_w * s / 3, v - trunk_h * s),
            ],
            L["vegetation"],
            bark,
            0.1,
        )
        cy = v - (trunk_h + crown * 0.6) * s
        for bx, by, br, tone in blobs:
            canvas.ellipse(
                (u + bx * crown * s, cy - by * crown * s),
                (br * crown * s, br * crown * s * 0.9),
                L["vegetation"],
                leaf * tone,
                0.3,
                0,
            )

    return Thing(z, draw)


# ---- the world -----------------------------------------------------------------------------


@dataclass
class World:
    """A straight street of ``length`` metres: ground layout plus depth-sorted things."""

    road_half: float
    walk: tuple[float, float]  # sidewalk widths, left and right
    verge: tuple[bool, bool]  # terrain strip between road and sidewalk
    outer: tuple[int, int]  # what lies beyond each sidewalk: sidewalk or terrain labelId
    colors: dict[str, np.ndarray]
    things: list[Thing]
    parking: list[tuple[int, float, float]]  # (side, z0, z1)
    rail: bool

    def draw_ground(self, canvas: Canvas, cam: Camera) -> None:
        far = cam.z + 2000.0

        def strip(x0, x1, z0, z1, label, color, texture=0.08, field_index=1):
            quad = cam.project([x0, x1, x1, x0], 0, [z0, z0, z1, z1])
            canvas.polygon(quad, label, color, texture, field_index)

        for side, outer in zip((-1, 1), self.outer, strict=True):
            x_far = side * 500.0
            edge = side * self.road_half
            strip(min(edge, x_far), max(edge, x_far), cam.z + NEAR, far, outer, self.colors[f"outer{side}"], 0.15, 2)
        strip(-self.road_half, self.road_half, cam.z + NEAR, far, L["road"], self.colors["road"], 0.07, 1)
        if self.rail:
            for x in (-0.75, 0.75):
                strip(x - 0.05, x + 0.05, cam.z + NEAR, far, L["road"], (150, 150, 155), 0.05, 0)
        dash = 3.0
        start = np.floor(cam.z / 12.0) * 12.0
        for zz in np.arange(start, cam.z + 160, 12.0):
            for lane_x in (0.0,) if not self.rail else (-2.0, 2.0):
                strip(
                    lane_x - 0.08, lane_x + 0.08, max(zz, cam.z + NEAR), zz + dash, L["road"], (225, 225, 215), 0.05, 0
                )
        for side, walk, verge in zip((-1, 1), self.walk, self.verge, strict=True):
            inner = self.road_half + (1.2 if verge else 0.0)
            if verge:
                strip(
                    *sorted((side * self.road_half, side * inner)),
                    cam.z + NEAR,
                    far,
                    L["terrain"],
                    self.colors["terrain"],
                    0.2,
                    2,
                )
            strip(
                *sorted((side * inner, side * (inner + walk))),
                cam.z + NEAR,
                far,
                L["sidewalk"],
                self.colors["sidewalk"],
                0.1,
                1,
            )
            # curb: a thin lighter band at the sidewalk's road edge
            strip(
                *sorted((side * inner, side * (inner + 0.15))),
                cam.z + NEAR,
                far,
                L["sidewalk"],
                self.colors["sidewalk"] * 1.15,
                0.05,
                0,
            )
        for side, z0, z1 in self.parking:
            x0 = side * (self.road_half - 2.2)
            strip(
                *sorted((x0, side * self.road_half)),
                max(z0, cam.z + NEAR),
                z1,
                L["parking"],
                self.colors["road"] * 1.08,
                0.08,
                1,
            )

    def things_at(self, t: float) -> list[Thing]:
        return sorted(self.things, key=lambda th: -th.depth(t))


def _building_box(rng, side, x_front, z0, length, color_rng_boost=1.0) -> Thing:
    height = rng.uniform(6, 28)
    depth = rng.uniform(8, 20)
    x0, x1 = (x_front, x_front + depth) if side > 0 else (x_front - depth, x_front)
    color = _random_color(rng, 60, 220) * color_rng_boost
    box = Box(x0, x1, 0, height, z0, z0 + length, L["building"], color, 0.1, 1)
    floors = max(1, int(height / 3.2))
    cols = max(1, int(length / 3.0))
    glass = _jitter(rng, rng.choice([(40, 50, 65), (90, 110, 130), (30, 30, 30), (150, 160, 170)]), 15)
    box.decorate.append(
        _face_grid(
            L["building"], glass, floors, cols, (rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.3)), jitter_rng=rng
        )
    )
    if rng.random() < 0.5:  # shop fronts at street level
        box.decorate.append(
            _face_grid(
                L["building"],
                _random_color(rng),
                1,
                max(1, cols // 2),
                (0.05, 0.1),
                t_range=(0.0, min(1.0, 3.0 / height)),
            )
        )
    return Thing(z0, lambda c, cam, t, b=box: b.draw(c, cam))


def _vehicle(rng: np.random.Generator, kind: str, x: float, z: float, vz: float) -> Thing:
    """Cars, trucks, buses and trams as boxes with windows, wheels and lights."""
    label = L[kind]
    color = _random_color(rng)
    parts: list[Box] = []
    glass = _jitter(rng, (35, 45, 55), 20)
    if kind == "car":
        length, width = rng.uniform(3.8, 4.9), rng.uniform(1.65, 1.95)
        body = Box(x - width / 2, x + width / 2, 0.22, 0.95, z, z + length, label, color, 0.05, 0)
        cabin = Box(
            x - width / 2 + 0.12,
            x + width / 2 - 0.12,
            0.95,
            rng.uniform(1.35, 1.6),
            z + 0.9,
            z + length - 0.8,
            label,
            color * 0.95,
            0.05,
            0,
        )
        cabin.decorate.append(_face_grid(label, glass, 1, 2, (0.06, 0.12)))
        body.decorate += [_wheels(0.33, (0.18, 0.8), label), _rear_lights(label, (200, 30, 30))]
        parts += [body, cabin]
    elif kind == "truck":
        length, width = rng.uniform(6, 10), 2.5
        cargo_h = rng.uniform(3.0, 3.8)
        cargo = Box(x - width / 2, x + width / 2, 0.5, cargo_h, z, z + length - 2.2, label, color, 0.08, 1)
        cab = Box(
            x - width / 2 + 0.05,
            x + width / 2 - 0.05,
            0.5,
            2.9,
            z + length - 2.2,
            z + length,
            label,
            _random_color(rng),
            0.05,
            0,
        )
        cab.decorate.append(_face_grid(label, glass, 1, 1, (0.1, 0.15), t_range=(0.5, 0.9)))
        cargo.decorate += [_wheels(0.5, (0.15, 0.3, 0.95), label), _rear_lights(label, (200, 40, 30))]
        under = Box(
            x - width / 2 + 0.2,
            x + width / 2 - 0.2,
            0.0,
            0.5,
            z + 0.3,
            z + length - 0.3,
            label,
            np.float32([30, 30, 30]),
            0.05,
            0,
        )
        parts += [under, cargo, cab]
    elif kind == "bus":
        length, width = rng.uniform(10, 13), 2.55
        body = Box(x - width / 2, x + width / 2, 0.3, rng.uniform(3.0, 3.4), z, z + length, label, color, 0.05, 0)
        body.decorate += [
            _face_grid(label, glass, 1, int(length / 1.6), (0.04, 0.08), t_range=(0.45, 0.9)),
            _wheels(0.5, (0.2, 0.8), label),
            _rear_lights(label, (210, 40, 30)),
        ]
        parts.append(body)
    else:  # train: a tram on rails
        length, width = rng.uniform(25, 40), 2.6
        body = Box(x - width / 2, x + width / 2, 0.4, 3.6, z, z + length, label, color, 0.05, 0)
        body.decorate += [
            _face_grid(label, glass, 1, int(length / 2.2), (0.08, 0.1), t_range=(0.4, 0.85)),
            _face_grid(label, glass, 1, 1, (0.08, 0.1), faces=("front",), t_range=(0.45, 0.9)),
            _wheels(0.35, tuple(np.linspace(0.08, 0.92, 4)), label),
        ]
        roof = Box(x - 0.4, x + 0.4, 3.6, 3.9, z + 3, z + 6, label, np.float32([60, 60, 60]), 0.05, 0)
        parts += [body, roof]

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        for part in parts:
            part.draw(canvas, cam, vz * t)

    return Thing(z, draw, vz)


def _segment_boxes(
    rng, side, x_front, z_start, z_end, label_name, height_range, color, texture=0.12, field_index=2, decorate=None
) -> Thing:
    height = rng.uniform(*height_range)
    x0, x1 = (x_front, x_front + 0.3) if side > 0 else (x_front - 0.3, x_front)
    box = Box(x0, x1, 0, height, z_start, z_end, L[label_name], color, texture, field_index)
    if decorate is not None:
        box.decorate.append(decorate)
    return Thing(z_start, lambda c, cam, t, b=box: b.draw(c, cam))


def _fence_lattice(color):
    def deco(canvas: Canvas, cam: Camera, name, o, a, b, shade) -> None:
        if name != "side":
            return
        n = max(2, int(np.linalg.norm(a) / 0.6))
        for i in range(n + 1):
            p = _face_points(o, a, b, [(i / n, 0), (i / n, 1)])
            uv = cam.project(*p.T)
            canvas.bar(uv[0], uv[1], max(1.0, 0.06 * cam.scale(p[0, 2])), L["fence"], color * 0.6)
        for tt in (0.08, 0.92):
            p = _face_points(o, a, b, [(0, tt), (1, tt)])
            uv = cam.project(*p.T)
            canvas.bar(uv[0], uv[1], max(1.0, 0.06 * cam.scale(max(p[0, 2], cam.z + 5))), L["fence"], color * 0.6)

    return deco


def build_world(rng: np.random.Generator, z_start: float, length: float, busy: bool = True) -> World:
    """Lay out a street from ``z_start`` to ``z_start + length``. ``busy`` guarantees every class
    appears near the camera (single frames for training); sequences leave that to chance."""
    road_half = rng.uniform(3.5, 7.5)
    walk = (rng.uniform(1.5, 4.0), rng.uniform(1.5, 4.0))
    verge = (bool(rng.random() < 0.3), bool(rng.random() < 0.3))
    outer = tuple(int(L["terrain"] if rng.random() < 0.4 else L["sidewalk"]) for _ in range(2))
    gray = rng.uniform(60, 130)
    colors = {
        "road": _jitter(rng, (gray, gray, gray * rng.uniform(0.95, 1.1)), 8),
        "sidewalk": _jitter(rng, rng.choice([(150, 145, 140), (170, 150, 150), (120, 120, 125), (190, 180, 165)]), 20),
        "terrain": _jitter(rng, rng.choice([(110, 140, 60), (150, 140, 90), (90, 120, 50)]), 20),
    }
    colors["outer-1"] = colors["terrain"] if outer[0] == L["terrain"] else colors["sidewalk"]
    colors["outer1"] = colors["terrain"] if outer[1] == L["terrain"] else colors["sidewalk"]
    things: list[Thing] = []
    z_end = z_start + length
    rail = bool(rng.random() < (0.45 if busy else 0.25))
    for side, w in zip((-1, 1), walk, strict=True):
        inner = road_half + (1.2 if verge[(side + 1) // 2] else 0.0)
        x_walk_out = side * (inner + w)
        x_front = side * (inner + w + rng.uniform(0.0, 4.0))
        park = rng.random() < 0.3
        # buildings (or a park) along the street
        z = z_start - rng.uniform(0, 15)
        while z < z_end + 40:
            seg = rng.uniform(8, 35)
            if park or rng.random() < 0.15:
                for zz in np.arange(z, z + seg, rng.uniform(3, 7)):
                    things.append(_tree(rng, x_front + side * rng.uniform(1, 6), zz))
            else:
                things.append(_building_box(rng, side, x_front, z, seg))
            z += seg + (rng.uniform(0, 10) if rng.random() < 0.35 else 0.0)
        # walls and fences at the outer edge of the sidewalk
        z = z_start + rng.uniform(0, 20)
        while z < z_end:
            seg = rng.uniform(5, 25)
            r = rng.random()
            x_edge = x_walk_out + side * 0.2
            if r < 0.3:
                things.append(
                    _segment_boxes(rng, side, x_edge, z, z + seg, "wall", (0.8, 3.0), _random_color(rng, 80, 200))
                )
            elif r < 0.55:
                c = _jitter(rng, rng.choice([(130, 130, 130), (70, 90, 70), (120, 90, 60)]), 20)
                things.append(
                    _segment_boxes(
                        rng, side, x_edge, z, z + seg, "fence", (1.0, 2.0), c * 1.3, 0.05, 0, _fence_lattice(c)
                    )
                )
            elif r < 0.7:
                c = _jitter(rng, (60, 100, 40), 20)
                things.append(_segment_boxes(rng, side, x_edge, z, z + seg, "vegetation", (0.7, 1.6), c, 0.3, 0))
            z += seg + rng.uniform(2, 15)
        # poles, trees and persons on the sidewalk
        z = z_start + rng.uniform(2, 10)
        while z < z_end:
            things.append(_pole(rng, side * (inner + 0.4), z, side))
            z += rng.uniform(8, 22)
        z = z_start + rng.uniform(2, 10)
        while z < z_end and rng.random() < 0.7:
            things.append(_tree(rng, side * (inner + w * rng.uniform(0.5, 0.9)), z))
            z += rng.uniform(6, 15)
        for _ in range(rng.integers(1, 6)):
            things.append(
                _person(
                    rng,
                    side * (inner + rng.uniform(0.5, w)),
                    z_start + rng.uniform(4, length),
                    L["person"],
                    rng.uniform(-0.05, 0.05),
                )
            )
        if rng.random() < 0.5:
            things.append(_two_wheeler(rng, side * (inner + w * 0.6), z_start + rng.uniform(5, 40), False, False))
    # traffic
    lanes = [(-road_half / 2, True), (road_half / 2, False)]
    if road_half > 6:
        lanes += [(-road_half * 0.8, True), (road_half * 0.8, False)]
    kinds = ["car", "truck", "bus", "train", "motorcycle", "bicycle"]
    weights = np.array([0.45, 0.13, 0.13, 0.07, 0.11, 0.11])
    for lane_x, oncoming in lanes:
        z = z_start + rng.uniform(3, 15)
        while z < z_end:
            kind = rng.choice(kinds, p=weights / weights.sum())
            if kind == "train" and not rail:
                kind = "car"
            speed = rng.uniform(-0.9, -0.5) if oncoming else rng.uniform(0.2, 0.8)
            x = lane_x + rng.uniform(-0.4, 0.4)
            if kind in ("motorcycle", "bicycle"):
                things.append(_two_wheeler(rng, x, z, kind == "motorcycle", True, speed * 0.5))
                z += rng.uniform(5, 15)
            else:
                if kind == "train":
                    x = -1.4 if oncoming else 1.4
                things.append(_vehicle(rng, kind, x, z, speed))
                z += {"car": 6, "truck": 11, "bus": 14, "train": 42}[kind] + rng.uniform(3, 25)
    if busy:  # every class near the camera at least once per frame
        near = lambda: z_start + rng.uniform(9, 30)  # noqa: E731
        things.append(_person(rng, rng.uniform(-road_half, road_half), near(), L["person"]))
        things.append(_two_wheeler(rng, rng.uniform(-road_half, road_half), near(), bool(rng.random() < 0.5), True))
        for kind in rng.permutation(["truck", "bus", "train"])[: rng.integers(1, 3)]:
            x = rng.choice([-1, 1]) * road_half * rng.uniform(0.3, 0.7)
            things.append(_vehicle(rng, str(kind), x, z_start + rng.uniform(14, 45), 0.0))
        things.append(_pole(rng, rng.choice([-1, 1]) * (road_half + 0.4), near(), 1))
    parking = [(int(rng.choice([-1, 1])), z_start + rng.uniform(5, 50), 0.0) for _ in range(rng.integers(0, 2))]
    parking = [(s, z0, z0 + rng.uniform(5, 15)) for s, z0, _ in parking]
    return World(road_half, walk, verge, outer, colors, things, parking, rail)


def _draw_sky(canvas: Canvas, cam: Camera, rng: np.random.Generator) -> None:
    top = _jitter(rng, rng.choice([(70, 120, 200), (120, 150, 190), (170, 175, 185), (200, 200, 205)]), 20)
    bottom = np.clip(top + rng.uniform(20, 60), 0, 255)
    t = np.linspace(0, 1, canvas.h, dtype=np.float32)[:, None, None]
    canvas.image[:] = top * (1 - t) + bottom * t
    clouds = np.clip(canvas.fields[2] * rng.uniform(0.3, 0.8) + rng.uniform(-0.6, 0.2), 0, 1)[..., None]
    canvas.image[:] = canvas.image * (1 - clouds) + 235 * clouds
    canvas.label[:] = L["sky"]
    # a distant skyline of buildings and trees at the horizon
    u = -canvas.w * 0.1
    while u < canvas.w * 1.1:
        wpx = rng.uniform(0.03, 0.12) * canvas.w
        hpx = rng.uniform(0.02, 0.15) * canvas.h
        if rng.random() < 0.65:
            canvas.polygon(
                [
                    (u, cam.horizon + 1),
                    (u + wpx, cam.horizon + 1),
                    (u + wpx, cam.horizon - hpx),
                    (u, cam.horizon - hpx),
                ],
                L["building"],
                _random_color(rng, 90, 200),
                0.1,
                1,
            )
        else:
            canvas.ellipse(
                (u + wpx / 2, cam.horizon - hpx * 0.4),
                (wpx / 2, hpx * 0.7),
                L["vegetation"],
                _jitter(rng, (80, 110, 60), 20),
                0.3,
                0,
            )
        u += wpx * rng.uniform(0.6, 1.1)


def _ego_vehicle(canvas: Canvas, rng: np.random.Generator) -> None:
    h, w = canvas.h, canvas.w
    top = h * rng.uniform(0.88, 0.95)
    color = _random_color(rng, 20, 120)
    canvas.polygon(
        [
            (-1, h),
            (w * 0.08, top + (h - top) * 0.4),
            (w * 0.3, top),
            (w * 0.7, top),
            (w * 0.92, top + (h - top) * 0.4),
            (w, h),
        ],
        L["ego vehicle"],
        color,
        0.05,
        1,
    )


def _photometric(canvas: Canvas, cam: Camera, rng: np.random.Generator) -> np.ndarray:
    """Exposure, white balance, a sun shadow across the ground, vignetting, sensor noise."""
    image = canvas.image
    shade = np.ones((canvas.h, canvas.w), np.float32)
    if rng.random() < 0.6:  # shadow of buildings on one side falling across the street
        side = rng.choice([-1, 1])
        x = side * rng.uniform(0, 6)
        z0, z1 = cam.z + rng.uniform(2, 20), cam.z + rng.uniform(25, 120)
        quad = cam.project([x, side * 40, side * 40, x], 0, [z0, z0, z1, z1])
        mask = np.zeros_like(shade)
        cv2.fillPoly(mask, [np.round(np.clip(quad, -1e5, 1e5)).astype(np.int32)], 1.0)
        mask[: int(max(cam.horizon, 0))] = 0
        shade *= 1 - rng.uniform(0.25, 0.5) * cv2.GaussianBlur(mask, (0, 0), 2)
    yy, xx = np.mgrid[0 : canvas.h, 0 : canvas.w].astype(np.float32)
    r2 = ((xx - canvas.w / 2) / canvas.w) ** 2 + ((yy - canvas.h / 2) / canvas.h) ** 2
    shade *= 1 - rng.uniform(0.0, 0.5) * r2
    gain = rng.uniform(0.6, 1.3) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    out = image * shade[..., None] * gain[None, None, :]
    out += rng.normal(0, rng.uniform(2, 7), out.shape).astype(np.float32)
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 0.9))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _random_camera(rng: np.random.Generator, height: int, width: int) -> Camera:
    return Camera(
        f=width * rng.uniform(1.0, 1.2),
        cx=width * rng.uniform(0.45, 0.55),
        horizon=height * rng.uniform(0.4, 0.5),
        height=rng.uniform(1.2, 1.6),
    )


def render(
    world: World, cam: Camera, t: float, height: int, width: int, rng: np.random.Generator, ego: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One frame: (RGB uint8 image, labelIds uint8)."""
    canvas = Canvas(height, width, rng)
    _draw_sky(canvas, cam, rng)
    world.draw_ground(canvas, cam)
    for thing in world.things_at(t):
        if cam.z + NEAR < thing.depth(t) + 60 and thing.depth(t) < cam.z + 400:
            thing.draw(canvas, cam, t)
    if ego:
        _ego_vehicle(canvas, rng)
    return _photometric(canvas, cam, rng), canvas.label


def render_frame(seed: int, index: int, height: int = 512, width: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """An independent random scene: (RGB image, labelIds), deterministic for (seed, index)."""
    rng = np.random.default_rng([seed, index])
    world = build_world(rng, 0.0, 160.0, busy=True)
    cam = _random_camera(rng, height, width)
    return render(world, cam, 0.0, height, width, rng, ego=bool(rng.random() < 0.3))


def render_sequence(seed: int, num: int, height: int = 512, width: int = 1024):
    """Yield ``num`` (RGB image, labelIds) frames of a camera driving down one street."""
    rng = np.random.default_rng([seed, 1_000_003])
    speed = rng.uniform(0.6, 1.1)  # metres per frame (~10-19 m/s at 17 Hz, Cityscapes' rate)
    world = build_world(rng, -20.0, num * speed + 200.0, busy=False)
    cam = _random_camera(rng, height, width)
    ego = bool(rng.random() < 0.5)
    for i in range(num):
        cam.z = i * speed
        frame_rng = np.random.default_rng([seed, 1_000_003, i])
        yield render(world, cam, float(i), height, width, frame_rng, ego)  # frame noise leaves the world alone


def _write_frame(img_dir: Path, gt_dir: Path, stem: str, rgb: np.ndarray, label_ids: np.ndarray) -> Path:
    image_path = img_dir / f"{stem}_leftImg8bit.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelIds.png"), label_ids)
    cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelTrainIds.png"), label_ids_to_train_ids(label_ids))
    cv2.imwrite(
        str(gt_dir / f"{stem}_gtFine_color.png"), cv2.cvtColor(label_ids_to_color(label_ids), cv2.COLOR_RGB2BGR)
    )
    return image_path


def _render_and_write(job: tuple[Path, Path, str, int, int, int, int]) -> Path:
    """One independent scene, rendered and written in a worker process (``--jobs``)."""
    img_dir, gt_dir, city, seed, index, height, width = job
    cv2.setNumThreads(1)
    return _write_frame(img_dir, gt_dir, f"{city}_{index:06d}_000019", *render_frame(seed, index, height, width))


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_memory(height: int, width: int, processes: int) -> None:
    """Refuse a size no camera has, or one whose frames would not fit in memory while rendering."""
    need = RENDER_BYTES_PER_PIXEL * height * width * processes
    what = f"{height}x{width} (HxW) frames need about {need / 2**30:.1f} GiB to render ({processes} at a time)"
    if max(height, width) > MAX_SIDE:
        raise ValueError(f"image size {height}x{width} (HxW) is larger than {MAX_SIDE} per side: {what}")
    available = _available_memory()
    if available is not None and need > 0.8 * available:
        raise ValueError(f"{what}, but {available / 2**30:.1f} GiB are available; use a smaller size or fewer --jobs")


def existing_frame_size(out_dir: str | Path, split: str) -> tuple[int, int, Path] | None:
    """(height, width, file) of a frame already in ``out_dir``'s ``split``, or None if it has none."""
    split_dir = Path(out_dir) / "leftImg8bit" / split
    first = next(iter(sorted(split_dir.glob("*/*_leftImg8bit.png"))), None) if split_dir.is_dir() else None
    if first is None:
        return None
    image = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{first} is not a readable image; remove it or write with --overwrite")
    return image.shape[0], image.shape[1], first


def generate_dataset(
    out_dir: str | Path,
    num: int,
    height: int = 512,
    width: int = 1024,
    seed: int = 0,
    split: str = "train",
    sequence: bool = False,
    progress: bool = False,
    jobs: int = 1,
) -> list[Path]:
    """Write ``num`` synthetic frames in the Cityscapes layout under ``out_dir``; return image paths.

    City name ``synth<seed>``; stems ``synth<seed>_<sequence:06d>_<frame:06d>`` like Cityscapes'
    ``aachen_000000_000019``. Deterministic for a seed: the same call writes the same files, with
    any number of ``jobs`` (independent scenes render in parallel; a sequence renders in order).
    """
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    if height < 32 or width < 32:
        raise ValueError(f"image size {width}x{height} is too small; use at least 32x32 (e.g. 512x1024)")
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    _check_memory(height, width, min(jobs, num))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is an existing file; give a folder (the dataset root) instead")
    city = f"synth{seed}"
    img_dir = out_dir / "leftImg8bit" / split / city
    gt_dir = out_dir / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num, desc=f"synth {split}", unit="img")
    paths = []
    if sequence:
        for i, (rgb, label_ids) in enumerate(render_sequence(seed, num, height, width)):
            paths.append(_write_frame(img_dir, gt_dir, f"{city}_000000_{i:06d}", rgb, label_ids))
            if bar is not None:
                bar.update(1)
    else:
        work = [(img_dir, gt_dir, city, seed, i, height, width) for i in range(num)]
        if jobs == 1:
            results = map(_render_and_write, work)
        else:
            import multiprocessing

            pool = multiprocessing.get_context("spawn").Pool(min(jobs, num))
            results = pool.imap(_render_and_write, work, chunksize=1)
        try:
            for path in results:
                paths.append(path)
                if bar is not None:
                    bar.update(1)
        finally:
            if jobs > 1:
                pool.close()
                pool.join()
    if bar is not None:
        bar.close()
    return paths
