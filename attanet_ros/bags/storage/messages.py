"""ROS message types as the bag tools use them: typestore, stamps, decoding images and labels from
bag messages, and building the messages bag-make writes (sensor_msgs Image / CompressedImage /
CameraInfo), all without a ROS install."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from attanet_model import IGNORE_INDEX, ClassInfo
from attanet_model.classes import class_info_json, generic_classes
from attanet_ros.common.image_codec import ImageDecodeError, compressed_from_msg, encode_image, image_from_msg

# sensor_msgs/std_msgs definitions are identical from humble to kilted (same RIHS01 hashes), so
# one typestore reads bags recorded by any of them.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)

# vision_msgs/LabelInfo (the node's ~/label_info) from the upstream interface files shipped with the package
VISION_MSGS = Path(__file__).resolve().parents[2] / "interfaces" / "vision_msgs" / "msg"
for _name in ("VisionClass", "LabelInfo"):
    TYPESTORE.register(get_types_from_msg((VISION_MSGS / f"{_name}.msg").read_text(), f"vision_msgs/msg/{_name}"))

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STRING = "std_msgs/msg/String"
LABEL_INFO = "vision_msgs/msg/LabelInfo"
CLASS_TABLE_TYPES = (STRING, LABEL_INFO)  # ~/class_info JSON or ~/label_info
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
LABEL_ENCODINGS = ("mono8", "8uc1")


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    log_time: int  # ns, when the recorder received it
    raw: bytes  # CDR-serialized message


def stamp_ns(sec: int, nanosec: int) -> int:
    return int(sec) * 1_000_000_000 + int(nanosec)


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """The header stamp of a serialized message whose first field is a std_msgs/Header.

    Read straight from the CDR bytes (4-byte encapsulation header, then int32 sec and uint32
    nanosec) so matching frames by stamp need not deserialize whole images.
    """
    if len(raw) < 12:
        raise ValueError(f"serialized message is {len(raw)} bytes, too short to hold a header stamp")
    order = "<" if raw[1] & 1 else ">"  # encapsulation 0x0001 CDR_LE, 0x0000 CDR_BE
    sec, nanosec = struct.unpack_from(order + "iI", raw, 4)
    return stamp_ns(sec, nanosec)


def restamp(raw: bytes, stamp_ns: int) -> bytes:
    """A serialized message whose first field is a std_msgs/Header, with its stamp replaced (the
    bytes ``header_stamp_ns`` reads): bag-play's ``--restamp`` and the demo's camera player."""
    if len(raw) < 12:
        raise ValueError(f"serialized message is {len(raw)} bytes, too short to hold a header stamp")
    order = "<" if raw[1] & 1 else ">"
    out = bytearray(raw)
    struct.pack_into(order + "iI", out, 4, stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)
    return bytes(out)


def deserialize(message: BagMessage) -> Any:
    return TYPESTORE.deserialize_cdr(message.raw, message.msgtype)


def image_from_bag_msg(msg: Any, msgtype: str) -> np.ndarray:
    """BGR uint8 pixels of an Image or CompressedImage, through the node's own decoder."""
    if msgtype == COMPRESSED_IMAGE:
        return compressed_from_msg(msg)
    return image_from_msg(msg, use_cv_bridge=False)


