"""sensor_msgs/Image and CompressedImage <-> numpy, without rclpy.

Works on plain fields (height, width, encoding, step, data, is_bigendian), so rclpy messages,
``rosbags`` messages and anything else shaped like them share one decoder. Every failure is an
``ImageDecodeError`` whose ``kind`` names the problem in a word; the node counts frames by that
word in /diagnostics, so a user sees *what* their camera driver gets wrong, not just that frames
vanish.

The numpy path is the one tested here. With a full ROS install, ``image_from_msg`` hands real
sensor_msgs/Image messages to cv_bridge after the same field checks (so error kinds stay the
same either way) and falls back to numpy if cv_bridge refuses.
"""

from __future__ import annotations

import array
import functools
import re
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

MAX_SIDE = 16384  # larger than any camera; beyond it the header is garbage (same bound as attanet_model)
MAX_PIXELS = 16384 * 8192


class ImageDecodeError(ValueError):
    """An image message that cannot be turned into pixels; ``kind`` is the diagnostics key."""

    KINDS = (
        "unsupported_encoding",
        "bad_encoding",
        "bad_step",
        "short_data",
        "empty",
        "too_large",
        "bad_size",
        "bad_compressed",
    )

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class _Layout:
    channels: int
    bytes_per_channel: int
    to_bgr: int | None  # cv2 colour conversion to BGR, None when already BGR


