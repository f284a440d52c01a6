"""Writing a new rosbag2 (sqlite3 or MCAP) through rosbags."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

from attanet_model.atomic_write import disk_full_error, disk_is_full, output_error

from .errors import BagError
from .messages import TYPESTORE

STORAGES = ("mcap", "sqlite3")


class BagWriter:
    """A new rosbag2 (format version 9, readable by ``ros2 bag info`` on jazzy/kilted) in one storage.

    ``close()`` (or leaving the ``with`` block, even on an exception) writes metadata.yaml, so what
    was written before a failure is still a valid bag. ``origin`` goes to the metadata's
    custom_data (what wrote the bag; also keeps that field a mapping rather than null).
    A storage failure (full disk, read-only folder; sqlite says "database or disk is full") is a
    ``BagError`` in words (``storage_failure``), the original error as its ``__cause__``.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", origin: str = "attanet_ros.bags.storage") -> None:
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
        with self._storage_errors():
            self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str, offered_qos: Sequence[Qos] = ()) -> None:
        """Declare ``topic``; ``offered_qos``: its publishers' QoS, kept in the metadata as rosbag2 does
        (``ros2 bag play`` and ``attanet bag-play`` then offer a latched topic latched again)."""
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=TYPESTORE, offered_qos_profiles=list(offered_qos)
            )
            self.counts[topic] = 0

    def write(self, topic: str, log_time: int, msg: Any) -> None:
        """Serialize and write ``msg`` (a typestore message) on ``topic``, adding the topic on first use."""
        self.add_topic(topic, msg.__msgtype__)
        self.write_raw(topic, log_time, TYPESTORE.serialize_cdr(msg, msg.__msgtype__))

    def write_raw(self, topic: str, log_time: int, raw: bytes, msgtype: str | None = None) -> None:
        if msgtype is not None:
            self.add_topic(topic, msgtype)
        with self._storage_errors():
            self._writer.write(self._connections[topic], log_time, raw)
        self.counts[topic] += 1

    def close(self) -> None:
        if self._writer.storage is not None:
            with self._storage_errors():
                self._writer.close()

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except (WriterError, OSError, sqlite3.Error) as exc:
            raise BagError(storage_failure(self.path, exc)) from exc

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def staged_bag(out: str | Path, storage: str, origin: str) -> Iterator[BagWriter]:
    """A ``BagWriter`` for the new bag ``out``, written whole or not at all.

    The bag is written into a hidden folder beside ``out`` and renamed to ``out`` only when the
    ``with`` block ends normally: a failure or Ctrl-C half-way leaves nothing behind. metadata.yaml
    names the storage files relative to the folder, so the folder moves as one. Raises BagError
    (``out`` exists, its folder cannot be created, the disk is full or read-only), said of ``out``.
    """
    out = Path(out)
    if out.exists():
        raise BagError(f"output bag {out} exists already; remove it or choose another path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise BagError(storage_failure(out, exc)) from exc
    try:
        with BagWriter(staging / out.name, storage, origin=origin) as writer:
            yield writer
        (staging / out.name).rename(out)
    except BagError as exc:  # said of the staging folder; the user knows the bag by its name
        raise BagError(f"{storage_failure(out, exc.__cause__ or exc)}; nothing was written") from exc
    except OSError as exc:
        raise BagError(f"{storage_failure(out, exc)}; nothing was written") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def storage_failure(path: str | Path, exc: BaseException) -> str:
    """Why writing the bag ``path`` failed, in words: the OSError's cause (``atomic_write``'s wording),
    a full disk when sqlite says so (SQLITE_FULL) or the disk is full, or the library's own message."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        return str(output_error(path, cause))
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or disk_is_full(Path(path).parent):
        return str(disk_full_error(path))
    return f"cannot write bag {path}: {exc}"
