"""The things on a street: persons, two-wheelers, poles with lights and signs, trees, buildings,
vehicles, walls and fences. Sprites (persons, two-wheelers, poles, trees) face the camera."""

from __future__ import annotations

import numpy as np

from ..cityscapes_labels import LABEL_IDS as L
from .camera import NEAR, Camera
from .canvas import Canvas
from .shapes import Box, Thing, face_grid, jitter, random_color, rear_lights, wheels


def person(rng: np.random.Generator, x: float, z: float, label: int, vz: float = 0.0) -> Thing:
    height = rng.uniform(1.55, 1.95)
    shirt, pants = random_color(rng), random_color(rng, 15, 160)
    skin = jitter(rng, rng.choice([(230, 190, 160), (190, 140, 100), (120, 80, 55)]), 15)
    stride = rng.uniform(-0.25, 0.25)
    bag = rng.random() < 0.3

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        at = cam.ground_point(x, z + vz * t, NEAR * 2)
        if at is None:
            return
        s, u, v = at
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


def two_wheeler(rng: np.random.Generator, x: float, z: float, motor: bool, with_rider: bool, vz: float = 0.0) -> Thing:
    """A bicycle or motorcycle seen from the side, optionally ridden (rider pixels are 'rider')."""
    vehicle_label = L["motorcycle"] if motor else L["bicycle"]
    frame_color = random_color(rng)
    wheel_r = 0.33 if motor else 0.34
    length = 1.9 if motor else 1.7
    facing = 1 if rng.random() < 0.5 else -1
    rider_color, pants = random_color(rng), random_color(rng, 15, 120)
    helmet = random_color(rng)

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        at = cam.ground_point(x, z + vz * t, NEAR * 3)
        if at is None:
            return
        s, u, v = at
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


def pole(rng: np.random.Generator, x: float, z: float, side: int) -> Thing:
    """A pole; maybe a traffic light (on top or on an arm over the road) and/or traffic signs."""
    height = rng.uniform(3.5, 8.0)
    width = rng.uniform(0.12, 0.28)
    color = jitter(rng, rng.choice([(120, 120, 120), (60, 70, 60), (170, 170, 165), (40, 40, 40)]), 20)
    kind = rng.choice(["plain", "light", "sign", "light+sign", "lamp"], p=[0.12, 0.3, 0.3, 0.18, 0.1])
    arm = rng.random() < 0.4
    sign_shape = rng.choice(["circle", "triangle", "square", "rect"])
    sign_color = jitter(rng, rng.choice([(200, 30, 30), (30, 70, 170), (230, 230, 230), (240, 200, 20)]), 20)
    housing = jitter(rng, rng.choice([(35, 35, 35), (200, 170, 40), (70, 80, 70)]), 15)
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


def tree(rng: np.random.Generator, x: float, z: float) -> Thing:
    trunk_h, trunk_w = rng.uniform(1.8, 3.5), rng.uniform(0.25, 0.5)
    crown = rng.uniform(1.5, 3.5)
    blobs = [
        (rng.uniform(-0.8, 0.8), rng.uniform(-0.5, 0.9), rng.uniform(0.5, 0.9), rng.uniform(0.85, 1.1))
        for _ in range(rng.integers(3, 7))
    ]
    leaf = jitter(rng, rng.choice([(70, 110, 40), (40, 80, 35), (110, 130, 50), (130, 100, 50)]), 25)
    bark = jitter(rng, (90, 70, 50), 20)

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


