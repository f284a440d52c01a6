"""One inference thread with torch's intra-op threads set there, and OpenMP's passive waits in the node."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from attanet_ros.node.inference_thread import InferenceThread, quiet_openmp_waits, usable_cores


def test_passive_waits_unless_the_user_chose():
    env: dict[str, str] = {}
    assert quiet_openmp_waits(env) == "PASSIVE" and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    mine = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert quiet_openmp_waits(mine) == "ACTIVE" and mine == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_the_node_package_sets_the_policy_before_torch_loads():
    """A fresh interpreter as the node starts: importing attanet_ros (before torch) sets the policy,
    and libgomp, loaded afterwards by torch, sees it; a user's own value is kept."""
    code = (
        "import attanet_ros.node.ros_node, os, sys, torch; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "True"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ACTIVE", "True"]


def test_every_call_runs_on_one_thread_with_torch_threads_set_there():
    import torch

    worker = InferenceThread(threads=1)
    try:
        seen = {worker.call(threading.get_ident) for _ in range(5)}
        seen.add(worker.submit(threading.get_ident).result())
        assert len(seen) == 1 and threading.get_ident() not in seen
        assert worker.call(torch.get_num_threads) == 1
        assert "1 torch intra-op threads" in worker.describe()
        with pytest.raises(ZeroDivisionError):
            worker.call(lambda: 1 / 0)
        assert worker.call(threading.get_ident) in seen  # an exception does not lose the thread
    finally:
        worker.close()


def test_default_threads_are_the_cores_this_process_may_use():
    worker = InferenceThread()
    try:
        assert worker.threads == usable_cores() == len(os.sched_getaffinity(0))
    finally:
        worker.close()


def test_only_the_node_package_sets_the_policy_not_the_tools():
    """The bag and measuring tools import attanet_ros.common/bags/tools: no process-wide side effect."""
    code = "import attanet_ros.common.image_codec, attanet_ros.bags.cli, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None"]
