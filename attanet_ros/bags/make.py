"""Writing a dataset split as a rosbag2: camera frames, ground-truth labels and camera_info.

A bag made this way is the bridge between ``attanet eval`` (files on disk) and everything that
runs on topics: ``attanet bag-eval`` scores it, ``attanet bag-play`` feeds it to the live node,
and the demo replays it. Frames are stamped ``start + i / rate``; the ground-truth label image
and camera_info of a frame carry exactly the frame's stamp, so pairing them needs no tolerance.
The dataset's class table goes on ``<prefix>/class_info``, beside the labels (std_msgs/String, the node's
``~/class_info`` JSON) at the first stamp, so a scorer can check a model against what the labels mean.

The bag is written into a hidden folder beside ``out`` and renamed to ``out`` only when every
frame is in: a failure or Ctrl-C half-way leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from attanet_model import ClassInfo
from attanet_ros.common.file_frames import SkippedImage, SourceImage

from .storage import (
    BagError,
    BagWriter,
    camera_info_msg,
    class_info_topic,
    class_table_msg,
    compressed_msg,
    image_msg,
    staged_bag,
)

ENCODINGS = ("bgr8", "rgb8", "mono8")
COMPRESSIONS = ("none", "png", "jpeg")
# Cityscapes' camera (fx, fy, cx, cy at 2048x1024); scaled to each frame's size for camera_info.
CITYSCAPES_INTRINSICS = (2262.52, 2265.30, 1096.98, 513.137)
CITYSCAPES_SIZE = (1024, 2048)
MAX_STAMP_S = 2**31 - 1  # builtin_interfaces/Time.sec is an int32


def image_topic(prefix: str, compress: str = "none") -> str:
    base = f"{prefix.rstrip('/')}/image_raw"
    return base if compress == "none" else f"{base}/compressed"


def label_topic(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/gt_labels"


def camera_info_topic(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/camera_info"


@dataclass
class MakeConfig:
    out: Path
    storage: str = "mcap"
    rate_hz: float = 10.0
    topic_prefix: str = "/camera"
    frame_id: str = "camera"
    encoding: str = "bgr8"
    compress: str = "none"
    start_ns: int | None = None  # first stamp; None = now
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ValueError(f"rate must be > 0 Hz, got {self.rate_hz}")
        if self.encoding not in ENCODINGS:
            raise ValueError(
                f"image encoding {self.encoding!r} is not supported here; choose one of {', '.join(ENCODINGS)}"
            )
        if self.compress not in COMPRESSIONS:
            raise ValueError(f"compression {self.compress!r} is not supported; choose one of {', '.join(COMPRESSIONS)}")
        if not self.topic_prefix.startswith("/"):
            raise ValueError(f"topic prefix must be absolute (start with '/'), got {self.topic_prefix!r}")
        if self.start_ns is not None and not 0 <= self.start_ns <= MAX_STAMP_S * 10**9:
            raise ValueError(
                f"start time must be in 0..{MAX_STAMP_S} seconds since the epoch (a ROS stamp's range), "
                f"got {self.start_ns / 1e9:g}"
            )

    def check_span(self, frames: int, start_ns: int) -> None:
        """The last frame's stamp must fit a ROS stamp too."""
        last_s = (start_ns + (frames - 1) * 1e9 / self.rate_hz) / 1e9
        if last_s > MAX_STAMP_S:
            raise ValueError(
                f"{frames} frames at {self.rate_hz:g} Hz from {start_ns / 1e9:g} s end at {last_s:.0f} s, past a "
                f"ROS stamp's range ({MAX_STAMP_S} s); choose an earlier --start-time"
            )


def _camera_image(image_bgr: np.ndarray, config: MakeConfig, stamp: int) -> Any:
    if config.compress != "none":
        pixels = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if config.encoding == "mono8" else image_bgr
        return compressed_msg(pixels, config.compress, stamp, config.frame_id)
    if config.encoding == "rgb8":
        return image_msg(np.ascontiguousarray(image_bgr[:, :, ::-1]), "rgb8", stamp, config.frame_id)
    if config.encoding == "mono8":
        return image_msg(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), "mono8", stamp, config.frame_id)
    return image_msg(image_bgr, "bgr8", stamp, config.frame_id)


def _camera_info(height: int, width: int, stamp: int, frame_id: str, calibrated: bool = True) -> Any:
    """Cityscapes' camera scaled to the frame, or for a file of unknown intrinsics (``calibrated``
    False) zero matrices, which sensor_msgs/CameraInfo defines as an uncalibrated camera."""
    if not calibrated:
        return camera_info_msg(height, width, 0.0, 0.0, 0.0, 0.0, stamp, frame_id)
    fx, fy, cx, cy = CITYSCAPES_INTRINSICS
    sy, sx = height / CITYSCAPES_SIZE[0], width / CITYSCAPES_SIZE[1]
    return camera_info_msg(height, width, fx * sx, fy * sy, cx * sx, cy * sy, stamp, frame_id)


