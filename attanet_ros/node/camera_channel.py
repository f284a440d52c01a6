"""One camera of the node: its topic names, counters, publishers and latest CameraInfo.

``name`` "" is the single-camera node (``image`` in, ``~/labels`` out); a named camera reads
``<name>/image`` and publishes ``~/<name>/labels``, so each is remapped on its own.

A CameraInfo describes images of its own size (``height`` x ``width``, after ``roi`` and
``binning``). ``scaled_camera_info`` republishes it for the node's outputs: scaled from that size
when the frames are a resize of it (same aspect ratio, within a pixel's rounding), and refused
(``CameraInfoMismatch``) when they cannot be: a 1024x2048 calibration sent beside 64x128 frames
would otherwise go out with its principal point outside the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sensor_msgs.msg import CameraInfo

from attanet_ros.common.frame_pipeline import scale_camera_info

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
    label_info: Any = None  # label_info.LabelInfoPublisher, when vision_msgs is installed
    subscriptions: list = field(default_factory=list)
    log_bad: Any = None

    @property
    def input_prefix(self) -> str:
        return f"{self.name}/" if self.name else ""

    @property
    def output_prefix(self) -> str:
        return f"~/{self.name}/" if self.name else "~/"


class CameraInfoMismatch(ValueError):
    """A CameraInfo whose image size is neither the frame's nor a resize of it (another aspect ratio)."""


def described_size(info: CameraInfo) -> tuple[int, int] | None:
    """(H, W) of the images ``info`` describes: its ROI (or full size) divided by its binning, as
    image_geometry reads it; None when the driver left the size at 0 (the frame's is assumed)."""
    height, width = (
        (info.roi.height, info.roi.width) if info.roi.height and info.roi.width else (info.height, info.width)
    )
    height, width = height // max(info.binning_y, 1), width // max(info.binning_x, 1)
    return (int(height), int(width)) if height and width else None


def same_aspect(a_hw: tuple[int, int], b_hw: tuple[int, int]) -> bool:
    """Whether ``b`` is ``a`` resized by one factor, up to the rounding of one pixel on either side."""
    (ah, aw), (bh, bw) = a_hw, b_hw
    return abs(ah * bw / aw - bh) <= 1 or abs(aw * bh / ah - bw) <= 1


def scaled_camera_info(info: CameraInfo, image_hw, size, header) -> CameraInfo:
    """``info`` for outputs of ``size`` made from a frame of ``image_hw``: the frame's header, K and P
    scaled from the size ``info`` describes. CameraInfoMismatch when that size is not the frame's aspect."""
    image_hw, size = tuple(image_hw), tuple(size)
    source = described_size(info) or image_hw
    if source != image_hw and not same_aspect(source, image_hw):
        raise CameraInfoMismatch(
            f"camera_info describes {source[0]}x{source[1]} (HxW) images but the frame is {image_hw[0]}x{image_hw[1]}, "
            "another aspect ratio, so its K and P cannot be scaled to it; not republished. Is camera_info the "
            "same camera's (remapping), at its current resolution?"
        )
    out = CameraInfo()
    out.header = header
    out.distortion_model, out.d, out.r = info.distortion_model, info.d, info.r
    out.binning_x, out.binning_y, out.roi = info.binning_x, info.binning_y, info.roi
    fields = {"k": list(info.k), "p": list(info.p), "height": source[0], "width": source[1]}
    if size != source:
        fields = scale_camera_info(fields, source, size)
    out.k, out.p, out.height, out.width = fields["k"], fields["p"], int(fields["height"]), int(fields["width"])
    return out