def building_box(rng, side, x_front, z0, length, color_rng_boost=1.0) -> Thing:
    height = rng.uniform(6, 28)
    depth = rng.uniform(8, 20)
    x0, x1 = (x_front, x_front + depth) if side > 0 else (x_front - depth, x_front)
    color = random_color(rng, 60, 220) * color_rng_boost
    box = Box(x0, x1, 0, height, z0, z0 + length, label=L["building"], color=color, texture=0.1, field_index=1)
    floors = max(1, int(height / 3.2))
    cols = max(1, int(length / 3.0))
    glass = jitter(rng, rng.choice([(40, 50, 65), (90, 110, 130), (30, 30, 30), (150, 160, 170)]), 15)
    box.decorate.append(
        face_grid(L["building"], glass, floors, cols, (rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.3)), jitter_rng=rng)
    )
    if rng.random() < 0.5:  # shop fronts at street level
        box.decorate.append(
            face_grid(
                L["building"],
                random_color(rng),
                1,
                max(1, cols // 2),
                (0.05, 0.1),
                t_range=(0.0, min(1.0, 3.0 / height)),
            )
        )
    return Thing(z0, lambda c, cam, t, b=box: b.draw(c, cam))


def vehicle(rng: np.random.Generator, kind: str, x: float, z: float, vz: float) -> Thing:
    """Cars, trucks, buses and trams as boxes with windows, wheels and lights."""
    label = L[kind]
    color = random_color(rng)
    parts: list[Box] = []
    glass = jitter(rng, (35, 45, 55), 20)
    if kind == "car":
        length, width = rng.uniform(3.8, 4.9), rng.uniform(1.65, 1.95)
        body = Box.across(x, width, 0.22, 0.95, z, z + length, label, color, 0.05, 0)
        cabin = Box.across(
            x, width, 0.95, rng.uniform(1.35, 1.6), z + 0.9, z + length - 0.8, label, color * 0.95, 0.05, 0, inset=0.12
        )
        cabin.decorate.append(face_grid(label, glass, 1, 2, (0.06, 0.12)))
        body.decorate += [wheels(0.33, (0.18, 0.8), label), rear_lights(label, (200, 30, 30))]
        parts += [body, cabin]
    elif kind == "truck":
        length, width = rng.uniform(6, 10), 2.5
        cargo_h = rng.uniform(3.0, 3.8)
        cargo = Box.across(x, width, 0.5, cargo_h, z, z + length - 2.2, label, color, 0.08, 1)
        cab = Box.across(
            x, width, 0.5, 2.9, z + length - 2.2, z + length, label, random_color(rng), 0.05, 0, inset=0.05
        )
        cab.decorate.append(face_grid(label, glass, 1, 1, (0.1, 0.15), t_range=(0.5, 0.9)))
        cargo.decorate += [wheels(0.5, (0.15, 0.3, 0.95), label), rear_lights(label, (200, 40, 30))]
        under = Box.across(
            x, width, 0.0, 0.5, z + 0.3, z + length - 0.3, label, np.float32([30, 30, 30]), 0.05, 0, inset=0.2
        )
        parts += [under, cargo, cab]
    elif kind == "bus":
        length, width = rng.uniform(10, 13), 2.55
        body = Box.across(x, width, 0.3, rng.uniform(3.0, 3.4), z, z + length, label, color, 0.05, 0)
        body.decorate += [
            face_grid(label, glass, 1, int(length / 1.6), (0.04, 0.08), t_range=(0.45, 0.9)),
            wheels(0.5, (0.2, 0.8), label),
            rear_lights(label, (210, 40, 30)),
        ]
        parts.append(body)
    else:  # train: a tram on rails
        length, width = rng.uniform(25, 40), 2.6
        body = Box(
            x - width / 2, x + width / 2, 0.4, 3.6, z, z + length, label=label, color=color, texture=0.05, field_index=0
        )
        body.decorate += [
            face_grid(label, glass, 1, int(length / 2.2), (0.08, 0.1), t_range=(0.4, 0.85)),
            face_grid(label, glass, 1, 1, (0.08, 0.1), faces=("front",), t_range=(0.45, 0.9)),
            wheels(0.35, tuple(np.linspace(0.08, 0.92, 4)), label),
        ]
        roof = Box(
            x - 0.4,
            x + 0.4,
            3.6,
            3.9,
            z + 3,
            z + 6,
            label=label,
            color=np.float32([60, 60, 60]),
            texture=0.05,
            field_index=0,
        )
        parts += [body, roof]

    def draw(canvas: Canvas, cam: Camera, t: float) -> None:
        for part in parts:
            part.draw(canvas, cam, vz * t)

    return Thing(z, draw, vz)


def segment_boxes(
    rng, side, x_front, z_start, z_end, *, label_name, height_range, color, texture=0.12, field_index=2, decorate=None
) -> Thing:
    height = rng.uniform(*height_range)
    x0, x1 = (x_front, x_front + 0.3) if side > 0 else (x_front - 0.3, x_front)
    box = Box(
        x0, x1, 0, height, z_start, z_end, label=L[label_name], color=color, texture=texture, field_index=field_index
    )
    if decorate is not None:
        box.decorate.append(decorate)
    return Thing(z_start, lambda c, cam, t, b=box: b.draw(c, cam))
