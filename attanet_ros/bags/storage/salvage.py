"""Reading the intact records of an MCAP file whose summary or footer is missing.

rosbags' reader needs the footer; a recording killed mid-write has none. This scanner walks the
data section record by record (MCAP spec: opcode u8, length u64, body) and keeps every whole
message, including those inside an uncompressed chunk that was cut short.

Where the file simply ends inside a record (``cut``), that is the expected end of a recording that
did not finish; a record that cannot be read before the end of the file (a chunk whose CRC fails, a
length that runs past its chunk) is ``damage``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from rosbags.rosbag2 import ReaderError

from .errors import BagError


@dataclass(frozen=True)
class Channel:
    """A connection as the salvage scanner sees it (the fields BagReader uses)."""

    id: int
    topic: str
    msgtype: str
    msgcount: int


class McapSalvage:
    """Reads the intact records of an MCAP file whose summary or footer is missing.

    Walks the data section record by record (MCAP spec: opcode u8, length u64, body), opening
    chunks, until the file ends or a record is cut short. That is what a recording killed
    mid-write leaves behind; rosbags' reader needs the footer and refuses such files.
    """

    MAGIC = b"\x89MCAP0\r\n"
    storage = "mcap"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damage: str | None = None  # a record that cannot be read before the end of the file
        self.cut: str | None = None  # the file ends inside a record: where, when it does
        self.message_count = 0
        self._schemas: dict[int, str] = {}
        self._channels: dict[int, tuple[str, int]] = {}
        counts: dict[int, int] = {}
        self._file: BinaryIO = path.open("rb")
        if self._file.read(8) != self.MAGIC:
            self._file.close()
            raise BagError(f"{path} is not an MCAP file (its first bytes are not the MCAP magic)")
        for _, channel_id, _ in self._scan():
            counts[channel_id] = counts.get(channel_id, 0) + 1
            self.message_count += 1
        self.connections = [
            Channel(cid, topic, self._schemas.get(sid, "unknown"), counts.get(cid, 0))
            for cid, (topic, sid) in sorted(self._channels.items())
        ]

    def _records(self) -> Iterator[tuple[int, bytes]]:
        """(opcode, body) of every complete top-level record and every record inside chunks."""
        from rosbags.rosbag2.storage_mcap import decompress  # zstd/lz4 chunk bodies, with CRC check

        f = self._file
        f.seek(8)
        while True:
            head = f.read(9)
            if len(head) == 0:
                return
            if len(head) < 9:
                raise Truncated(f"record header cut short at byte {f.tell() - len(head)}", at_end=True)
            opcode, length = struct.unpack("<BQ", head)
            start = f.tell() - 9
            body = f.read(length)
            cut = len(body) < length
            if cut and opcode != 0x06:
                raise Truncated(f"record 0x{opcode:02x} at byte {start} is cut short", at_end=True)
            if opcode == 0x02:  # footer: the data section and summary are over
                return
            if opcode != 0x06:
                yield opcode, body
                continue
            # chunk: start, end (u64), uncompressed size (u64), crc (u32), compression (str), records (u64 + bytes)
            if cut and (len(body) < 32 or len(body) < 40 + struct.unpack_from("<I", body, 28)[0]):
                raise Truncated(f"chunk at byte {start} is cut short inside its header", at_end=True)
            _, _, size, crc = struct.unpack_from("<QQQI", body, 0)
            (name_len,) = struct.unpack_from("<I", body, 28)
            compression = body[32 : 32 + name_len].decode()
            (data_len,) = struct.unpack_from("<Q", body, 32 + name_len)
            data = body[40 + name_len : 40 + name_len + data_len]
            if cut and compression:
                raise Truncated(f"{compression} chunk at byte {start} is cut short", at_end=True)
            # An uncompressed chunk cut short still holds whole records up to the cut: keep them.
            inner = BytesIO(data if cut else decompress(data, compression, size, crc))
            # A record that runs past the chunk's declared size is damage wherever the file ends; one that
            # runs past the bytes the file holds, inside that size, is where a killed recorder stopped.
            while head := inner.read(9):
                at = inner.tell() - len(head)
                length = struct.unpack("<BQ", head)[1] if len(head) == 9 else 0
                if at + 9 + length > size and (len(head) == 9 or not cut):
                    raise Truncated(f"a record in the chunk at byte {start} runs past the chunk's end")
                record = inner.read(length) if len(head) == 9 else b""
                if len(head) < 9 or len(record) < length:
                    raise Truncated(f"chunk at byte {start} is cut short inside a record", at_end=True)
                yield head[0], record
            if cut:
                raise Truncated(f"chunk at byte {start} is cut short after its last whole record", at_end=True)

    def _scan(self) -> Iterator[tuple[int, int, bytes]]:
        """(log_time, channel_id, data) of each message; records schemas and channels on the way."""
        self.damage = self.cut = None
        try:
            for opcode, body in self._records():
                if opcode == 0x03:  # schema: id u16, name str, encoding str, data
                    (sid,) = struct.unpack_from("<H", body, 0)
                    self._schemas[sid] = read_str(body, 2)[0]
                elif opcode == 0x04:  # channel: id u16, schema id u16, topic str, encoding str, metadata
                    cid, sid = struct.unpack_from("<HH", body, 0)
                    self._channels[cid] = (read_str(body, 4)[0], sid)
                elif opcode == 0x05:  # message: channel u16, sequence u32, log time u64, publish time u64, data
                    cid, _, log_time, _ = struct.unpack_from("<HIQQ", body, 0)
                    yield log_time, cid, body[22:]
        except Truncated as exc:
            if exc.at_end:
                self.cut = str(exc)
            else:
                self.damage = str(exc)
        except (struct.error, ValueError, UnicodeDecodeError, ReaderError) as exc:
            self.damage = str(exc)

    def messages(self, connections: Iterable[Channel]) -> Iterator[tuple[Channel, int, bytes]]:
        by_id = {c.id: c for c in connections}
        for log_time, cid, data in self._scan():
            if cid in by_id:
                yield by_id[cid], log_time, data

    def close(self) -> None:
        self._file.close()


class Truncated(Exception):
    """A record that cannot be read whole; ``at_end``: because the file ends inside it."""

    def __init__(self, message: str, *, at_end: bool = False) -> None:
        super().__init__(message)
        self.at_end = at_end


def read_str(body: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", body, offset)
    end = offset + 4 + length
    if end > len(body):
        raise ValueError(f"string of {length} bytes runs past its record")
    return body[offset + 4 : end].decode(), end
