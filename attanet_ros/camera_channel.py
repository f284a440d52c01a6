"""One camera of the node: its topic names, counters, publishers and latest CameraInfo.

``name`` "" is the single-camera node (``image`` in, ``~/labels`` out); a named camera reads
``<name>/image`` and publishes ``~/<name>/labels``, so each is remapped on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sensor_msgs.msg import CameraInfo

from .frame_pipeline import scale_camera_info
from .stats import FrameStats


@dataclass
class CameraChannel:
    """One camera's topics, frame slot/queue counters and latest CameraInfo."""

    name: str  # "" = the single-camera node (today's `image` topic and ~/labels, ...)
    stats: FrameStats = field(default_factory=FrameStats)
    camera_info: CameraInfo | None = None
    last_frame_at: float | None = None  # time.monotonic() of the last frame received
    outputs_active: str = ""  # outputs that had subscribers at the last frame (shows laziness)
    last_snapshot: dict | None = None
    image_pubs: dict = field(default_factory=dict)
    camera_info_pub: Any = None
    subscriptions: list = field(default_factory=list)
    log_bad: Any = None

    @property
    def input_prefix(self) -> str:
        return f"{self.name}/" if self.name else ""

    @property
    def output_prefix(self) -> str:
        return f"~/{self.name}/" if self.name else "~/"


def scaled_camera_info(info: CameraInfo, image_hw, size, header) -> CameraInfo:
    """``info`` for the outputs: the frame's header, K and P scaled when the outputs are resized."""
    out = CameraInfo()
    out.header = header
    out.distortion_model, out.d, out.r = info.distortion_model, info.d, info.r
    out.binning_x, out.binning_y, out.roi = info.binning_x, info.binning_y, info.roi
    fields = {"k": list(info.k), "p": list(info.p), "height": image_hw[0], "width": image_hw[1]}
    if tuple(size) != tuple(image_hw):
        fields = scale_camera_info(fields, tuple(image_hw), tuple(size))
    out.k, out.p, out.height, out.width = fields["k"], fields["p"], int(fields["height"]), int(fields["width"])
    return out
