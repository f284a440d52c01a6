"""Tolerant reading of rosbag2 bags (a directory, or one .mcap/.db3 file).

A recorder that was killed leaves a bag without ``metadata.yaml`` or an MCAP file without its
index; ``BagReader`` still reads every intact message, says what was wrong in ``warnings`` and
``unfinished`` (the recording did not end normally, so its last messages may be missing; ``cut_tail``
says where its storage file ends inside a record, as a killed recorder leaves it), and stops at the
first damaged record with ``damage`` set, so the tools built on it report partial
results instead of a traceback or a silent zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rosbags.interfaces import QosDurability
from rosbags.rosbag2 import Reader, ReaderError

from attanet_model import ClassInfo
from attanet_model.classes import describe_difference, parse_class_info, same_classes

from .errors import BagError
from .messages import (
    CLASS_TABLE_TYPES,
    IMAGE_TYPES,
    LABEL_INFO,
    BagMessage,
    class_info_topic,
    classes_from_label_info,
    deserialize,
    label_info_topic,
)
from .salvage import McapSalvage


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int  # as the bag's index says; a damaged bag may hold fewer
    latched: bool = False  # every recorded publisher offered transient local (e.g. the node's ~/class_info)


class Connection(Protocol):
    """What the reader needs of a connection (rosbags' ``Connection`` and the salvage ``Channel``)."""

    id: int
    topic: str
    msgtype: str
    msgcount: int


class MessageSource(Protocol):
    """One storage file (or a whole bag directory) that yields serialized messages."""

    storage: str  # "mcap" or "sqlite3"
    damage: str | None  # set when the source stopped at a damaged record
    cut: str | None  # set when the source's file ends inside a record (an unfinished recording)

    @property
    def connections(self) -> Sequence[Connection]: ...

    def messages(self, connections: Sequence[Connection]) -> Iterator[tuple[Any, int, bytes]]: ...

    def close(self) -> None: ...


class RosbagsSource:
    """A bag directory or storage file opened by rosbags' reader (which needs an intact index)."""

    damage: str | None = None
    cut: str | None = None

    def __init__(self, path: Path) -> None:
        self._reader = Reader(path)
        self._reader.open()
        files = [path] if path.is_file() else list(path.iterdir())
        self.storage = "mcap" if any(p.suffix == ".mcap" for p in files) else "sqlite3"

    @property
    def connections(self) -> Sequence[Connection]:
        return self._reader.connections

    def messages(self, connections: Sequence[Connection]) -> Iterator[tuple[Any, int, bytes]]:
        return self._reader.messages(connections=connections)

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()


class BagReader:
    """A rosbag2 directory, or a single .mcap/.db3 file, opened for tolerant reading.

    ``topics`` lists what the bag holds, ``storage`` is "mcap" or "sqlite3". ``messages()``
    yields in log-time order; when it hits a damaged record it stops and sets ``damage``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self.damage: str | None = None
        # why the recording did not end normally (the recorder was killed: no metadata.yaml, an MCAP
        # without its footer), or None; the intact messages are read, but the last ones may be missing
        self.unfinished: str | None = None
        # where an unfinished recording's storage file ends inside a record (the recorder was killed
        # while writing it), or None; the messages before it are read, not reported as damage
        self.cut_tail: str | None = None
        self._sources: list[MessageSource] = []  # read in order
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        try:
            self._open()
        except BagError:
            self.close()
            raise
        self.storage = self._sources[0].storage
        self.topics = self._collect_topics()

    # opening ------------------------------------------------------------

    def _open(self) -> None:
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix in (".mcap", ".db3"))
            if (self.path / "metadata.yaml").exists():
                try:
                    self._sources.append(RosbagsSource(self.path))
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
                self.unfinished = "no metadata.yaml: the recorder did not close the bag"
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

    def _open_file(self, file: Path) -> MessageSource:
        try:
            return RosbagsSource(file)
        except (ReaderError, OSError, ValueError, KeyError) as exc:
            if file.suffix != ".mcap":
                hint = " (a truncated copy? sqlite3 storage cannot be salvaged; copy the bag again)"
                hint = hint if "malformed" in str(exc) else ""
                raise BagError(f"{file} cannot be read as a rosbag2 sqlite3 database: {exc}{hint}") from exc
            # An MCAP without its summary/footer (recorder killed, copy cut short): scan what is there.
            salvage = McapSalvage(file)
            self.unfinished = self.unfinished or f"{file.name} has no MCAP footer: the recorder did not close it"
            if salvage.cut:
                self.cut_tail = f"{file.name} ends inside a record: {salvage.cut}"
            stopped = salvage.damage or salvage.cut
            self.warnings.append(
                f"{file.name} is truncated or its index is damaged ({exc}); read {salvage.message_count} intact "
                f"messages by scanning the file" + (f", then stopped: {stopped}" if stopped else "")
            )
            return salvage

    def _collect_topics(self) -> dict[str, TopicInfo]:
        topics: dict[str, TopicInfo] = {}
        for source in self._sources:
            for conn in source.connections:
                old = topics.get(conn.topic)
                count = conn.msgcount + (old.count if old else 0)
                profiles = getattr(getattr(conn, "ext", None), "offered_qos_profiles", None) or []
                latched = bool(profiles) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in profiles)
                topics[conn.topic] = TopicInfo(conn.topic, conn.msgtype, count, latched)
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
            unfinished = (
                f"\nthe recording did not end normally ({self.unfinished}): what was recorded last is missing"
                if self.unfinished
                else ""
            )
            raise BagError(
                f"topic {name!r} ({flag}) is not in bag {self.path}{hint}\ntopics in the bag:\n{self.describe_topics()}"
                + unfinished
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
        for index, source in enumerate(self._sources):
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
            if source.damage:
                self.damage = f"bag {self.path} is damaged: {source.damage}"
                return
            if source.cut and index < len(self._sources) - 1:  # a gap before the next file, not a lost tail
                self.damage = f"bag {self.path} is damaged: a file before its last ends inside a record ({source.cut})"
                return

    def class_table(self, topic: str) -> tuple[ClassInfo, ...] | None:
        """The class table recorded on ``topic`` (the node's ``class_info`` JSON on std_msgs/String, or its
        vision_msgs/LabelInfo ``label_info``), or None when the bag has no such topic. BagError when it is
        there but unusable, or when it changes during the recording."""
        info = self.topics.get(topic)
        if info is None:
            return None
        self.require_topic(topic, CLASS_TABLE_TYPES, "class table")
        tables: list[tuple[ClassInfo, ...]] = []
        for message in self.messages([topic]):
            try:
                msg = deserialize(message)
                table = classes_from_label_info(msg) if info.msgtype == LABEL_INFO else parse_class_info(msg.data)
            except Exception as exc:  # corrupt CDR or not our JSON: the table is unknown, not guessed
                expected = (
                    "a vision_msgs/LabelInfo naming classes"
                    if info.msgtype == LABEL_INFO
                    else 'the node\'s class_info JSON ({"classes": [{"id", "name", "color"}, ...]})'
                )
                raise BagError(
                    f"class table on {topic} at log time {message.log_time / 1e9:.3f} in bag {self.path} is not "
                    f"{expected}: {exc}"
                ) from exc
            if tables and not same_classes(table, tables[0]):
                raise BagError(
                    f"the class table on {topic} changes during the recording: {describe_difference(tables[0], table)}"
                )
            tables.append(table)
        if not tables:
            raise BagError(f"{topic} in bag {self.path} lists no message (the bag is damaged before it)")
        return tables[0]

    def class_table_beside(self, label_topic: str) -> tuple[str, tuple[ClassInfo, ...]] | None:
        """(topic, table) of the class table recorded beside ``label_topic``: ``class_info`` (JSON) where
        the bag has it, else ``label_info`` (vision_msgs/LabelInfo); None when it has neither."""
        for topic in (class_info_topic(label_topic), label_info_topic(label_topic)):
            if (table := self.class_table(topic)) is not None:
                return topic, table
        return None

    def close(self) -> None:
        for source in self._sources:
            source.close()
        self._sources = []

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
