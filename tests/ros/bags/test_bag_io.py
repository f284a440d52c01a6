"""bag_io: reading bags written by rosbags itself, metadata, damaged bags, label decoding."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from bag_helpers import FRAMES, IMAGE_TOPIC, INFO_TOPIC, LABEL_TOPIC, stamp_of
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from attanet_ros.bags.storage import (
    IMAGE,
    BagError,
    BagMessage,
    BagReader,
    BagWriter,
    class_info_topic,
    deserialize,
    header_stamp_ns,
    image_msg,
    labels_from_bag_msg,
)
from attanet_ros.common.image_codec import ImageDecodeError

HUMBLE = get_typestore(Stores.ROS2_HUMBLE)


def _rosbags_image(stamp: int, pixels: np.ndarray, encoding: str):
    t = HUMBLE.types
    header = t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="cam"
    )
    h, w = pixels.shape[:2]
    step = pixels.size // h
    return t[IMAGE](
        header=header, height=h, width=w, encoding=encoding, is_bigendian=0, step=step, data=pixels.reshape(-1)
    )


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_reads_bag_written_by_rosbags_directly(tmp_path: Path, storage: str) -> None:
    """A bag from rosbags' own Writer (humble typestore, version 8) reads back frame for frame."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(4)]
    bag = tmp_path / "direct"
    with Writer(bag, version=8, storage_plugin=plugin) as writer:
        conn = writer.add_connection("/cam/image", IMAGE, typestore=HUMBLE)
        for i, pixels in enumerate(frames):
            raw = HUMBLE.serialize_cdr(_rosbags_image(stamp_of(i), pixels, "bgr8"), IMAGE)
            writer.write(conn, stamp_of(i) + 1000, raw)  # log time 1 us after the stamp

    with BagReader(bag) as reader:
        assert reader.storage == storage
        assert reader.warnings == []
        assert {t: (i.msgtype, i.count) for t, i in reader.topics.items()} == {"/cam/image": (IMAGE, 4)}
        msgs = list(reader.messages())
        assert reader.damage is None
    assert [m.log_time for m in msgs] == [stamp_of(i) + 1000 for i in range(4)]
    assert [header_stamp_ns(m.raw) for m in msgs] == [stamp_of(i) for i in range(4)]
    for msg, pixels in zip(msgs, frames, strict=True):
        decoded = deserialize(msg)
        assert decoded.header.frame_id == "cam"
        np.testing.assert_array_equal(np.asarray(decoded.data).reshape(16, 24, 3), pixels)


def test_header_stamp_reads_big_endian_cdr() -> None:
    msg = _rosbags_image(stamp_of(3) + 7, np.zeros((2, 2), np.uint8), "mono8")
    little = HUMBLE.serialize_cdr(msg, IMAGE, little_endian=True)
    big = HUMBLE.serialize_cdr(msg, IMAGE, little_endian=False)
    assert little != big
    assert header_stamp_ns(little) == header_stamp_ns(big) == stamp_of(3) + 7
    with pytest.raises(ValueError, match="too short"):
        header_stamp_ns(b"\x00\x01\x00")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_make_metadata_is_a_valid_rosbag2_description(made_bags, storage: str) -> None:
    """What ``ros2 bag info`` reads: version, storage id, files that exist, per-topic counts and types."""
    bag = made_bags[storage]
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9
    assert info["storage_identifier"] == storage
    assert all((bag / f).is_file() for f in info["relative_file_paths"])
    topics = {t["topic_metadata"]["name"]: t for t in info["topics_with_message_count"]}
    table = class_info_topic(LABEL_TOPIC)
    assert set(topics) == {IMAGE_TOPIC, LABEL_TOPIC, INFO_TOPIC, table}
    for name, entry in topics.items():
        assert entry["message_count"] == (1 if name == table else FRAMES)
        assert entry["topic_metadata"]["serialization_format"] == "cdr"
        assert entry["topic_metadata"]["type_description_hash"].startswith("RIHS01_")
    assert topics[INFO_TOPIC]["topic_metadata"]["type"] == "sensor_msgs/msg/CameraInfo"
    assert topics[table]["topic_metadata"]["type"] == "std_msgs/msg/String"
    assert info["message_count"] == 3 * FRAMES + 1
    assert info["starting_time"]["nanoseconds_since_epoch"] == stamp_of(0)
    assert info["duration"]["nanoseconds"] == stamp_of(FRAMES - 1) - stamp_of(0)
    assert info["custom_data"] == {"written_by": "attanet bag-make"}


def _copy(bag: Path, tmp_path: Path, name: str) -> tuple[Path, Path]:
    copy = tmp_path / name
    shutil.copytree(bag, copy)
    storage_file = next(p for p in copy.iterdir() if p.suffix in (".mcap", ".db3"))
    return copy, storage_file


