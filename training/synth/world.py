"""A street's layout: ground strips (road, sidewalks, terrain, parking) and the things along it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cityscapes_labels import LABEL_IDS as L
from .camera import NEAR, Camera
from .canvas import Canvas
from .objects import building_box, person, pole, segment_boxes, tree, two_wheeler, vehicle
from .shapes import Thing, fence_lattice, jitter, random_color


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
        near, far = cam.z + NEAR, cam.z + 2000.0

        def strip(xa, xb, label, color, texture, field_index, z0=near, z1=far):
            """A ground band between xa and xb (either order), z0 to z1 metres ahead."""
            x0, x1 = sorted((xa, xb))
            quad = cam.project([x0, x1, x1, x0], 0, [z0, z0, z1, z1])
            canvas.polygon(quad, label, color, texture, field_index)

        for side, outer in zip((-1, 1), self.outer, strict=True):
            strip(side * self.road_half, side * 500.0, outer, self.colors[f"outer{side}"], 0.15, 2)
        strip(-self.road_half, self.road_half, L["road"], self.colors["road"], 0.07, 1)
        if self.rail:
            for x in (-0.75, 0.75):
                strip(x - 0.05, x + 0.05, L["road"], (150, 150, 155), 0.05, 0)
        dash = 3.0
        start = np.floor(cam.z / 12.0) * 12.0
        for zz in np.arange(start, cam.z + 160, 12.0):
            for lane_x in (0.0,) if not self.rail else (-2.0, 2.0):
                strip(lane_x - 0.08, lane_x + 0.08, L["road"], (225, 225, 215), 0.05, 0, max(zz, near), zz + dash)
        for side, walk, verge in zip((-1, 1), self.walk, self.verge, strict=True):
            inner = self.road_half + (1.2 if verge else 0.0)
            if verge:
                strip(side * self.road_half, side * inner, L["terrain"], self.colors["terrain"], 0.2, 2)
            strip(side * inner, side * (inner + walk), L["sidewalk"], self.colors["sidewalk"], 0.1, 1)
            # curb: a thin lighter band at the sidewalk's road edge
            strip(side * inner, side * (inner + 0.15), L["sidewalk"], self.colors["sidewalk"] * 1.15, 0.05, 0)
        for side, z0, z1 in self.parking:
            x0 = side * (self.road_half - 2.2)
            strip(x0, side * self.road_half, L["parking"], self.colors["road"] * 1.08, 0.08, 1, max(z0, near), z1)

    def things_at(self, t: float) -> list[Thing]:
        return sorted(self.things, key=lambda th: -th.depth(t))


def build_world(rng: np.random.Generator, z_start: float, length: float, busy: bool = True) -> World:
    """Lay out a street from ``z_start`` to ``z_start + length``. ``busy`` guarantees every class
    appears near the camera (single frames for training); sequences leave that to chance."""
    road_half = rng.uniform(3.5, 7.5)
    walk = (rng.uniform(1.5, 4.0), rng.uniform(1.5, 4.0))
    verge = (bool(rng.random() < 0.3), bool(rng.random() < 0.3))
    outer = tuple(int(L["terrain"] if rng.random() < 0.4 else L["sidewalk"]) for _ in range(2))
    gray = rng.uniform(60, 130)
    colors = {
        "road": jitter(rng, (gray, gray, gray * rng.uniform(0.95, 1.1)), 8),
        "sidewalk": jitter(rng, rng.choice([(150, 145, 140), (170, 150, 150), (120, 120, 125), (190, 180, 165)]), 20),
        "terrain": jitter(rng, rng.choice([(110, 140, 60), (150, 140, 90), (90, 120, 50)]), 20),
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
                    things.append(tree(rng, x_front + side * rng.uniform(1, 6), zz))
            else:
                things.append(building_box(rng, side, x_front, z, seg))
            z += seg + (rng.uniform(0, 10) if rng.random() < 0.35 else 0.0)
        # walls and fences at the outer edge of the sidewalk
        z = z_start + rng.uniform(0, 20)
        while z < z_end:
            seg = rng.uniform(5, 25)
            r = rng.random()
            x_edge = x_walk_out + side * 0.2
            if r < 0.3:
                style = {"label_name": "wall", "height_range": (0.8, 3.0), "color": random_color(rng, 80, 200)}
            elif r < 0.55:
                c = jitter(rng, rng.choice([(130, 130, 130), (70, 90, 70), (120, 90, 60)]), 20)
                style = {"label_name": "fence", "height_range": (1.0, 2.0), "color": c * 1.3, "texture": 0.05}
                style.update(field_index=0, decorate=fence_lattice(c))
            elif r < 0.7:
                c = jitter(rng, (60, 100, 40), 20)
                style = {"label_name": "vegetation", "height_range": (0.7, 1.6), "color": c, "texture": 0.3}
                style.update(field_index=0)
            else:
                style = None  # an open stretch
            if style is not None:
                things.append(segment_boxes(rng, side, x_edge, z, z + seg, **style))
            z += seg + rng.uniform(2, 15)
        # poles, trees and persons on the sidewalk
        z = z_start + rng.uniform(2, 10)
        while z < z_end:
            things.append(pole(rng, side * (inner + 0.4), z, side))
            z += rng.uniform(8, 22)
        z = z_start + rng.uniform(2, 10)
        while z < z_end and rng.random() < 0.7:
            things.append(tree(rng, side * (inner + w * rng.uniform(0.5, 0.9)), z))
            z += rng.uniform(6, 15)
        for _ in range(rng.integers(1, 6)):
            things.append(
                person(
                    rng,
                    side * (inner + rng.uniform(0.5, w)),
                    z_start + rng.uniform(4, length),
                    L["person"],
                    rng.uniform(-0.05, 0.05),
                )
            )
        if rng.random() < 0.5:
            things.append(two_wheeler(rng, side * (inner + w * 0.6), z_start + rng.uniform(5, 40), False, False))
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
                things.append(two_wheeler(rng, x, z, kind == "motorcycle", True, speed * 0.5))
                z += rng.uniform(5, 15)
            else:
                if kind == "train":
                    x = -1.4 if oncoming else 1.4
                things.append(vehicle(rng, kind, x, z, speed))
                z += {"car": 6, "truck": 11, "bus": 14, "train": 42}[kind] + rng.uniform(3, 25)
    if busy:  # every class near the camera at least once per frame
        near = lambda: z_start + rng.uniform(9, 30)  # noqa: E731
        things.append(person(rng, rng.uniform(-road_half, road_half), near(), L["person"]))
        things.append(two_wheeler(rng, rng.uniform(-road_half, road_half), near(), bool(rng.random() < 0.5), True))
        for kind in rng.permutation(["truck", "bus", "train"])[: rng.integers(1, 3)]:
            x = rng.choice([-1, 1]) * road_half * rng.uniform(0.3, 0.7)
            things.append(vehicle(rng, str(kind), x, z_start + rng.uniform(14, 45), 0.0))
        things.append(pole(rng, rng.choice([-1, 1]) * (road_half + 0.4), near(), 1))
    parking = [(int(rng.choice([-1, 1])), z_start + rng.uniform(5, 50), 0.0) for _ in range(rng.integers(0, 2))]
    parking = [(s, z0, z0 + rng.uniform(5, 15)) for s, z0, _ in parking]
    return World(road_half, walk, verge, outer, colors, things, parking, rail)
