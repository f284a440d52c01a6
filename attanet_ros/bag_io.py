"""Reading and writing rosbag2 files (sqlite3 and MCAP) without a ROS install.

Built on the pure-Python ``rosbags`` library. What this module adds is the tolerance a user
needs with real recordings: a recorder that was killed leaves a bag without ``metadata.yaml``
or an MCAP file without its index; ``BagReader`` still reads every intact message, says what
was wrong in ``warnings``, and stops at the first damaged record with ``damage`` set, so the
tools built on it report partial results instead of a traceback or a silent zero.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

from attanet_model import ClassInfo
from attanet_model.classes import class_info_json, parse_class_info

from .image_codec import ImageDecodeError, compressed_from_msg, encode_image, image_from_msg

# sensor_msgs/std_msgs definitions are identical from humble to kilted (same RIHS01 hashes), so
# one typestore reads bags recorded by any of them.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STRING = "std_msgs/msg/String"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
STORAGES = ("mcap", "sqlite3")
LABEL_ENCODINGS = ("mono8", "8uc1")


class BagError(ValueError):
    """A bag that cannot be used as asked (missing, unreadable, wrong topic); the message says why."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int  # as the bag's index says; a damaged bag may hold fewer


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
            "short_data", f"label image {width}x{height} step {step} does not fit its {data.size} data bytes"
        )
    return np.array(data[: step * height].reshape(height, step)[:, :width])


def class_table_topic(label_topic: str) -> str:
    """Where a bag says what its label ids mean: ``<label topic>/class_info``, a std_msgs/String
    holding the node's ``~/class_info`` JSON (written by bag-make, read by bag-eval)."""
    return f"{label_topic.rstrip('/')}/class_info"


# ---------------------------------------------------------------- reading


