"""Camera frames from files: a folder of images, a video file (``attanet_ros.common.file_frames``), or a
rosbag2 (sqlite3 or MCAP).

Each reader is an iterable of ``SourceImage`` (BGR uint8) that the in-process source pulls on
its worker thread, with a ``SkippedImage`` (name and reason) in its place for an item that cannot
be decoded, so the viewer can count and show it instead of a log line nobody reads. ``open_reader``
picks one from a path and says what it expected when the path is none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from attanet_ros.common.file_frames import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    FolderReader,
    SkippedImage,
    SourceImage,
    VideoReader,
    open_file_frames,
)

log = logging.getLogger(__name__)

BAG_SUFFIXES = (".mcap", ".db3")


class BagReader:
    """Camera images of one topic of a rosbag2, decoded by the node's own decoder.

    Reading goes through ``attanet_ros.bags.storage`` (tolerant of bags a killed recorder left
    behind); a damaged bag plays up to the damage and the reader logs where it stopped.
    """

    def __init__(self, path: Path, topic: str | None = None) -> None:
        from attanet_ros.bags.storage import IMAGE_TYPES
        from attanet_ros.bags.storage import BagReader as RosBagReader

        self.path = path
        with RosBagReader(path) as bag:
            image_topics = {t.name: t.msgtype for t in bag.topics.values() if t.msgtype in IMAGE_TYPES}
            if topic is None:
                topic = _pick_camera_topic(image_topics)
                if topic is None:
                    raise ValueError(f"the bag {path} has no image topics; its topics:\n{bag.describe_topics()}")
            else:
                bag.require_topic(topic, IMAGE_TYPES, "--topic")
            self._count = bag.topics[topic].count
        self.topic = topic
        self.fps: float | None = None  # bags play as fast as the model goes; stamps keep the timing

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[SourceImage | SkippedImage]:
        from attanet_ros.bags.storage import BagReader as RosBagReader
        from attanet_ros.bags.storage import deserialize, image_from_bag_msg
        from attanet_ros.common.image_codec import ImageDecodeError

        with RosBagReader(self.path) as bag:
            for index, message in enumerate(bag.messages([self.topic])):
                msg = deserialize(message)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                try:
                    image = image_from_bag_msg(msg, message.msgtype)
                except ImageDecodeError as exc:
                    yield SkippedImage(f"{self.topic} message {index}", str(exc))
                    continue
                yield SourceImage(image, stamp, f"{self.topic}@{stamp}")
            if bag.damage:
                log.warning("%s", bag.damage)


def _pick_camera_topic(image_topics: dict[str, str]) -> str | None:
    """The camera among a bag's image topics: not a label/prediction topic, raw before compressed."""
    skip = ("label", "gt", "pred", "color", "overlay", "confidence", "attention")
    cameras = [t for t in image_topics if not any(s in t.rsplit("/", 1)[-1] for s in skip)]
    cameras.sort(key=lambda t: (not image_topics[t].endswith("/Image"), t))
    return cameras[0] if cameras else None


def is_bag(path: Path) -> bool:
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix.lower() in BAG_SUFFIXES


def open_reader(path: Path, topic: str | None = None) -> FolderReader | VideoReader | BagReader:
    """The reader for ``path``: a rosbag2 folder or file, a video file, or a folder of images."""
    if not path.exists():
        raise ValueError(f"source {path} does not exist (expected an image folder, a video file or a rosbag2)")
    if is_bag(path):
        return BagReader(path, topic)
    if path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        return open_file_frames(path)
    raise ValueError(
        f"source {path} is not a folder, a rosbag2 or a video file ({', '.join(VIDEO_SUFFIXES)}); "
        "for a ROS topic give its name starting with '/'"
    )