# encoding -> memory layout. yuv422 packs 2 bytes per pixel, decoded pairwise by OpenCV.
_LAYOUTS: dict[str, _Layout] = {
    "bgr8": _Layout(3, 1, None),
    "rgb8": _Layout(3, 1, cv2.COLOR_RGB2BGR),
    "bgra8": _Layout(4, 1, cv2.COLOR_BGRA2BGR),
    "rgba8": _Layout(4, 1, cv2.COLOR_RGBA2BGR),
    "mono8": _Layout(1, 1, cv2.COLOR_GRAY2BGR),
    "8uc1": _Layout(1, 1, cv2.COLOR_GRAY2BGR),
    "8uc3": _Layout(3, 1, None),
    "bgr16": _Layout(3, 2, None),
    "rgb16": _Layout(3, 2, cv2.COLOR_RGB2BGR),
    "bgra16": _Layout(4, 2, cv2.COLOR_BGRA2BGR),
    "rgba16": _Layout(4, 2, cv2.COLOR_RGBA2BGR),
    "mono16": _Layout(1, 2, cv2.COLOR_GRAY2BGR),
    "yuv422": _Layout(2, 1, cv2.COLOR_YUV2BGR_UYVY),  # U Y0 V Y1 (ROS's name for UYVY)
    "uyvy": _Layout(2, 1, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": _Layout(2, 1, cv2.COLOR_YUV2BGR_YUY2),  # Y0 U Y1 V
    "yuyv": _Layout(2, 1, cv2.COLOR_YUV2BGR_YUY2),
    # OpenCV names Bayer patterns by the second row; these follow cv_bridge's mapping.
    "bayer_rggb8": _Layout(1, 1, cv2.COLOR_BayerBG2BGR),
    "bayer_bggr8": _Layout(1, 1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": _Layout(1, 1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": _Layout(1, 1, cv2.COLOR_BayerGB2BGR),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_LAYOUTS)
# OpenCV-style numeric encodings (16UC1, 32FC1, ...) carry depth or other data, not light: REP 118 puts
# depth in 16UC1 (mm) or 32FC1 (m). Segmenting one as a grey camera frame gives confident nonsense.
_DATA_ENCODING = re.compile(r"(8|16|32|64)[usf]c\d+")
OUTPUT_ENCODINGS: tuple[str, ...] = ("bgr8", "rgb8", "mono8", "mono16")


def _as_bytes_array(data: Any) -> np.ndarray:
    """A flat uint8 view of message data (bytes, bytearray, array.array('B'), numpy, list)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ImageDecodeError("empty", f"image is empty: height={height}, width={width}")
    if height > MAX_SIDE or width > MAX_SIDE or height * width > MAX_PIXELS:
        raise ImageDecodeError(
            "too_large",
            f"image size {height}x{width} (HxW) is absurd (at most {MAX_SIDE} per side, {MAX_PIXELS} pixels)",
        )


def check_fields(height: int, width: int, encoding: str, step: int, data_len: int) -> _Layout:
    """Validate an Image's header against its data; raise ``ImageDecodeError`` saying what is wrong.

    Separate from decoding so the cv_bridge path reports the same error kinds as numpy's.
    """
    height, width, step = int(height), int(width), int(step)
    layout = _LAYOUTS.get(str(encoding).lower())
    if layout is None and _DATA_ENCODING.fullmatch(str(encoding).lower()):
        raise ImageDecodeError(
            "bad_encoding",
            f"image encoding {encoding!r} is a depth/data image, not a camera frame; remap `image` to the "
            "colour or mono camera topic (supported: " + ", ".join(SUPPORTED_ENCODINGS) + ")",
        )
    if layout is None:
        raise ImageDecodeError(
            "unsupported_encoding",
            f"image encoding {encoding!r} is not supported; supported: {', '.join(SUPPORTED_ENCODINGS)}",
        )
    _check_size(height, width)
    if layout.to_bgr in (cv2.COLOR_YUV2BGR_UYVY, cv2.COLOR_YUV2BGR_YUY2) and width % 2:
        raise ImageDecodeError("bad_size", f"{encoding} packs pixel pairs, so width must be even; got width={width}")
    row_bytes = width * layout.channels * layout.bytes_per_channel
    if step < row_bytes:
        raise ImageDecodeError(
            "bad_step",
            f"step {step} is smaller than width x bytes per pixel = {width} x "
            f"{layout.channels * layout.bytes_per_channel} = {row_bytes} for {encoding}",
        )
    if data_len < step * height:
        raise ImageDecodeError(
            "short_data", f"data has {data_len} bytes but step x height = {step} x {height} = {step * height}"
        )
    return layout


def decode_image(
    height: int, width: int, encoding: str, step: int, data: Any, is_bigendian: int = 0, copy: bool = True
) -> np.ndarray:
    """Decode a raw image message's fields to an HxWx3 uint8 BGR array (C-contiguous, writable).

    Row padding (``step`` > row bytes) is skipped. 16-bit data honours ``is_bigendian`` and is
    scaled to 8 bits by 255/65535, as cv_bridge does. ``copy=False``: bgr8 data comes back as a
    view of ``data`` (no copy of the frame; not C-contiguous when rows are padded, read-only when
    ``data`` is); every other encoding is converted into a new array either way.
    """
    buf = _as_bytes_array(data)
    layout = check_fields(height, width, encoding, step, buf.size)
    height, width, step = int(height), int(width), int(step)
    row_bytes = width * layout.channels * layout.bytes_per_channel
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes]
    if layout.bytes_per_channel == 2:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        wide = np.ascontiguousarray(rows).view(dtype).reshape(height, width, layout.channels)
        pixels = ((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    else:
        pixels = rows.reshape(height, width, layout.channels)
    if layout.channels == 1:
        pixels = pixels[:, :, 0]
    if layout.to_bgr is None:
        return np.array(pixels, dtype=np.uint8, order="C", copy=True) if copy else pixels
    return cv2.cvtColor(np.ascontiguousarray(pixels), layout.to_bgr)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (ITU T.81 Table B.1): baseline, extended, progressive, lossless,
# differential and arithmetic-coded; not C4 (DHT), C8 (reserved) or CC (DAC).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: markers without a length


def compressed_size(data: bytes | memoryview) -> tuple[str, int, int]:
    """("png" | "jpeg", height, width) as the file's header declares them, read without decoding.

    PNG: the IHDR chunk that must follow the signature (PNG spec 5.3, 11.2.2). JPEG: the first
    start-of-frame segment (ITU T.81 B.2.2). ``ImageDecodeError("bad_compressed")`` for anything
    else, so a 20000x20000 "bomb" of a few hundred kB is refused before a gigabyte is allocated.
    """
    head = bytes(data[:24])
    if head.startswith(_PNG_SIGNATURE):
        if len(head) < 24 or head[12:16] != b"IHDR":
            raise ImageDecodeError("bad_compressed", "png data has no IHDR header after its signature")
        width, height = struct.unpack(">II", head[16:24])
        return "png", height, width
    if head.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_frame_size(data))
    raise ImageDecodeError(
        "bad_compressed",
        f"compressed data ({len(data)} bytes, starting {head[:8].hex(' ')}) could not be decoded as jpeg/png: "
        "it has neither signature",
    )


def _jpeg_frame_size(data: bytes | memoryview) -> tuple[int, int]:
    """(height, width) of a JPEG's first SOF segment, walking the marker segments after SOI."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            raise ImageDecodeError("bad_compressed", f"jpeg data has no marker at byte {pos} (before any frame header)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            break
        (length,) = struct.unpack(">H", bytes(data[pos + 2 : pos + 4]))
        if marker in _JPEG_SOF:
            if pos + 9 > end or length < 8:
                break
            height, width = struct.unpack(">HH", bytes(data[pos + 5 : pos + 9]))
            if height == 0:  # the height comes later, in a DNL segment (T.81 B.2.5): not taken here
                raise ImageDecodeError("bad_compressed", "jpeg frame header leaves the height to a DNL marker")
            return height, width
        pos += 2 + length
    raise ImageDecodeError("bad_compressed", "jpeg data has no frame header (SOF marker) before its image data")


def decode_compressed(fmt: str, data: Any) -> np.ndarray:
    """Decode a CompressedImage (jpeg/png, as image_transport writes them) to HxWx3 uint8 BGR.

    ``fmt`` is the message's ``format`` field, e.g. "jpeg" or "rgb8; jpeg compressed bgr8";
    OpenCV's decoder yields BGR for both, whatever the original encoding was. The size the header
    declares is checked first (``compressed_size``): too large is ``too_large`` before any pixel
    is decoded.
    """
    buf = _as_bytes_array(data)
    name = str(fmt).lower()
    if "compresseddepth" in name:
        raise ImageDecodeError(
            "bad_encoding", f"compressed format {fmt!r} is a depth image, not a camera frame; expected jpeg/png"
        )
    if buf.size == 0:
        raise ImageDecodeError("empty", f"compressed image ({fmt!r}) has no data")
    kind, height, width = compressed_size(buf.data)
    try:
        _check_size(height, width)
    except ImageDecodeError as exc:
        raise ImageDecodeError(
            exc.kind, f"{kind} header ({buf.size} bytes compressed) declares: {exc}; not decoded"
        ) from None
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(
            "bad_compressed", f"compressed image ({fmt!r}, {buf.size} bytes) could not be decoded as jpeg/png"
        )
    _check_size(*image.shape[:2])
    return image


def _checked_array(image: np.ndarray, encoding: str) -> np.ndarray:
    expected = {"bgr8": (3, np.uint8), "rgb8": (3, np.uint8), "mono8": (1, np.uint8), "mono16": (1, np.uint16)}
    if encoding not in expected:
        raise ValueError(f"cannot encode to {encoding!r}; supported: {', '.join(OUTPUT_ENCODINGS)}")
    channels, dtype = expected[encoding]
    image = np.asarray(image)
    shape_ok = image.ndim == 2 if channels == 1 else image.ndim == 3 and image.shape[2] == channels
    if not shape_ok or image.dtype != dtype:
        want = "HxW" if channels == 1 else f"HxWx{channels}"
        raise ValueError(
            f"{encoding} needs a {want} {np.dtype(dtype).name} image, got shape {image.shape} dtype {image.dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image (shape {image.shape})")
    return np.ascontiguousarray(image.astype(image.dtype.newbyteorder("<"), copy=False))


def _header_fields(image: np.ndarray, encoding: str) -> dict:
    height, width = image.shape[:2]
    return {
        "height": int(height),
        "width": int(width),
        "encoding": encoding,
        "is_bigendian": 0,
        "step": int(image.strides[0]),
    }


def encode_image(image: np.ndarray, encoding: str) -> dict:
    """Fields of a sensor_msgs/Image holding ``image``: bgr8/rgb8 (HxWx3 uint8), mono8 (HxW uint8,
    e.g. labels), mono16 (HxW uint16). No channel reordering: the image must already be in that order."""
    image = _checked_array(image, encoding)
    return {**_header_fields(image, encoding), "data": image.tobytes()}


def fill_image_msg(msg: Any, fields: dict, header: Any = None) -> Any:
    """Copy ``encode_image`` fields (and optionally a header) into an Image message; returns it.

    ``data`` goes in as ``array.array('B')``: rclpy stores uint8[] that way, and handing it
    bytes makes it convert element by element (slow for camera-sized images when field checks are on).
    """
    for name, value in fields.items():
        if name == "data" and not isinstance(value, array.array):
            buf = array.array("B")
            buf.frombytes(memoryview(value).cast("B") if not isinstance(value, bytes) else value)
            value = buf
        setattr(msg, name, value)
    if header is not None:
        msg.header = header
    return msg


def array_to_image_msg(msg: Any, image: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Fill an rclpy Image from an array with one copy (no intermediate bytes object)."""
    image = _checked_array(image, encoding)
    buf = array.array("B")
    buf.frombytes(memoryview(image).cast("B"))
    return fill_image_msg(msg, {**_header_fields(image, encoding), "data": buf}, header)


_CDR_LE = b"\x00\x01\x00\x00"  # encapsulation: plain CDR, little endian (what rmw_fastrtps writes)


def _cdr_string(text: str, offset: int) -> bytes:
    """A CDR string at ``offset`` (after the encapsulation): 4-byte aligned length with the NUL, text, NUL."""
    data = text.encode() + b"\0"
    return b"\0" * (-offset % 4) + struct.pack("<I", len(data)) + data


def image_cdr(image: np.ndarray, encoding: str, header: Any) -> bytes:
    """A sensor_msgs/Image for ``image`` already serialized as CDR, for ``Publisher.publish(bytes)``.

    Byte for byte what ``rclpy.serialization.serialize_message`` makes of ``array_to_image_msg``'s
    message, in one copy of the pixels: no array.array, no Python -> C message conversion and no
    second serialization in rmw. ``header``: anything with ``stamp.sec``, ``stamp.nanosec``, ``frame_id``.
    """
    image = _checked_array(image, encoding)
    fields = _header_fields(image, encoding)
    head = struct.pack("<iI", header.stamp.sec, header.stamp.nanosec)
    head += _cdr_string(header.frame_id, len(head))
    head += b"\0" * (-len(head) % 4) + struct.pack("<II", fields["height"], fields["width"])
    head += _cdr_string(encoding, len(head)) + b"\0"  # is_bigendian: 0
    head += b"\0" * (-len(head) % 4) + struct.pack("<II", fields["step"], image.nbytes)
    return b"".join((_CDR_LE, head, memoryview(image).cast("B")))


def image_from_msg(msg: Any, use_cv_bridge: bool = True, copy: bool = True) -> np.ndarray:
    """BGR pixels of any object with sensor_msgs/Image fields (rclpy or rosbags message); ``copy=False``:
    bgr8 pixels as a view of ``msg.data`` (see ``decode_image``), which must then outlive its use."""
    if use_cv_bridge and _cv_bridge_applies(msg):
        check_fields(msg.height, msg.width, msg.encoding, msg.step, len(msg.data))
        try:
            return _bridge().imgmsg_to_cv2(msg, desired_encoding="bgr8")
        except Exception:  # cv_bridge errors vary by version; the numpy path is authoritative
            pass
    fields = (msg.height, msg.width, msg.encoding, msg.step, msg.data, getattr(msg, "is_bigendian", 0))
    return decode_image(*fields, copy=copy)


def compressed_from_msg(msg: Any) -> np.ndarray:
    """BGR pixels of any object with sensor_msgs/CompressedImage fields."""
    return decode_compressed(msg.format, msg.data)


@functools.lru_cache(maxsize=1)
def _bridge() -> Any:
    """One CvBridge for the process, or None without a ROS install (looked up once, not per frame)."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def _cv_bridge_applies(msg: Any) -> bool:
    """True for rclpy sensor_msgs/Image messages when cv_bridge (a full ROS install) is importable."""
    return type(msg).__module__.split(".")[0] == "sensor_msgs" and _bridge() is not None
