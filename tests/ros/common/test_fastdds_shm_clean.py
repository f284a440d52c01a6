"""Fast DDS's ``shm clean`` as the tests run it: a ROS process killed with SIGKILL leaves its shared-memory files
under /dev/shm; the clean removes those and keeps the files of a process that is still running."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastdds_shm import FASTDDS_CLI, clean_fastdds_shm
from ros_harness import domain_for, ros_env

SHM = Path("/dev/shm")
PARTICIPANT = """
import rclpy, time
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("shm_owner")
node.create_publisher(String, "/shm_clean_test", 1)
print("up", flush=True)
time.sleep(600)
"""


def fastdds_files() -> set[str]:
    return {name for name in os.listdir(SHM) if name.startswith("fastdds_")}


def start_participant(domain_id: int) -> tuple[subprocess.Popen, set[str]]:
    """A ROS process with one publisher, and the shared-memory files it made."""
    before = fastdds_files()
    proc = subprocess.Popen(
        [sys.executable, "-c", PARTICIPANT], env=ros_env(domain_id), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "up"
    deadline = time.monotonic() + 10
    while not (made := fastdds_files() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, made


@pytest.mark.skipif(not SHM.is_dir() or not FASTDDS_CLI.is_file(), reason="needs /dev/shm and Fast DDS's fastdds tool")
def test_the_files_of_a_killed_process_are_removed_and_a_live_ones_kept():
    domain_id = domain_for(4)
    live, live_files = start_participant(domain_id)
    killed, killed_files = start_participant(domain_id)
    try:
        segments = {name for name in killed_files if name.endswith("_el")}
        assert segments, f"the participant made no locked segment: {sorted(killed_files)}"
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert killed_files <= fastdds_files()  # SIGKILL: nothing of its own was removed
        done = clean_fastdds_shm()
        assert done is not None and done.returncode == 0, (done.stdout, done.stderr)
        assert "zombie segments cleaned" in done.stdout
        left = fastdds_files()
        assert not {name[: -len("_el")] for name in segments} & left and not segments & left, sorted(left)
        assert {name for name in live_files if name.endswith("_el")} <= left  # the running one's are kept
        assert live.poll() is None
    finally:
        for proc in (live, killed):
            proc.kill()
            proc.wait(10)
        clean_fastdds_shm()
