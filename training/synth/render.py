"""One frame of a world through a camera: sky and skyline, ground, things, ego vehicle, photometry."""

from __future__ import annotations

import cv2
import numpy as np

from ..cityscapes_labels import LABEL_IDS as L
from .camera import NEAR, Camera
from .canvas import Canvas
from .shapes import jitter, random_color
from .world import World, build_world


def draw_sky(canvas: Canvas, cam: Camera, rng: np.random.Generator) -> None:
    top = jitter(rng, rng.choice([(70, 120, 200), (120, 150, 190), (170, 175, 185), (200, 200, 205)]), 20)
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
                random_color(rng, 90, 200),
                0.1,
                1,
            )
        else:
            canvas.ellipse(
                (u + wpx / 2, cam.horizon - hpx * 0.4),
                (wpx / 2, hpx * 0.7),
                L["vegetation"],
                jitter(rng, (80, 110, 60), 20),
                0.3,
                0,
            )
        u += wpx * rng.uniform(0.6, 1.1)


def ego_vehicle(canvas: Canvas, rng: np.random.Generator) -> None:
    h, w = canvas.h, canvas.w
    top = h * rng.uniform(0.88, 0.95)
    color = random_color(rng, 20, 120)
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


def photometric(canvas: Canvas, cam: Camera, rng: np.random.Generator) -> np.ndarray:
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


def random_camera(rng: np.random.Generator, height: int, width: int) -> Camera:
    return Camera(
        f=width * rng.uniform(1.0, 1.2),
        cx=width * rng.uniform(0.45, 0.55),
        horizon=height * rng.uniform(0.4, 0.5),
        height=rng.uniform(1.2, 1.6),
    )


def render(
    world: World, cam: Camera, *, t: float, height: int, width: int, rng: np.random.Generator, ego: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One frame: (RGB uint8 image, labelIds uint8)."""
    canvas = Canvas(height, width, rng)
    draw_sky(canvas, cam, rng)
    world.draw_ground(canvas, cam)
    for thing in world.things_at(t):
        if cam.z + NEAR < thing.depth(t) + 60 and thing.depth(t) < cam.z + 400:
            thing.draw(canvas, cam, t)
    if ego:
        ego_vehicle(canvas, rng)
    return photometric(canvas, cam, rng), canvas.label


def render_frame(seed: int, index: int, height: int = 512, width: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """An independent random scene: (RGB image, labelIds), deterministic for (seed, index)."""
    rng = np.random.default_rng([seed, index])
    world = build_world(rng, 0.0, 160.0, busy=True)
    cam = random_camera(rng, height, width)
    return render(world, cam, t=0.0, height=height, width=width, rng=rng, ego=bool(rng.random() < 0.3))


def render_sequence(seed: int, num: int, height: int = 512, width: int = 1024):
    """Yield ``num`` (RGB image, labelIds) frames of a camera driving down one street."""
    rng = np.random.default_rng([seed, 1_000_003])
    speed = rng.uniform(0.6, 1.1)  # metres per frame (~10-19 m/s at 17 Hz, Cityscapes' rate)
    world = build_world(rng, -20.0, num * speed + 200.0, busy=False)
    cam = random_camera(rng, height, width)
    ego = bool(rng.random() < 0.5)
    for i in range(num):
        cam.z = i * speed
        frame_rng = np.random.default_rng([seed, 1_000_003, i])
        yield render(
            world, cam, t=float(i), height=height, width=width, rng=frame_rng, ego=ego
        )  # frame noise leaves the world alone
