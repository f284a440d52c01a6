"""Reading and writing rosbag2 files (sqlite3 and MCAP) without a ROS install.

Built on the pure-Python ``rosbags`` library: ``reader`` (tolerant reading of damaged bags),
``salvage`` (the intact records of an MCAP file cut short), ``messages`` (typestore, stamps,
image/label decoding, message builders) and ``writer``.
"""

from .errors import BagError
from .messages import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    IMAGE_TYPES,
    LABEL_ENCODINGS,
    STRING,
    TYPESTORE,
    BagMessage,
    camera_info_msg,
    class_info_topic,
    class_table_msg,
    compressed_msg,
    deserialize,
    header,
    header_stamp_ns,
    image_from_bag_msg,
    image_msg,
    labels_from_bag_msg,
    restamp,
    stamp_ns,
)
from .reader import BagReader, MessageSource, TopicInfo
from .writer import STORAGES, BagWriter, staged_bag

__all__ = [
    "CAMERA_INFO",
    "COMPRESSED_IMAGE",
    "IMAGE",
    "IMAGE_TYPES",
    "LABEL_ENCODINGS",
    "STORAGES",
    "STRING",
    "TYPESTORE",
    "BagError",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "MessageSource",
    "TopicInfo",
    "camera_info_msg",
    "class_info_topic",
    "class_table_msg",
    "compressed_msg",
    "deserialize",
    "header",
    "header_stamp_ns",
    "image_from_bag_msg",
    "image_msg",
    "labels_from_bag_msg",
    "restamp",
    "staged_bag",
    "stamp_ns",
]