def labels_from_bag_msg(msg: Any, msgtype: str) -> np.ndarray:
    """HxW uint8 trainIds from a mono8 Image or a lossless (png) CompressedImage."""
    if msgtype == COMPRESSED_IMAGE:
        if "jpeg" in msg.format.lower() or "jpg" in msg.format.lower():
            raise ImageDecodeError("unsupported_encoding", f"label images must be lossless; got {msg.format!r}")
        labels = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
        if labels is None or labels.ndim != 2 or labels.dtype != np.uint8:
            got = "undecodable data" if labels is None else f"shape {labels.shape} dtype {labels.dtype}"
            raise ImageDecodeError("bad_compressed", f"label image ({msg.format!r}) must be 8-bit mono png, got {got}")
        return labels
    if msg.encoding.lower() not in LABEL_ENCODINGS:
        raise ImageDecodeError(
            "unsupported_encoding", f"label images must be mono8 trainIds, got encoding {msg.encoding!r}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if height <= 0 or width <= 0 or step < width or data.size < step * height:
        raise ImageDecodeError(
            "short_data", f"label image {height}x{width} (HxW) step {step} does not fit its {data.size} data bytes"
        )
    return np.array(data[: step * height].reshape(height, step)[:, :width])


def header(stamp: int, frame_id: str) -> Any:
    t = TYPESTORE.types
    return t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
        frame_id=frame_id,
    )


def image_msg(array: np.ndarray, encoding: str, stamp: int, frame_id: str) -> Any:
    """A sensor_msgs/Image holding ``array`` (already in ``encoding``'s channel order)."""
    fields = encode_image(array, encoding)
    fields["data"] = np.frombuffer(fields["data"], np.uint8)
    return TYPESTORE.types[IMAGE](header=header(stamp, frame_id), **fields)


def compressed_msg(image_bgr: np.ndarray, fmt: str, stamp: int, frame_id: str) -> Any:
    """A sensor_msgs/CompressedImage in image_transport's format ("bgr8; png compressed bgr8")."""
    ext = {"png": ".png", "jpeg": ".jpg"}[fmt]
    ok, buf = cv2.imencode(ext, image_bgr)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image_bgr.shape} image as {fmt}")
    encoding = "mono8" if image_bgr.ndim == 2 else "bgr8"
    return TYPESTORE.types[COMPRESSED_IMAGE](
        header=header(stamp, frame_id), format=f"{encoding}; {fmt} compressed {encoding}", data=buf.reshape(-1)
    )


def class_info_topic(label_topic: str) -> str:
    """Where a label topic's class table is recorded: ``class_info`` beside the labels (the node's
    ``~/class_info`` beside ``~/labels``): /attanet/labels -> /attanet/class_info, and bag-make's
    /camera/gt_labels -> /camera/class_info."""
    namespace = label_topic.rstrip("/").rsplit("/", 1)[0]
    return f"{namespace}/class_info"


def label_info_topic(label_topic: str) -> str:
    """The node's ``~/label_info`` beside ``~/labels`` (as ``class_info_topic``)."""
    return class_info_topic(label_topic).rsplit("/", 1)[0] + "/label_info"


def classes_from_label_info(msg: Any) -> tuple[ClassInfo, ...]:
    """The class table of a vision_msgs/LabelInfo (its 255 = unlabeled entry left out). LabelInfo has no
    colours; the display colours are generic ones (tables compare by id and name)."""
    entries = sorted((int(c.class_id), str(c.class_name)) for c in msg.class_map if c.class_id != IGNORE_INDEX)
    if not entries:
        raise ValueError("its class_map lists no class")
    colors = generic_classes(entries[-1][0] + 1)
    return tuple(ClassInfo(i, name, colors[i].color) for i, name in entries)


def class_table_msg(classes: Iterable[ClassInfo]) -> Any:
    """A std_msgs/String with the class table as the node's ``~/class_info`` JSON."""
    return TYPESTORE.types[STRING](data=class_info_json(tuple(classes)))


def camera_info_msg(
    height: int, width: int, fx: float, fy: float, cx: float, cy: float, stamp: int, frame_id: str
) -> Any:
    """An undistorted pinhole sensor_msgs/CameraInfo."""
    t = TYPESTORE.types
    k = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64)
    p = np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], np.float64)
    return t[CAMERA_INFO](
        header=header(stamp, frame_id),
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=np.zeros(5, np.float64),
        k=k,
        r=np.eye(3, dtype=np.float64).reshape(-1),
        p=p,
        binning_x=0,
        binning_y=0,
        roi=t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )
