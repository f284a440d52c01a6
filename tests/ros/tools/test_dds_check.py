"""``python -m attanet_ros.tools.dds_check`` stopped half-way (SIGTERM, Ctrl-C) takes its children with it.

Before, SIGTERM ended the check and left its publisher (and at times its subscriber) running.
"""

from __future__ import annotations

import json
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


def test_the_subscribers_malloc_is_stock_or_tuned_as_the_node_tunes_itself(monkeypatch):
    from attanet_ros.common.malloc_tuning import MMAP_THRESHOLD, TRIM_THRESHOLD
    from attanet_ros.tools.dds_check import markdown_table, side_env

    monkeypatch.setenv("MALLOC_TOP_PAD_", "4096")  # the user's own: never leaks into either side
    stock = side_env("profile", 7, "stock")
    assert not any(k.startswith("MALLOC_") for k in stock)
    tuned = side_env("profile", 7, "tuned")
    assert tuned["MALLOC_MMAP_THRESHOLD_"] == str(MMAP_THRESHOLD) == str(32 * 1024 * 1024)
    assert tuned["MALLOC_TRIM_THRESHOLD_"] == str(TRIM_THRESHOLD) and "MALLOC_TOP_PAD_" not in tuned
    with pytest.raises(ValueError, match="unknown malloc 'jemalloc'"):
        side_env("profile", 7, "jemalloc")
    row = {"node_side": "profile", "camera_side": "profile", "reliability": "best_effort", "size": "8x8"}
    rows = [
        {**row, "malloc": "stock", "matched": True, "sent": 20, "received": 20, "latency_p50_ms": 12.34},
        {**row, "malloc": "tuned", "matched": True, "sent": 20, "received": 19, "latency_p50_ms": 4.8},
    ]
    table = markdown_table(rows).splitlines()
    assert table[0] == "| node side | camera side | camera QoS | node malloc | 8x8 |"
    assert table[2:] == [
        "| profile | profile | best_effort | stock | 20/20 (12.3 ms) |",
        "| profile | profile | best_effort | tuned | 19/20 (4.8 ms) |",
    ]
    assert "node malloc" not in markdown_table(rows[:1])  # one malloc checked: the old table


def test_a_check_with_both_mallocs_delivers_frames_to_both_subscribers():
    """Real processes: 8 frames of 64x64 at 20 Hz to a stock and to a tuned subscriber, shipped profile."""
    out = subprocess.run(
        [sys.executable, "-m", "attanet_ros.tools.dds_check", "--sizes", "64x64", "--frames", "8", "--rate", "20"]
        + ["--node-side", "profile", "--camera-side", "profile", "--reliability", "reliable"]
        + ["--malloc", "stock", "tuned", "--json", "--domain", str(domain_for(4))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout)
    assert [r["malloc"] for r in rows] == ["stock", "tuned"]
    assert all(r["matched"] and r["received"] > 0 for r in rows), rows