class BagReader:
    """A rosbag2 directory, or a single .mcap/.db3 file, opened for tolerant reading.

    ``topics`` lists what the bag holds, ``storage`` is "mcap" or "sqlite3". ``messages()``
    yields in log-time order; when it hits a damaged record it stops and sets ``damage``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self.damage: str | None = None
        self._sources: list[Any] = []  # opened rosbags Readers or _McapSalvage, read in order
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        try:
            self._open()
        except BagError:
            self.close()
            raise
        self.storage = self._storage_of(self._sources[0])
        self.topics = self._collect_topics()

    # opening ------------------------------------------------------------

    def _open(self) -> None:
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix in (".mcap", ".db3"))
            if (self.path / "metadata.yaml").exists():
                try:
                    self._sources.append(_open_reader(self.path))
                    return
                except (ReaderError, OSError, ValueError, KeyError) as exc:
                    if not files:
                        raise BagError(f"bag {self.path} cannot be read: {exc}") from exc
                    self.warnings.append(
                        f"{self.path}/metadata.yaml does not describe a readable bag ({exc}); "
                        f"reading {', '.join(p.name for p in files)} directly"
                    )
            elif files:
                self.warnings.append(
                    f"{self.path} has no metadata.yaml (was the recorder stopped before it finished?); "
                    f"reading {', '.join(p.name for p in files)} directly"
                )
            if not files:
                raise BagError(
                    f"{self.path} is not a rosbag2: it has neither metadata.yaml nor any .mcap/.db3 storage file"
                )
            for file in files:
                self._sources.append(self._open_file(file))
        elif self.path.suffix in (".mcap", ".db3"):
            self._sources.append(self._open_file(self.path))
        else:
            raise BagError(
                f"{self.path} is not a rosbag2: expected a bag directory (with metadata.yaml) or a .mcap/.db3 file"
            )

    def _open_file(self, file: Path) -> Any:
        try:
            return _open_reader(file)
        except (ReaderError, OSError, ValueError, KeyError) as exc:
            if file.suffix != ".mcap":
                hint = " (a truncated copy? sqlite3 storage cannot be salvaged; copy the bag again)"
                hint = hint if "malformed" in str(exc) else ""
                raise BagError(f"{file} cannot be read as a rosbag2 sqlite3 database: {exc}{hint}") from exc
            # An MCAP without its summary/footer (recorder killed, copy cut short): scan what is there.
            salvage = _McapSalvage(file)
            self.warnings.append(
                f"{file.name} is truncated or its index is damaged ({exc}); read {salvage.message_count} intact "
                f"messages by scanning the file" + (f", then stopped: {salvage.damage}" if salvage.damage else "")
            )
            return salvage

    @staticmethod
    def _storage_of(source: Any) -> str:
        if isinstance(source, _McapSalvage):
            return "mcap"
        suffixes = {p.suffix for p in ([source.path] if source.path.is_file() else source.path.iterdir())}
        return "mcap" if ".mcap" in suffixes else "sqlite3"

    def _collect_topics(self) -> dict[str, TopicInfo]:
        topics: dict[str, TopicInfo] = {}
        for source in self._sources:
            for conn in source.connections:
                old = topics.get(conn.topic)
                count = conn.msgcount + (old.count if old else 0)
                topics[conn.topic] = TopicInfo(conn.topic, conn.msgtype, count)
        return dict(sorted(topics.items()))

    # queries ------------------------------------------------------------

    def describe_topics(self) -> str:
        """One line per topic: name, type and count, for error messages."""
        if not self.topics:
            return "  (the bag has no topics)"
        return "\n".join(f"  {t.name}  [{t.msgtype}]  {t.count} msgs" for t in self.topics.values())

    def require_topic(self, name: str, msgtypes: Iterable[str] = IMAGE_TYPES, flag: str = "topic") -> TopicInfo:
        """The topic ``name``, or a BagError that lists the topics the bag does have."""
        msgtypes = tuple(msgtypes)
        info = self.topics.get(name)
        if info is None:
            candidates = [t.name for t in self.topics.values() if t.msgtype in msgtypes]
            hint = f"; {flag} candidates: {', '.join(candidates)}" if candidates else ""
            raise BagError(
                f"topic {name!r} ({flag}) is not in bag {self.path}{hint}\ntopics in the bag:\n{self.describe_topics()}"
            )
        if info.msgtype not in msgtypes:
            raise BagError(f"topic {name!r} ({flag}) has type {info.msgtype}; expected one of {', '.join(msgtypes)}")
        return info

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages on ``topics`` (None: all) in log-time order; stops at damage and sets ``damage``."""
        wanted = set(topics) if topics is not None else None
        count = 0
        last_time: int | None = None
        self.damage = None
        for source in self._sources:
            connections = [c for c in source.connections if wanted is None or c.topic in wanted]
            iterator = source.messages(connections=connections) if connections else iter(())
            while True:
                try:
                    conn, log_time, raw = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:  # sqlite "malformed", truncated chunks, bad lengths: all mean damage
                    where = f"after {count} messages" + (
                        f" (last log time {last_time / 1e9:.3f} s)" if last_time else ""
                    )
                    self.damage = f"bag {self.path} is damaged {where}: {type(exc).__name__}: {exc}"
                    return
                count += 1
                last_time = log_time
                yield BagMessage(conn.topic, conn.msgtype, log_time, bytes(raw))
            if isinstance(source, _McapSalvage) and source.damage:
                self.damage = f"bag {self.path} is truncated: {source.damage}"
                return

    def class_table(self, label_topic: str) -> tuple[ClassInfo, ...] | None:
        """The class table recorded for ``label_topic`` (see ``class_table_topic``), or None if the bag has none."""
        topic = class_table_topic(label_topic)
        if topic not in self.topics:
            return None
        self.require_topic(topic, (STRING,), "class table")
        for message in self.messages([topic]):
            try:
                return parse_class_info(deserialize(message).data)
            except Exception as exc:  # corrupt CDR or not our JSON: the table is unknown, not guessed
                raise BagError(f"{topic} in bag {self.path} does not hold a readable class table: {exc}") from exc
        raise BagError(f"{topic} in bag {self.path} lists no message (the bag is damaged before it)")

    def close(self) -> None:
        for source in self._sources:
            if isinstance(source, _McapSalvage) or source.is_open:
                source.close()
        self._sources = []

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_reader(path: Path) -> Reader:
    reader = Reader(path)
    reader.open()
    return reader


@dataclass(frozen=True)
class _Channel:
    """A connection as the salvage scanner sees it (the fields BagReader uses)."""

    id: int
    topic: str
    msgtype: str
    msgcount: int