def _write_camera(
    writer: BagWriter, topics: dict[str, str], image: np.ndarray, stamp: int, config: MakeConfig, calibrated=True
) -> None:
    h, w = image.shape[:2]
    writer.write(topics["image"], stamp, _camera_image(image, config, stamp))
    writer.write(topics["camera_info"], stamp, _camera_info(h, w, stamp, config.frame_id, calibrated))


def _write_frame(
    writer: BagWriter,
    topics: dict[str, str],
    image_path: Path,
    label_path: Path | None,
    read_labels: Callable[[Path], np.ndarray],
    stamp: int,
    config: MakeConfig,
) -> None:
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {image_path} (missing, empty or not an image file)")
    h, w = image.shape[:2]
    _write_camera(writer, topics, image, stamp, config)
    if label_path is not None:
        labels = read_labels(label_path)
        if labels.shape != (h, w):
            raise ValueError(
                f"label {label_path} is {labels.shape[0]}x{labels.shape[1]} but image {image_path} is {h}x{w} (HxW)"
            )
        writer.write(topics["labels"], stamp, image_msg(labels, "mono8", stamp, config.frame_id))


def _topics(config: MakeConfig) -> dict[str, str]:
    return {
        "image": image_topic(config.topic_prefix, config.compress),
        "labels": label_topic(config.topic_prefix),
        "camera_info": camera_info_topic(config.topic_prefix),
    }


def make_bag(
    samples: Sequence[tuple[Path, Path | None]],
    read_labels: Callable[[Path], np.ndarray],
    config: MakeConfig,
    classes: Sequence[ClassInfo] | None = None,
) -> dict[str, Any]:
    """Write ``samples`` (image path, label path or None) to a new bag; returns a summary dict.

    ``read_labels`` turns a label file into HxW uint8 trainIds (the dataset's own reader, so the
    bag's ground truth is exactly what ``attanet eval`` scores against); ``classes`` is what those
    ids mean, recorded beside them. Raises ValueError (BagError for the bag itself: it exists, or
    the disk is full or read-only) with nothing written when any frame fails.
    """
    from tqdm import tqdm

    start = config.start_ns if config.start_ns is not None else time.time_ns()
    config.check_span(len(samples), start)
    period = 1e9 / config.rate_hz
    topics = _topics(config)
    out = Path(config.out)
    frames = 0
    with staged_bag(out, config.storage, origin="attanet bag-make") as writer:
        if classes is not None and any(label is not None for _, label in samples):
            writer.write(class_info_topic(topics["labels"]), start, class_table_msg(classes))
        for i, (image_path, label_path) in enumerate(
            tqdm(samples, unit="frame", desc="bag-make", disable=not config.progress)
        ):
            stamp = start + round(i * period)
            try:
                _write_frame(writer, topics, image_path, label_path, read_labels, stamp, config)
            except BagError:
                raise
            except ValueError as exc:
                raise ValueError(f"frame {i} ({image_path.name}): {exc}; nothing was written to {out}") from exc
            frames += 1
        counts = dict(writer.counts)
    return {
        "bag": str(out),
        "storage": config.storage,
        "frames": frames,
        "topics": counts,
        "start_s": start / 1e9,
        "duration_s": (frames - 1) * period / 1e9 if frames else 0.0,
        "rate_hz": config.rate_hz,
    }


def make_source_bag(frames: Iterable[SourceImage | SkippedImage], config: MakeConfig) -> dict[str, Any]:
    """Write the frames of a video file or an unlabelled image folder (``file_frames``) to a new bag:
    camera images and uncalibrated camera_info, stamped ``start + i / rate``, no ground truth.

    A file that cannot be decoded is skipped and named in the summary's ``skipped``; the others keep
    consecutive stamps. Raises ValueError (BagError for the bag itself) with nothing written when no
    frame at all could be read.
    """
    from tqdm import tqdm

    start = config.start_ns if config.start_ns is not None else time.time_ns()
    period = 1e9 / config.rate_hz
    topics, skipped, written = _topics(config), [], 0
    with staged_bag(config.out, config.storage, origin="attanet bag-make --source") as writer:
        for frame in tqdm(frames, total=_length(frames), unit="frame", desc="bag-make", disable=not config.progress):
            if isinstance(frame, SkippedImage):
                skipped.append({"name": frame.name, "reason": frame.reason})
                continue
            stamp = start + round(written * period)
            config.check_span(written + 1, start)
            _write_camera(writer, topics, frame.image_bgr, stamp, config, calibrated=False)
            written += 1
        if written == 0:
            raise ValueError(f"no frame could be read ({len(skipped)} skipped); nothing was written to {config.out}")
        counts = dict(writer.counts)
    return {
        "bag": str(config.out),
        "storage": config.storage,
        "frames": written,
        "skipped": skipped,
        "topics": counts,
        "start_s": start / 1e9,
        "duration_s": (written - 1) * period / 1e9,
        "rate_hz": config.rate_hz,
    }


def _length(frames: Iterable) -> int | None:
    try:
        return len(frames) or None  # type: ignore[arg-type]
    except TypeError:
        return None
