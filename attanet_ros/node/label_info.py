"""``~/label_info``: the model's class table as vision_msgs/LabelInfo, what Nav2's semantic segmentation
layer (and other vision_msgs consumers) read to turn label ids into class names.

One publisher per camera (``~/label_info``, or ``~/<camera>/label_info``), reliable + transient local
(``qos.latched_qos``). It is published when the publishers are created, before any frame is taken, and
again before a camera's labels whenever what it says changes: the first frame's header (the camera's
frame_id and stamp) and a new ``confidence_threshold``. Pixels below the threshold are labelled 255,
which vision_msgs reserves for "UNLABELED" in uint8 masks; the table names it.

vision_msgs is not on PyPI: ``make install`` builds it (scripts/build_vision_msgs.py). Where it could not
be built, ``LABEL_INFO_MISSING`` says so once at start-up and ``~/class_info`` (JSON) remains.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attanet_model import IGNORE_INDEX
from attanet_ros.common.qos import latched_qos, publisher

try:  # built by `make install` (or the system's, on a ROS install)
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:
    LabelInfo = VisionClass = None

__all__ = [
    "LABEL_INFO_MISSING",
    "LabelInfo",
    "LabelInfoPublisher",
    "create_label_info",
    "label_info_available",
    "label_info_msg",
]

UNLABELED_NAME = "unlabeled"
LABEL_INFO_MISSING = (
    "vision_msgs is not installed, so ~/label_info (vision_msgs/LabelInfo, what Nav2's semantic segmentation "
    "layer reads) is not published; ~/class_info (JSON) is. `make install` builds it where a C++ compiler, "
    "CMake >= 3.21 and the Python headers are present (scripts/build_vision_msgs.py)"
)


def label_info_available() -> bool:
    return LabelInfo is not None


def label_info_msg(classes: Iterable[Any], threshold: float, header: Any) -> Any:
    """LabelInfo for ``classes`` (objects with ``id`` and ``name``), then 255 = unlabeled, with ``header``."""
    class_map = [VisionClass(class_id=int(c.id), class_name=str(c.name)) for c in classes]
    class_map.append(VisionClass(class_id=IGNORE_INDEX, class_name=UNLABELED_NAME))
    return LabelInfo(header=header, class_map=class_map, threshold=float(threshold))


class LabelInfoPublisher:
    """One camera's ``label_info`` publisher: publishes when the frame_id or the threshold changes."""

    def __init__(self, publisher: Any, classes: list[Any], threshold: float, header: Any) -> None:
        self.publisher, self.classes = publisher, list(classes)
        self._said: tuple[str, float] | None = None
        self.publish(threshold, header)

    def publish(self, threshold: float, header: Any) -> None:
        self.publisher.publish(label_info_msg(self.classes, threshold, header))
        self._said = (header.frame_id, float(threshold))

    def follow(self, threshold: float, header: Any) -> None:
        """Before a frame's labels: republish with its header if the frame_id or the threshold changed."""
        if self._said != (header.frame_id, float(threshold)):
            self.publish(threshold, header)


def create_label_info(node: Any, topic: str, classes: list[Any], settings: Any) -> LabelInfoPublisher | None:
    """``topic``'s publisher (latched, overridable), its table published now, before any frame is taken
    (the camera's frame_id comes with its first frame); None without vision_msgs (said once at start-up)."""
    if not label_info_available():
        return None
    from std_msgs.msg import Header

    header = Header(stamp=node.get_clock().now().to_msg())
    return LabelInfoPublisher(
        publisher(node, LabelInfo, topic, latched_qos()), classes, settings.confidence_threshold, header
    )
