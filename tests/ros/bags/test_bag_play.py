"""attanet bag-play: every frame reaches a real rclpy subscriber in another process, on time, and
Ctrl-C stops it cleanly. Both ends run as child processes over Fast DDS on a private domain."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from bag_helpers import FRAMES, IMAGE_TOPIC, RATE_HZ, REPO, attanet_command, ros_env, run_cli, stamp_of

from attanet_ros.bag_io import BagReader, deserialize

PROBE = Path(__file__).with_name("subscriber_probe.py")


class Probe:
    """subscriber_probe.py as a child process; lines are read as they come."""

    def __init__(self, domain_id: int, topic: str, count: int, timeout: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PROBE), topic, str(count), str(timeout)],
            env=ros_env(domain_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.readline(30) == "ready", self.proc.stderr.read() if self.proc.poll() is not None else ""

    def readline(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if line:
                return line.strip()
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"probe said nothing for {timeout} s (exit {self.proc.poll()})")

    def result(self, timeout: float) -> list[dict]:
        out, err = self.proc.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])["received"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def probe_factory(domain_id):
    probes: list[Probe] = []

    def make(topic: str = IMAGE_TOPIC, count: int = FRAMES, timeout: float = 60.0) -> Probe:
        probes.append(Probe(domain_id, topic, count, timeout))
        return probes[-1]

    yield make
    for p in probes:
        p.close()


def _bag_frames(bag: Path) -> list[tuple[int, int]]:
    with BagReader(bag) as reader:
        out = []
        for msg in reader.messages([IMAGE_TOPIC]):
            m = deserialize(msg)
            out.append((m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec, zlib.crc32(bytes(m.data))))
    return out


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_every_frame_reaches_a_subscriber_in_another_process(made_bags, probe_factory, domain_id, storage) -> None:
    probe = probe_factory()
    play = subprocess.run(
        attanet_command(
            "bag-play",
            made_bags[storage],
            "--topics",
            IMAGE_TOPIC,
            "--rate",
            "2",
            "--wait-subscribers",
            "30",
            "--json",
            "--no-progress",
        ),
        env=ros_env(domain_id),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert play.returncode == 0, play.stderr
    summary = json.loads(play.stdout)
    assert summary["published"] == {IMAGE_TOPIC: FRAMES} and summary["loops"] == 1
    assert not summary["interrupted"] and summary["errors"] == []
    # recorded timing at twice the speed: 5 gaps of 0.1 s take at least 0.25 s
    assert summary["wall_s"] >= (FRAMES - 1) / RATE_HZ / 2 - 0.01

    received = probe.result(timeout=60)
    assert [(r["stamp"], r["crc"]) for r in received] == _bag_frames(made_bags[storage])
    assert [r["stamp"] for r in received] == [stamp_of(i) for i in range(FRAMES)]
    assert {r["encoding"] for r in received} == {"bgr8"}


def test_restamp_gives_fresh_shared_stamps_to_two_subscribers(made_bags, probe_factory, domain_id) -> None:
    """--restamp: stamps from the wall clock, in order, the same for a frame and its ground truth;
    --min-subscribers 2 holds the start until both probes (two processes, one topic each) have matched."""
    images, labels = probe_factory(), probe_factory(topic="/camera/gt_labels")
    before = time.time_ns()
    play = subprocess.run(
        attanet_command(
            "bag-play",
            made_bags["mcap"],
            "--restamp",
            "--rate",
            "2",
            "--wait-subscribers",
            "30",
            "--min-subscribers",
            "2",
            "--json",
            "--no-progress",
        ),
        env=ros_env(domain_id),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    after = time.time_ns()
    assert play.returncode == 0, play.stderr
    got_images, got_labels = images.result(60), labels.result(60)
    assert len(got_images) == len(got_labels) == FRAMES
    stamps = [r["stamp"] for r in got_images]
    assert stamps == sorted(stamps) and before < stamps[0] and stamps[-1] < after
    assert stamps == [r["stamp"] for r in got_labels]  # a frame and its ground truth still pair
    # the recorded 0.1 s spacing at --rate 2: frame k never leaves before start + k x 0.05 s (a late frame
    # may be followed by an on-time one, so gaps between neighbours say nothing on a loaded machine)
    spacing_ns = 1e9 / RATE_HZ / 2
    assert all(stamp - before >= k * spacing_ns for k, stamp in enumerate(stamps)), [s - before for s in stamps]
    assert [r["crc"] for r in got_images] == [crc for _, crc in _bag_frames(made_bags["mcap"])]


def test_ctrl_c_stops_a_looping_playback_cleanly(made_bags, probe_factory, domain_id) -> None:
    probe = probe_factory(count=10_000, timeout=60)
    play = subprocess.Popen(
        attanet_command(
            "bag-play", made_bags["mcap"], "--loop", "--rate", "4", "--wait-subscribers", "30", "--no-progress"
        ),
        env=ros_env(domain_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        stamps = [int(probe.readline(60).split()[1]) for _ in range(FRAMES + 2)]  # into the second loop
        assert stamps[FRAMES] == stamps[0] == stamp_of(0)
        play.send_signal(signal.SIGINT)
        out, err = play.communicate(timeout=30)
    finally:
        if play.poll() is None:
            play.kill()
    assert play.returncode == 130, err
    assert out.startswith("interrupted: published ") and "Traceback" not in err


def test_user_errors_exit_2(made_bags, capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--topics", "/nope")
    assert code == 2 and "topic '/nope' is not in bag" in err and "/camera/image_raw  [sensor_msgs/msg/Image]" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--rate", "0")
    assert code == 2 and "--rate must be > 0" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--min-subscribers", "0")
    assert code == 2 and "--min-subscribers must be >= 1, got 0" in err
    code, _, err = run_cli(capsys, "bag-play", tmp_path / "none")
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--dds-profile", tmp_path / "x.xml")
    assert code == 2 and "x.xml does not exist" in err