def test_truncated_mcap_yields_intact_messages_and_says_where_it_stopped(made_bags, tmp_path: Path) -> None:
    with BagReader(made_bags["mcap"]) as reader:
        complete = list(reader.messages())
    bag, file = _copy(made_bags["mcap"], tmp_path, "cut")
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * 0.6)])  # a recording killed mid-write: no summary, no footer

    with BagReader(bag) as reader:
        assert any("truncated or its index is damaged" in w for w in reader.warnings)
        assert reader.unfinished == f"{file.name} has no MCAP footer: the recorder did not close it"
        # the file ends inside a record, as a killed recorder leaves it: the recording's lost tail, not damage
        assert reader.cut_tail is not None and reader.cut_tail.startswith(f"{file.name} ends inside a record: ")
        assert "cut short" in reader.cut_tail
        got = list(reader.messages())
        assert reader.damage is None
    assert 0 < len(got) < len(complete)
    assert [(m.topic, m.log_time, m.raw) for m in got] == [(m.topic, m.log_time, m.raw) for m in complete[: len(got)]]


def _first_chunk(data: bytes) -> tuple[int, int]:
    """(byte of the first MCAP chunk record, byte of the first record inside its uncompressed data)."""
    at = 8  # magic
    while True:
        opcode, length = struct.unpack_from("<BQ", data, at)
        if opcode == 0x06:
            (name_len,) = struct.unpack_from("<I", data, at + 9 + 28)
            assert name_len == 0, "the test bag's chunks are expected uncompressed"
            return at, at + 9 + 40
        at += 9 + length


def test_a_damaged_record_before_the_cut_is_damage_not_the_lost_tail(made_bags, tmp_path: Path) -> None:
    """A record whose length runs past its whole chunk cannot come from a recorder that was stopped: the
    reader stops there with ``damage`` set (the tools report partial results) and keeps what came before."""
    bag, file = _copy(made_bags["mcap"], tmp_path, "bad")
    data = bytearray(file.read_bytes()[: int(file.stat().st_size * 0.6)])
    chunk, inner = _first_chunk(bytes(data))
    skip = 0  # leave the first whole record of the chunk intact, damage the length of the second
    skip += 9 + struct.unpack_from("<Q", data, inner + 1)[0]
    struct.pack_into("<Q", data, inner + skip + 1, 1 << 40)
    file.write_bytes(bytes(data))
    with BagReader(bag) as reader:
        list(reader.messages())
        assert reader.damage == (
            f"bag {bag} is damaged: a record in the chunk at byte {chunk} runs past the chunk's end"
        )
        assert reader.cut_tail is None


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_without_metadata_is_read_from_its_storage_file(made_bags, tmp_path: Path, storage: str) -> None:
    bag, _ = _copy(made_bags[storage], tmp_path, "nometa")
    (bag / "metadata.yaml").unlink()
    with BagReader(bag) as reader:
        assert any("no metadata.yaml" in w for w in reader.warnings)
        assert reader.unfinished == "no metadata.yaml: the recorder did not close the bag"  # partial for bag-eval
        assert reader.storage == storage
        assert reader.topics[IMAGE_TOPIC].count == FRAMES
        assert len(list(reader.messages([LABEL_TOPIC]))) == FRAMES


def test_truncated_sqlite_is_a_clear_error(made_bags, tmp_path: Path) -> None:
    bag, file = _copy(made_bags["sqlite3"], tmp_path, "cut")
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match=r"cannot be read as a rosbag2 sqlite3 database.*truncated copy"):
        BagReader(bag)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "neither metadata.yaml nor any .mcap/.db3"),
        (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "expected a bag directory"),
        (lambda p: (p / "junk.mcap").write_bytes(b"not an mcap file at all") and p / "junk.mcap", "not an MCAP file"),
    ],
)
def test_not_a_bag_is_a_clear_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(BagError, match=message):
        BagReader(make(tmp_path))


def test_missing_topic_lists_the_topics_that_exist(made_bags) -> None:
    with BagReader(made_bags["mcap"]) as reader, pytest.raises(BagError) as err:
        reader.require_topic("/front/image", flag="--image-topic")
    text = str(err.value)
    assert "'/front/image'" in text
    for topic in (IMAGE_TOPIC, LABEL_TOPIC, INFO_TOPIC):
        assert topic in text
    assert "candidates: /camera/gt_labels, /camera/image_raw" in text


def test_writer_refuses_existing_output(made_bags) -> None:
    with pytest.raises(BagError, match="exists already"):
        BagWriter(made_bags["mcap"], "mcap")
    with pytest.raises(BagError, match="storage 'rosbag1' is not supported"):
        BagWriter(made_bags["mcap"].parent / "new", "rosbag1")


def _as_bag_message(msg) -> BagMessage:
    from attanet_ros.bags.storage import TYPESTORE

    return BagMessage("/l", IMAGE, 0, TYPESTORE.serialize_cdr(msg, IMAGE))


def test_labels_decode_mono8_with_row_padding_and_reject_colour() -> None:
    labels = np.arange(6 * 5, dtype=np.uint8).reshape(6, 5)
    msg = image_msg(labels, "mono8", stamp_of(0), "cam")
    padded = np.zeros((6, 8), np.uint8)
    padded[:, :5] = labels
    msg.step, msg.data = 8, padded.reshape(-1)
    decoded = deserialize(_as_bag_message(msg))
    np.testing.assert_array_equal(labels_from_bag_msg(decoded, IMAGE), labels)

    colour = image_msg(np.zeros((6, 5, 3), np.uint8), "rgb8", stamp_of(0), "cam")
    with pytest.raises(ImageDecodeError, match="label images must be mono8 trainIds, got encoding 'rgb8'"):
        labels_from_bag_msg(colour, IMAGE)
