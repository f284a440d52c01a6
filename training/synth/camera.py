"""The pinhole camera of the synthetic street scenes: world points to pixels over a flat road."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEAR = 0.6  # metres: geometry closer than this to the camera is clipped


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

    def ground_point(self, x: float, z: float, min_depth: float) -> tuple[float, float, float] | None:
        """(pixels per metre, u, v) of the ground point (x, z) for a figure drawn at its feet; None
        when it is nearer than ``min_depth`` metres (too close to draw)."""
        if z - self.z < min_depth:
            return None
        u, v = self.project(x, 0, z)[0]
        return self.scale(z), u, v
