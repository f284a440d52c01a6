import os
import signal
from pathlib import Path

import pytest
import torch
from fastdds_shm import clean_fastdds_shm

# Every rclpy participant this test process creates uses the shipped Fast DDS profile, as users are
# told to run: Fast DDS reads the profile once per process, at its first participant, so a test
# that happens to create one first without it would leave the rest of the run on the stock
# transports (which lose large frames). Child processes get it from their own environment.
os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(Path(__file__).resolve().parents[1] / "config" / "fastdds_shm.xml")

# backend/precision "auto" (the Segmenter's default) must not time candidates inside tests: with the
# probe off it takes the fixed order's first candidate (torch fp32 for a checkpoint), in this process
# and in every node or CLI child it starts. Tests of the probe switch it on for themselves.
os.environ["ATTANET_AUTO_PROBE"] = "0"

# A test run started in the background of a script (`make test &`, nohup) has SIGINT ignored, and
# its child processes inherit that: the tests that press Ctrl-C on a child would see it ignored.
# A handler here (not SIG_IGN) is reset to the default in each child at exec, so they get it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Two cores shared by everything: keep each test process from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_sessionstart(session) -> None:
    clean_fastdds_shm()  # what an earlier run (or another program) left


@pytest.fixture(autouse=True, scope="module")
def _fastdds_shm_clean(request):
    yield
    if {"ros", "gui"} & set(request.node.path.parts):  # the modules that start ROS processes
        clean_fastdds_shm()
