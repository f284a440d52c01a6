"""attanet bag-record: a publisher in one process, the recorder in another, over Fast DDS; the bag
read back with rosbags and with the project's reader holds the publisher's messages exactly (every
field and pixel; compared in canonical CDR because rmw leaves alignment padding uninitialised),
and the latched class_info published before the recorder started."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from bag_helpers import REPO, attanet_command, ros_env, run_cli
from publisher_probe import canonical_cdr, probe_image
from rosbags.rosbag2 import Reader

from attanet_ros.bags.storage import BagReader, deserialize

PUBLISHER = Path(__file__).with_name("publisher_probe.py")
IMAGE, INFO = "/rec/image", "/rec/class_info"
HEIGHT, WIDTH = 48, 64


class Publisher:
    def __init__(self, domain_id: int, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PUBLISHER), IMAGE, str(count), str(HEIGHT), str(WIDTH), INFO],
            env=ros_env(domain_id),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.readline(30) == "ready"

    def readline(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if line := self.proc.stdout.readline():
                return line.strip()
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"publisher said nothing for {timeout} s: {self.proc.stderr.read()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def publisher_factory(domain_id):
    made: list[Publisher] = []

    def make(count: int) -> Publisher:
        made.append(Publisher(domain_id, count))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _recorder(domain_id: int, *argv) -> subprocess.Popen:
    return subprocess.Popen(
        attanet_command("bag-record", *argv),
        env=ros_env(domain_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _read_back(bag: Path) -> dict[str, list[bytes]]:
    """{topic: raw messages} through rosbags' own reader, and the same through BagReader."""
    with Reader(bag) as reader:
        plain: dict[str, list[bytes]] = {}
        for conn, _, raw in reader.messages():
            plain.setdefault(conn.topic, []).append(bytes(raw))
    with BagReader(bag) as reader:
        assert reader.damage is None and reader.warnings == []
        ours: dict[str, list[bytes]] = {}
        for msg in reader.messages():
            ours.setdefault(msg.topic, []).append(msg.raw)
        assert reader.topics[IMAGE].msgtype == "sensor_msgs/msg/Image"
        assert reader.topics[INFO].msgtype == "std_msgs/msg/String"
    assert ours == plain
    return plain


def test_late_recorder_gets_bit_exact_images_and_the_latched_class_info(publisher_factory, domain_id, tmp_path) -> None:
    count = 5
    publisher = publisher_factory(count)  # class_info is published before the recorder exists
    bag = tmp_path / "not" / "yet" / "there"
    rec = _recorder(domain_id, bag, "--topics", IMAGE, INFO, "--max-messages", count + 1, "--json")
    sent = json.loads(publisher.readline(60))
    out, err = rec.communicate(timeout=90)
    assert rec.returncode == 0, err
    summary = json.loads(out)
    assert summary["counts"] == {IMAGE: count, INFO: 1} and summary["stopped_by"] == "max-messages"
    assert summary["qos"] == {IMAGE: "reliable, volatile", INFO: "reliable, transient_local"}
    for topic in (IMAGE, INFO):  # subscribed first, then said when the reader has matched the publisher
        assert err.index(f"recording {topic} [") < err.index(f"matched {topic} (1 publisher(s))"), err

    raw = _read_back(bag)
    assert [zlib.crc32(canonical_cdr(r)) for r in raw[IMAGE]] == sent["crc"]
    with Reader(bag) as reader:  # the publishers' QoS kept in the metadata, as rosbag2 does
        offered = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    assert [q.durability.name for q in offered[INFO]] == ["TRANSIENT_LOCAL"]
    # (DDS discovery does not carry the history depth, so, as in rosbag2's own bags, it is not compared)
    assert [(q.reliability.name, q.durability.name) for q in offered[IMAGE]] == [("RELIABLE", "VOLATILE")]
    with BagReader(bag) as reader:
        assert reader.topics[INFO].latched and not reader.topics[IMAGE].latched
        images = [deserialize(m) for m in reader.messages([IMAGE])]
        infos = [deserialize(m) for m in reader.messages([INFO])]
    for i, msg in enumerate(images):
        want = probe_image(i, HEIGHT, WIDTH)
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (want.header.stamp.sec, want.header.stamp.nanosec)
        np.testing.assert_array_equal(np.asarray(msg.data), np.frombuffer(bytes(want.data), np.uint8))
    assert json.loads(infos[0].data) == sent["class_info"]


def test_sigterm_closes_a_readable_sqlite3_bag_with_everything_delivered(
    publisher_factory, domain_id, tmp_path
) -> None:
    count = 3
    publisher = publisher_factory(count)
    bag = tmp_path / "term"
    rec = _recorder(domain_id, bag, "--topics", IMAGE, INFO, "--storage", "sqlite3")
    sent = json.loads(publisher.readline(60))
    assert publisher.readline(60) == "done"  # every image acknowledged by the recorder's reader
    rec.send_signal(signal.SIGTERM)
    out, err = rec.communicate(timeout=30)
    assert rec.returncode == 0, err
    assert "(stopped by SIGTERM)" in out and f"{IMAGE} ({count}), {INFO} (1)" in out, out
    assert "Traceback" not in err
    raw = _read_back(bag)
    assert [zlib.crc32(canonical_cdr(r)) for r in raw[IMAGE]] == sent["crc"]
    assert list(bag.glob("*.db3")) and (bag / "metadata.yaml").is_file()
    with BagReader(bag) as reader:
        assert reader.topics[INFO].latched


def test_a_topic_nobody_publishes_is_an_error_naming_it(domain_id, tmp_path) -> None:
    bag = tmp_path / "empty"
    rec = _recorder(domain_id, bag, "--topics", "/nobody/here", "--duration", "1")
    out, err = rec.communicate(timeout=60)
    assert rec.returncode == 1, err
    assert "topic /nobody/here had no publisher during the recording; nothing recorded for it" in err
    assert "/nobody/here (0)" in out
    with BagReader(bag) as reader:  # still a valid (empty) bag
        assert reader.topics == {}


def test_user_errors_exit_2_and_write_nothing(capsys, tmp_path) -> None:
    existing = tmp_path / "exists"
    existing.mkdir()
    code, _, err = run_cli(capsys, "bag-record", existing, "--topics", "/a")
    assert code == 2 and f"output bag {existing} exists already" in err
    code, _, err = run_cli(capsys, "bag-record", tmp_path / "b", "--topics", "/a", "--max-messages", "0")
    assert code == 2 and "--max-messages must be >= 1, got 0" in err
    code, _, err = run_cli(capsys, "bag-record", tmp_path / "c", "--topics", "/a", "--duration", "-1")
    assert code == 2 and "--duration must be > 0 seconds, got -1.0" in err
    code, _, err = run_cli(capsys, "bag-record", tmp_path / "d", "--topics", "/a", "--dds-profile", tmp_path / "x")
    assert code == 2 and "does not exist" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists"]
