"""Ways to damage a real model file the way storage and copies do, for the integrity tests."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path


def flip_tensor_bytes(path: Path, count: int = 64) -> str:
    """Invert ``count`` bytes in the middle of a checkpoint's largest tensor record, leaving the zip
    structure intact (so ``torch.load`` still opens it); returns the damaged member's name."""
    with zipfile.ZipFile(path) as archive:
        record = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", raw, record.header_offset + 26)
    start = record.header_offset + 30 + name_len + extra_len + record.file_size // 2
    raw[start : start + count] = bytes(b ^ 0xFF for b in raw[start : start + count])
    path.write_bytes(raw)
    assert zipfile.is_zipfile(path)
    return record.filename


def flip_onnx_weight_bytes(path: Path, count: int = 64) -> str:
    """Invert ``count`` bytes in the middle of an ONNX file's largest initializer (the protobuf still
    parses); returns the initializer's name."""
    import onnx

    proto = onnx.load(str(path))
    init = max(proto.graph.initializer, key=lambda i: len(i.raw_data))
    raw = bytearray(path.read_bytes())
    start = raw.find(init.raw_data) + len(init.raw_data) // 2
    raw[start : start + count] = bytes(b ^ 0xFF for b in raw[start : start + count])
    path.write_bytes(raw)
    onnx.load(str(path))
    return init.name


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(height: int, width: int, pixels: bool = True) -> bytes:
    """A valid 8-bit grey PNG of zeros declaring ``height`` x ``width``: a few hundred kB that decode
    to height x width x 3 bytes in BGR. ``pixels=False``: the header alone (no IDAT)."""
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if pixels:
        deflate, block, left = zlib.compressobj(9), bytes(16 << 20), height * (width + 1)  # filter byte + row
        parts = []
        while left > 0:
            parts.append(deflate.compress(block[: min(left, len(block))]))
            left -= len(block)
        png += png_chunk(b"IDAT", b"".join(parts) + deflate.flush())
    return png + png_chunk(b"IEND", b"")
