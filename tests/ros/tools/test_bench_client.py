"""The measuring tools' client (``attanet_ros.tools.bench_client``): a node that never comes up is
reported with its own output, and the node's process is stopped on every way out."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from ros_harness import domain_for, ros_env

from attanet_ros.tools.bench_client import bench_client

TOPIC = f"/bench_client_test_{os.getpid()}/labels"


def client_args(command: list[str]) -> tuple:
    return command, ros_env(domain_for(4)), domain_for(4), "bench_client_test"


def test_a_node_that_exits_is_reported_with_its_output():
    command = [sys.executable, "-c", "print('cannot load the model: no such file'); raise SystemExit(3)"]
    expected = "the node did not come up:\ncannot load the model: no such file"
    with pytest.raises(RuntimeError, match=expected), bench_client(*client_args(command)) as bench:
        bench.wait_until_connected([TOPIC])  # no one publishes it: raises once the process has exited
    assert bench.node.returncode == 3
    assert bench.log.closed


def test_a_node_that_never_connects_is_stopped_after_the_timeout():
    command = [sys.executable, "-c", "import time; time.sleep(600)"]
    with pytest.raises(RuntimeError, match="the node did not come up"), bench_client(*client_args(command)) as bench:
        bench.wait_until_connected([TOPIC], timeout_s=0.5)  # no one publishes it: ends by the timeout
    assert bench.node.returncode == -signal.SIGTERM  # terminated by the client, not left running
    assert bench.log.closed


def test_a_node_that_ignores_sigterm_is_killed_and_said_not_left_running():
    ready = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True)"
    command = [sys.executable, "-c", ready + "; time.sleep(600)"]
    args = (*client_args(command), 1.0)
    expected = r"did not stop within 1 s of SIGTERM and was killed"
    with pytest.raises(RuntimeError, match=expected), bench_client(*args) as bench:
        while "up" not in bench.node_log():  # SIGTERM is ignored from here on: no race with its start
            time.sleep(0.05)
    assert bench.node.returncode == -signal.SIGKILL
    assert bench.log.closed
