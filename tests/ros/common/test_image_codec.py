"""image_codec against independent references (cv2.cvtColor, BT.601 formulas), no ROS needed."""

from __future__ import annotations

import array
import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from damaged_files import png_bomb

from attanet_ros.common.image_codec import (
    ImageDecodeError,
    compressed_from_msg,
    compressed_size,
    decode_compressed,
    decode_image,
    encode_image,
    image_from_msg,
)

H, W = 24, 32


@pytest.fixture(scope="module")
def bgr() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def _rows(pixels: np.ndarray, pad: int = 0) -> tuple[bytes, int]:
    """Bytes of ``pixels`` row by row with ``pad`` garbage bytes after each row, and the step."""
    flat = np.ascontiguousarray(pixels).reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([flat, np.full((flat.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return padded.tobytes(), padded.shape[1]


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    "encoding, to_wire, from_wire",
    [
        ("bgr8", None, None),
        ("rgb8", cv2.COLOR_BGR2RGB, None),
        ("bgra8", cv2.COLOR_BGR2BGRA, None),
        ("rgba8", cv2.COLOR_BGR2RGBA, None),
        ("mono8", cv2.COLOR_BGR2GRAY, cv2.COLOR_GRAY2BGR),
    ],
)
def test_8bit_encodings_match_cvtcolor(bgr, encoding, to_wire, from_wire, pad):
    wire = bgr if to_wire is None else cv2.cvtColor(bgr, to_wire)
    data, step = _rows(wire, pad)
    out = decode_image(H, W, encoding, step, data)
    expected = bgr if from_wire is None else cv2.cvtColor(wire, from_wire)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous and out.flags.writeable


@pytest.mark.parametrize("is_bigendian", [0, 1])
@pytest.mark.parametrize("encoding, channels", [("mono16", 1), ("rgb16", 3), ("bgra16", 4)])
def test_16bit_encodings_honour_endianness(encoding, channels, is_bigendian):
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 65536, size=(H, W, channels), dtype=np.uint32).astype(np.uint16)
    wide[0, 0] = 65535
    wide[0, 1] = 0
    wire = wide.astype(">u2" if is_bigendian else "<u2")
    data, step = _rows(wire, pad=2)
    out = decode_image(H, W, encoding, step, data, is_bigendian=is_bigendian)
    eight = np.round(wide.astype(np.float64) * 255 / 65535).astype(np.uint8)
    if channels == 1:
        expected = np.repeat(eight, 3, axis=2)
    elif encoding.startswith("rgb"):
        expected = eight[:, :, ::-1]
    else:
        expected = eight[:, :, :3]
    np.testing.assert_array_equal(out, expected)
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[0, 1]) == (0, 0, 0)


def _bt601(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Independent reference: limited-range BT.601 YUV -> BGR."""
    y, u, v = (a.astype(np.float64) for a in (y, u, v))
    r = 1.164 * (y - 16) + 1.596 * (v - 128)
    g = 1.164 * (y - 16) - 0.813 * (v - 128) - 0.391 * (u - 128)
    b = 1.164 * (y - 16) + 2.018 * (u - 128)
    return np.clip(np.stack([b, g, r], axis=-1), 0, 255)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_matches_bt601(encoding):
    rng = np.random.default_rng(3)
    y = rng.integers(16, 236, size=(H, W), dtype=np.uint8)
    u = rng.integers(16, 241, size=(H, W // 2), dtype=np.uint8)
    v = rng.integers(16, 241, size=(H, W // 2), dtype=np.uint8)
    packed = np.empty((H, W // 2, 4), np.uint8)
    if encoding in ("yuv422", "uyvy"):  # U Y0 V Y1
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = u, y[:, 0::2], v, y[:, 1::2]
    else:  # Y0 U Y1 V
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = y[:, 0::2], u, y[:, 1::2], v
    data, step = _rows(packed.reshape(H, W * 2), pad=4)
    out = decode_image(H, W, encoding, step, data)
    expected = _bt601(y, np.repeat(u, 2, axis=1), np.repeat(v, 2, axis=1))
    assert np.abs(out.astype(np.float64) - expected).max() <= 3


def test_bayer_flat_colour_is_recovered():
    """A flat colour mosaicked as RGGB must demosaic to that colour away from the border."""
    b, g, r = 40, 120, 200
    mosaic = np.empty((H, W), np.uint8)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2] = r, g, g, b
    out = decode_image(H, W, "bayer_rggb8", W, mosaic.tobytes())
    np.testing.assert_allclose(out[4:-4, 4:-4].reshape(-1, 3).mean(0), (b, g, r), atol=2)


@pytest.mark.parametrize("container", [bytes, bytearray, lambda b: array.array("B", b), np.frombuffer, list])
def test_data_containers(bgr, container):
    data, step = _rows(bgr)
    np.testing.assert_array_equal(decode_image(H, W, "bgr8", step, container(data)), bgr)


@pytest.mark.parametrize(
    "fields, kind, words",
    [
        (dict(encoding="bayer_xyz9"), "unsupported_encoding", "'bayer_xyz9' is not supported"),
        (dict(encoding="16UC1", step=W * 2), "bad_encoding", "'16UC1' is a depth/data image, not a camera frame"),
        (dict(encoding="32FC1", step=W * 4), "bad_encoding", "'32FC1' is a depth/data image"),
        (dict(encoding="8UC2"), "bad_encoding", "remap `image` to the colour or mono camera topic"),
        (dict(step=W * 3 - 1), "bad_step", "step 95 is smaller"),
        (dict(data=b"\0" * (W * 3 * H - 1)), "short_data", "2303 bytes"),
        (dict(height=0, data=b""), "empty", "height=0"),
        (dict(width=0), "empty", "width=0"),
        (dict(height=100_000, width=100_000), "too_large", "100000x100000"),
        (dict(encoding="yuv422", width=31, step=62), "bad_size", "width must be even"),
    ],
)
def test_bad_fields_raise_specific_errors(fields, kind, words):
    msg = dict(height=H, width=W, encoding="bgr8", step=W * 3, data=b"\0" * (W * 3 * H))
    msg.update(fields)
    with pytest.raises(ImageDecodeError) as info:
        decode_image(**msg)
    assert info.value.kind == kind
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("ext, fmt", [(".jpg", "jpeg"), (".png", "rgb8; png compressed bgr8")])
def test_compressed_roundtrip(bgr, ext, fmt):
    smooth = cv2.GaussianBlur(bgr, (7, 7), 0)
    ok, blob = cv2.imencode(ext, smooth)
    assert ok
    out = compressed_from_msg(SimpleNamespace(format=fmt, data=array.array("B", blob.tobytes())))
    assert out.shape == (H, W, 3)
    if ext == ".png":
        np.testing.assert_array_equal(out, smooth)
    else:  # lossy, but close on a smooth image
        assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 6


def test_compressed_errors():
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed("jpeg", b"not a jpeg at all")
    assert info.value.kind == "bad_compressed" and "17 bytes" in str(info.value)
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed("jpeg", b"")
    assert info.value.kind == "empty"
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed("16UC1; compressedDepth png", b"\x89PNG")
    assert info.value.kind == "bad_encoding"


def _jpeg_header(height: int, width: int, sof: int = 0xC0) -> bytes:
    """SOI, an APP0 segment and a start-of-frame segment: what a JPEG declares before its pixels."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + bytes([0xFF, sof]) + struct.pack(">H", 2 + len(frame)) + frame


@pytest.mark.parametrize(
    "blob, expected",
    [
        (cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes(), ("png", 48, 64)),
        (cv2.imencode(".jpg", np.zeros((40, 72, 3), np.uint8))[1].tobytes(), ("jpeg", 40, 72)),
        (
            cv2.imencode(".jpg", np.zeros((40, 72, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(),
            ("jpeg", 40, 72),
        ),
        (_jpeg_header(300, 500, sof=0xC3), ("jpeg", 300, 500)),  # lossless
        (_jpeg_header(300, 500, sof=0xCF), ("jpeg", 300, 500)),  # differential lossless, arithmetic
        (png_bomb(20000, 20000, pixels=False), ("png", 20000, 20000)),
    ],
    ids=["png", "jpeg", "progressive-jpeg", "sof3", "sof15", "png-header"],
)
def test_compressed_size_reads_the_header_only(blob, expected):
    assert compressed_size(blob) == expected


@pytest.mark.parametrize(
    "blob, kind, words",
    [
        (
            png_bomb(20000, 20000, pixels=False),
            "too_large",
            "png header (45 bytes compressed) declares: image size 20000x20000 (HxW) is absurd",
        ),
        (_jpeg_header(20000, 20000), "too_large", "jpeg header"),
        (png_bomb(0, 64, pixels=False), "empty", "image is empty: height=0, width=64"),
        (_jpeg_header(0, 64), "bad_compressed", "leaves the height to a DNL marker"),
        (b"\xff\xd8\xff\xda\x00\x02", "bad_compressed", "no frame header (SOF marker)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "bad_compressed", "no IHDR header"),
        (b"GIF89a" + bytes(20), "bad_compressed", "could not be decoded as jpeg/png: it has neither signature"),
    ],
    ids=["png-bomb", "jpeg-bomb", "png-empty", "jpeg-dnl", "jpeg-no-sof", "png-no-ihdr", "gif"],
)
def test_compressed_headers_are_refused_before_decoding(blob, kind, words):
    """A header-only PNG/JPEG has no pixels at all: too_large proves the size was read, not decoded."""
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed("png", blob)
    assert info.value.kind == kind and words in str(info.value), str(info.value)


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8", "mono16"])
def test_encode_roundtrips_through_decode(bgr, encoding):
    if encoding == "mono8":
        array_in = bgr[:, :, 0].copy()
    elif encoding == "mono16":
        array_in = bgr[:, :, 0].astype(np.uint16) * 257
    else:
        array_in = bgr if encoding == "bgr8" else bgr[:, :, ::-1]
    fields = encode_image(array_in, encoding)
    assert (fields["height"], fields["width"], fields["encoding"], fields["is_bigendian"]) == (H, W, encoding, 0)
    assert len(fields["data"]) == fields["step"] * H
    out = image_from_msg(SimpleNamespace(**fields))
    expected = np.repeat(bgr[:, :, :1], 3, axis=2) if encoding.startswith("mono") else bgr
    np.testing.assert_array_equal(out, expected)


def test_encode_rejects_wrong_shape_with_reason():
    with pytest.raises(ValueError, match=r"mono8 needs a HxW uint8 image, got shape \(4, 4, 3\)"):
        encode_image(np.zeros((4, 4, 3), np.uint8), "mono8")
    with pytest.raises(ValueError, match="cannot encode to 'yuv422'"):
        encode_image(np.zeros((4, 4, 3), np.uint8), "yuv422")


def test_fills_a_real_rclpy_message(bgr):
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    from attanet_ros.common.image_codec import fill_image_msg

    msg = fill_image_msg(sensor_msgs.Image(), encode_image(bgr, "bgr8"))
    msg.header.frame_id = "cam"
    np.testing.assert_array_equal(image_from_msg(msg), bgr)


def test_bgr8_without_copy_is_a_view_of_the_message_data():
    """copy=False (the node's decode): bgr8 pixels are the message's own bytes, padded rows skipped."""
    rng = np.random.default_rng(9)
    bgr = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    for pad in (0, 3):
        rows = np.zeros((6, 15 + pad), np.uint8)
        rows[:, :15] = bgr.reshape(6, 15)
        data = array.array("B", rows.tobytes())
        view = decode_image(6, 5, "bgr8", 15 + pad, data, copy=False)
        np.testing.assert_array_equal(view, bgr)
        assert np.shares_memory(view, np.frombuffer(data, np.uint8)), "copy=False copied the frame"
        assert not np.shares_memory(decode_image(6, 5, "bgr8", 15 + pad, data), np.frombuffer(data, np.uint8))
    rgb = decode_image(6, 5, "rgb8", 15, array.array("B", bgr[:, :, ::-1].tobytes()), copy=False)
    np.testing.assert_array_equal(rgb, bgr)  # converted encodings are new arrays either way