class _McapSalvage:
    """Reads the intact records of an MCAP file whose summary or footer is missing.

    Walks the data section record by record (MCAP spec: opcode u8, length u64, body), opening
    chunks, until the file ends or a record is cut short. That is what a recording killed
    mid-write leaves behind; rosbags' reader needs the footer and refuses such files.
    """

    MAGIC = b"\x89MCAP0\r\n"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damage: str | None = None
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
            _Channel(cid, topic, self._schemas.get(sid, "unknown"), counts.get(cid, 0))
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
                raise _Truncated(f"record header cut short at byte {f.tell() - len(head)}")
            opcode, length = struct.unpack("<BQ", head)
            start = f.tell() - 9
            body = f.read(length)
            cut = len(body) < length
            if cut and opcode != 0x06:
                raise _Truncated(f"record 0x{opcode:02x} at byte {start} is cut short")
            if opcode == 0x02:  # footer: the data section and summary are over
                return
            if opcode != 0x06:
                yield opcode, body
                continue
            # chunk: start, end (u64), uncompressed size (u64), crc (u32), compression (str), records (u64 + bytes)
            _, _, size, crc = struct.unpack_from("<QQQI", body, 0)
            (name_len,) = struct.unpack_from("<I", body, 28)
            compression = body[32 : 32 + name_len].decode()
            (data_len,) = struct.unpack_from("<Q", body, 32 + name_len)
            data = body[40 + name_len : 40 + name_len + data_len]
            if cut and compression:
                raise _Truncated(f"{compression} chunk at byte {start} is cut short")
            # An uncompressed chunk cut short still holds whole records up to the cut: keep them.
            inner = BytesIO(data if cut else decompress(data, compression, size, crc))
            while head := inner.read(9):
                opcode, length = struct.unpack("<BQ", head) if len(head) == 9 else (0, 2**63)
                record = inner.read(length) if len(head) == 9 else b""
                if len(head) < 9 or len(record) < length:
                    raise _Truncated(f"chunk at byte {start} is cut short inside a record")
                yield opcode, record
            if cut:
                raise _Truncated(f"chunk at byte {start} is cut short after its last whole record")

    def _scan(self) -> Iterator[tuple[int, int, bytes]]:
        """(log_time, channel_id, data) of each message; records schemas and channels on the way."""
        try:
            for opcode, body in self._records():
                if opcode == 0x03:  # schema: id u16, name str, encoding str, data
                    (sid,) = struct.unpack_from("<H", body, 0)
                    self._schemas[sid] = _read_str(body, 2)[0]
                elif opcode == 0x04:  # channel: id u16, schema id u16, topic str, encoding str, metadata
                    cid, sid = struct.unpack_from("<HH", body, 0)
                    self._channels[cid] = (_read_str(body, 4)[0], sid)
                elif opcode == 0x05:  # message: channel u16, sequence u32, log time u64, publish time u64, data
                    cid, _, log_time, _ = struct.unpack_from("<HIQQ", body, 0)
                    yield log_time, cid, body[22:]
        except (_Truncated, struct.error, ValueError, UnicodeDecodeError, ReaderError) as exc:
            self.damage = str(exc)

    def messages(self, connections: Iterable[_Channel]) -> Iterator[tuple[_Channel, int, bytes]]:
        by_id = {c.id: c for c in connections}
        for log_time, cid, data in self._scan():
            if cid in by_id:
                yield by_id[cid], log_time, data

    def close(self) -> None:
        self._file.close()


class _Truncated(Exception):
    pass


def _read_str(body: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", body, offset)
    end = offset + 4 + length
    if end > len(body):
        raise ValueError(f"string of {length} bytes runs past its record")
    return body[offset + 4 : end].decode(), end


# ---------------------------------------------------------------- writing


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


class BagWriter:
    """A new rosbag2 (format version 9, readable by ``ros2 bag info`` on jazzy/kilted) in one storage.

    ``close()`` (or leaving the ``with`` block, even on an exception) writes metadata.yaml, so what
    was written before a failure is still a valid bag. ``origin`` goes to the metadata's
    custom_data (what wrote the bag; also keeps that field a mapping rather than null).
    """

    def __init__(self, path: str | Path, storage: str = "mcap", origin: str = "attanet_ros.bag_io") -> None:
        if storage not in STORAGES:
            raise BagError(f"storage {storage!r} is not supported; choose one of {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"output bag {self.path} exists already; remove it or choose another path")
        if not self.path.parent.is_dir():
            raise BagError(f"cannot create bag {self.path}: folder {self.path.parent} does not exist")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.storage = storage
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.set_custom_data("written_by", origin)
        try:
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f"cannot create bag {self.path}: {exc}") from exc
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self.counts[topic] = 0

    def write(self, topic: str, log_time: int, msg: Any) -> None:
        """Serialize and write ``msg`` (a typestore message) on ``topic``, adding the topic on first use."""
        self.add_topic(topic, msg.__msgtype__)
        self.write_raw(topic, log_time, TYPESTORE.serialize_cdr(msg, msg.__msgtype__))

    def write_raw(self, topic: str, log_time: int, raw: bytes, msgtype: str | None = None) -> None:
        if msgtype is not None:
            self.add_topic(topic, msgtype)
        self._writer.write(self._connections[topic], log_time, raw)
        self.counts[topic] += 1

    def close(self) -> None:
        if self._writer.storage is not None:
            self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
