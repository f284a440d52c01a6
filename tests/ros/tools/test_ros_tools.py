"""``attanet ros param-set`` / ``attanet ros lifecycle`` as a user runs them (their own process), against the
lifecycle node in another process over real Fast DDS; and the managed node's ~/label_info at configure."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rclpy.parameter_client import AsyncParameterClient
from ros_harness import LAYER_LABELS, NODE, REPO, NodeProcess, RosClient, domain_for, model_classes, ros_env

from attanet_ros.node.label_info import LabelInfo


def attanet_ros(domain: int, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "attanet_cli", "ros", *args]
    return subprocess.run(cmd, env=ros_env(domain), cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def managed():
    domain = domain_for(2)
    params = {"outputs": ["labels"], "warmup_height": 64, "warmup_width": 128}
    node = NodeProcess(domain, params=params, module="attanet_ros.node.lifecycle_node")
    client = RosClient(domain)
    try:
        assert node.wait_for_output("Fast DDS transports", 90), f"node did not start:\n{node.output()}"
        yield domain, client, node
    finally:
        client.close()
        node.stop()


def get_parameter(client: RosClient, name: str):
    params = AsyncParameterClient(client.node, NODE)
    client.wait_for(params.services_are_ready, 30, "parameter services")
    future = params.get_parameters([name])
    client.executor.spin_until_future_complete(future, timeout_sec=30)
    return future.result().values[0]


def test_lifecycle_and_param_set_drive_the_node(managed):
    domain, client, node = managed
    run = attanet_ros(domain, "lifecycle", NODE, "get")
    assert (run.returncode, run.stdout.strip()) == (0, "unconfigured [1]"), run.stderr

    run = attanet_ros(domain, "lifecycle", NODE, "activate")  # not offered while unconfigured
    assert run.returncode == 1
    assert "activate failed; the node is unconfigured (from unconfigured the node offers: configure" in run.stderr

    run = attanet_ros(domain, "lifecycle", NODE, "configure")
    assert (run.returncode, run.stdout.strip()) == (0, f"configure: done, {NODE} is inactive"), run.stderr
    if LabelInfo is not None:  # the managed node publishes its table at configure, before any frame
        received = client.subscribe(LabelInfo, f"{NODE}/label_info", LAYER_LABELS)
        client.wait_for(lambda: received, 30, "label_info after configure")
        assert [(c.class_id, c.class_name) for c in received[-1].class_map] == [*model_classes(), (255, "unlabeled")]

    run = attanet_ros(domain, "param-set", NODE, "overlay_alpha", "0.7")
    assert (run.returncode, run.stdout.strip()) == (0, f"set overlay_alpha on {NODE}"), run.stderr
    assert get_parameter(client, "overlay_alpha").double_value == pytest.approx(0.7)
    run = attanet_ros(domain, "param-set", NODE, "overlay_alpha", "7")
    assert run.returncode == 1
    assert "overlay_alpha not set: overlay_alpha=7" in run.stderr and "[0, 1]" in run.stderr
    assert get_parameter(client, "overlay_alpha").double_value == pytest.approx(0.7)

    for action, state in (("activate", "active"), ("deactivate", "inactive"), ("cleanup", "unconfigured")):
        run = attanet_ros(domain, "lifecycle", NODE, action)
        assert (run.returncode, run.stdout.strip()) == (0, f"{action}: done, {NODE} is {state}"), run.stderr
    run = attanet_ros(domain, "lifecycle", NODE, "shutdown")
    assert (run.returncode, run.stdout.strip()) == (0, f"shutdown: done, {NODE} is finalized"), run.stderr


def test_a_node_that_is_not_there_is_named(managed):
    domain, _, _ = managed
    run = attanet_ros(domain, "--timeout", "1", "lifecycle", "/no/such/node", "get")
    assert run.returncode == 2
    assert "no answer on /no/such/node/get_state within 1 s" in run.stderr


class _LosingClient:
    """A service client whose first ``lost`` answers never arrive (a Fast DDS answer sent before the node matched
    the client's response reader), then answers at once."""

    def __init__(self, lost: int, answer) -> None:
        self.lost, self.answer, self.asked = lost, answer, 0

    def call_async(self, request):
        from rclpy.task import Future

        self.asked += 1
        future = Future()
        if self.asked > self.lost:
            future.set_result(self.answer)
        return future


def test_an_idempotent_request_whose_answer_is_lost_is_asked_again(monkeypatch):
    from lifecycle_msgs.srv import ChangeState, GetState

    from attanet_ros.tools import ros_tools

    monkeypatch.setattr(ros_tools, "ANSWER_RETRY_S", 0.05)
    with ros_tools._Session(domain_for(2), timeout=5.0) as session:
        session._clients["/n/get_state"] = getting = _LosingClient(2, "inactive")
        assert session.call(GetState, "/n/get_state", GetState.Request(), idempotent=True) == "inactive"
        assert getting.asked == 3
        # a transition is asked once: its lost answer is an error, not a second transition
        session.timeout = 0.3
        session._clients["/n/change_state"] = changing = _LosingClient(1, "done")
        with pytest.raises(ros_tools.NodeNotAnswering, match="/n/change_state did not answer within 0.3 s"):
            session.call(ChangeState, "/n/change_state", ChangeState.Request())
        assert changing.asked == 1
