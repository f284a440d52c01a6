"""``python -m attanet_ros.tools.dds_check`` stopped half-way (SIGTERM, Ctrl-C) takes its children with it.

Before, SIGTERM ended the check and left its publisher (and at times its subscriber) running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ros_harness import domain_for

from attanet_ros.tools.dds_check import stop_child


def children_of(pid: int) -> dict[int, str]:
    """{pid: command line} of the live child processes of ``pid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_check_and_both_of_its_children(signum):
    check = subprocess.Popen(
        [sys.executable, "-m", "attanet_ros.tools.dds_check", "--sizes", "32x32", "--frames", "100000", "--rate", "2"]
        + ["--node-side", "stock", "--camera-side", "stock", "--reliability", "best_effort"]
        + ["--domain", str(domain_for(4))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the publisher starts only once the subscriber said READY: then both children exist
        children = wait_for(
            lambda: (found := children_of(check.pid)) and any("--role pub" in c for c in found.values()) and found,
            120,
            "the check's publisher process",
        )
        assert sorted("--role pub" in c for c in children.values()) == [False, True]
        os.kill(check.pid, signum)
        _, err = check.communicate(timeout=60)
    finally:
        stop_child(check)
    assert check.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert err.strip().splitlines()[-1] == (
        f"dds_check: stopped by {name}; its publisher and subscriber processes were stopped"
    )
    assert "Traceback" not in err
    assert all(not Path(f"/proc/{pid}").exists() for pid in children), children


def test_a_child_that_ignores_sigterm_is_killed():
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "up\n"  # its SIGTERM handler is in place
    stop_child(child)
    assert child.returncode == -signal.SIGKILL


# Run in a fresh interpreter: the pytest process holds rclpy contexts, Qt and inference thread pools from
# earlier tests, and rclpy's own C-level signal handler (installed by a plain rclpy.init in another test)
# must not see a SIGTERM sent to the test runner itself.
FIRST_SIGNAL_ONLY = """
import os, signal, time
from attanet_ros.tools.dds_check import Interrupted, signals_interrupt
cleaned, before = [], signal.getsignal(signal.SIGTERM)
try:
    with signals_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # not reached: the handler raises
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # ignored while cleaning up
            cleaned.append(True)
except Interrupted as caught:
    print("interrupted by", signal.Signals(caught.signum).name)
print("cleaned", cleaned == [True], "restored", signal.getsignal(signal.SIGTERM) == before)
"""


def test_only_the_first_signal_interrupts_so_the_clean_up_runs_to_the_end():
    done = subprocess.run([sys.executable, "-c", FIRST_SIGNAL_ONLY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["interrupted by SIGTERM", "cleaned True restored True"], done.stdout
