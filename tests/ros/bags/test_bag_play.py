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
from bag_helpers import FRAMES, IMAGE_TOPIC, RATE_HZ, REPO, attanet_command, ros_env, run_cli, run_traced, stamp_of
from rclpy.serialization import serialize_message

from attanet_ros.bags.storage import TYPESTORE, BagReader, BagWriter, deserialize


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
    play = run_traced(
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
        timeout=120,
        env=ros_env(domain_id),
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
    play = run_traced(
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
        timeout=120,
        env=ros_env(domain_id),
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


def _play(domain_id: int, *argv) -> subprocess.Popen:
    return subprocess.Popen(
        attanet_command("bag-play", *argv, "--json", "--no-progress"),
        env=ros_env(domain_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def test_wait_for_node_holds_the_start_for_a_late_node_while_others_subscribe(made_bags, probe_factory, domain_id):
    """A recorder-like probe (two subscriptions' worth: images and ground truth) is there first; the
    playback still waits for the node named, which starts only after playback is already waiting.

    The early probes are named too: a subscriber the playback has not discovered yet when the
    named ones have matched is not waited for (on a loaded machine discovery of an early one can
    come after the late one's), so only named subscribers are sure to get the first frame."""
    early = [
        probe_factory(ros_args=("-r", "__node:=early_image")),
        probe_factory(topic="/camera/gt_labels", ros_args=("-r", "__node:=early_gt")),
    ]
    play = _play(
        domain_id, made_bags["mcap"], "--wait-for-node", "/late_node", "early_image", "early_gt", "--rate", "4"
    )
    try:
        assert "waiting up to 30 s for node /late_node" in play.stderr.readline()
        late = probe_factory(ros_args=("-r", "__node:=late_node"))
        out, err = play.communicate(timeout=90)
    finally:
        if play.poll() is None:
            play.kill()
    assert play.returncode == 0, err
    assert [r["stamp"] for r in late.result(60)] == [stamp_of(i) for i in range(FRAMES)]
    assert len(early[0].result(60)) == len(early[1].result(60)) == FRAMES


def test_a_named_node_that_never_subscribes_plays_nothing_and_exits_1(made_bags, probe_factory, domain_id) -> None:
    probe_factory(timeout=60)  # a subscriber that is not the node asked for
    play = _play(domain_id, made_bags["mcap"], "--wait-for-node", "attanet", "--wait-subscribers", "2")
    out, err = play.communicate(timeout=60)
    assert play.returncode == 1, err
    # which other nodes were seen depends on how quickly discovery ran; the verdict does not
    assert "error: still missing after 2 s: node attanet (nodes subscribed to the played topics: " in err
    assert err.rstrip().endswith("); nothing was played")
    assert json.loads(out)["messages"] == 0


def test_clock_gives_a_use_sim_time_node_the_bags_time(made_bags, probe_factory, domain_id) -> None:
    probe = probe_factory(ros_args=("-p", "use_sim_time:=true"))
    play = _play(
        domain_id,
        made_bags["sqlite3"],
        "--topics",
        IMAGE_TOPIC,
        "--clock",
        "50",
        "--rate",
        "2",
        "--wait-for-topic",
        IMAGE_TOPIC,
        "/clock",
    )
    out, err = play.communicate(timeout=90)
    assert play.returncode == 0, err
    summary = json.loads(out)
    assert summary["published"] == {IMAGE_TOPIC: FRAMES} and summary["clock_messages"] >= FRAMES + 1
    received = probe.result(60)
    assert [r["stamp"] for r in received] == [stamp_of(i) for i in range(FRAMES)]
    sim = [r["sim"] for r in received]
    assert sim == sorted(sim)
    # the node's clock is the bag's (2023), not the wall clock: at each frame, near the frame's log time
    # (bag-make logs a frame at its stamp); the clock runs at most a few ticks ahead of delivery
    for r in received:
        assert r["stamp"] - 200_000_000 <= r["sim"] <= r["stamp"] + 5_000_000_000, r


def _latched_bag(path: Path, info: str, gap_s: float) -> Path:
    """class_info (offered transient local, as bag-record keeps it), then three frames gap_s apart."""
    from publisher_probe import probe_image
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    forever = QosTime(9223372036, 854775807)
    latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  forever, forever, QosLiveliness.AUTOMATIC, forever, False)  # fmt: skip
    start = stamp_of(0)
    with BagWriter(path, "mcap") as writer:
        writer.add_topic("/x/class_info", "std_msgs/msg/String", [latched])
        writer.write("/x/class_info", start, TYPESTORE.types["std_msgs/msg/String"](data=info))
        for i in range(3):
            raw = serialize_message(probe_image(i, 32, 48))
            writer.write_raw(IMAGE_TOPIC, start + round(i * gap_s * 1e9), raw, "sensor_msgs/msg/Image")
    return path


def test_a_latched_recorded_topic_reaches_a_subscriber_that_joins_mid_replay(probe_factory, domain_id, tmp_path):
    bag = _latched_bag(tmp_path / "latched", '{"classes": []}', gap_s=6.0)
    with BagReader(bag) as reader:
        assert reader.topics["/x/class_info"].latched and not reader.topics[IMAGE_TOPIC].latched
    images = probe_factory(count=3)
    late = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("latched_probe.py")), "/x/class_info", "20"],
        env=ros_env(domain_id), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert late.stdout.readline().strip() == "ready"
        play = _play(domain_id, bag, "--wait-for-topic", IMAGE_TOPIC)
        images.readline(60)  # the first frame arrived, so class_info went out before it
        late.stdin.write("go\n")
        late.stdin.flush()  # subscribes now, 12 s of replay before the publisher goes away
        assert late.stdout.readline().strip() == '{"classes": []}'
        out, err = play.communicate(timeout=60)
        assert play.returncode == 0, err
    finally:
        for proc in (late,):
            if proc.poll() is None:
                proc.kill()


def test_user_errors_exit_2(made_bags, capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--topics", "/nope")
    assert code == 2 and "topic '/nope' is not in bag" in err and "/camera/image_raw  [sensor_msgs/msg/Image]" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--rate", "0")
    assert code == 2 and "--rate must be > 0" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--min-subscribers", "0")
    assert code == 2 and "--min-subscribers must be >= 1, got 0" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--clock", "--restamp")
    assert code == 2 and "use one of them" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--wait-for-topic", "/nope")
    assert code == 2 and "--wait-for-topic /nope is not played" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--wait-for-node", "x", "--wait-subscribers", "0")
    assert code == 2 and "need a --wait-subscribers time > 0" in err
    code, _, err = run_cli(capsys, "bag-play", tmp_path / "none")
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys, "bag-play", made_bags["mcap"], "--dds-profile", tmp_path / "x.xml")
    assert code == 2 and "x.xml does not exist" in err


def test_a_child_that_hangs_fails_the_test_with_its_python_stack() -> None:
    """The harness these bag-play runs use: past its timeout a child prints where it is (faulthandler)."""
    with pytest.raises(
        pytest.fail.Exception, match=r"(?s)was still running after 2 s; its threads:.*line 2 in <module>"
    ):
        run_traced([sys.executable, "-c", "import time\ntime.sleep(600)"], timeout=2)
