"""The managed node in its own process, driven through the standard lifecycle services over real DDS."""

from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from ros_harness import CAMERA, NODE, NodeProcess, RosClient, diagnostics_values, domain_for, stamp_ns, street_image
from sensor_msgs.msg import Image

MODULE = "attanet_ros.node.lifecycle_node"
PARAMS = {"mode": "replay", "outputs": ["labels"], "diagnostics_period": 0.3, "warmup_height": 64, "warmup_width": 128}


class Lifecycle:
    """The test's client of the node's ~/change_state and ~/get_state."""

    def __init__(self, client: RosClient) -> None:
        self.client = client
        self.change = client.node.create_client(ChangeState, f"{NODE}/change_state")
        self.get = client.node.create_client(GetState, f"{NODE}/get_state")
        client.wait_for(
            lambda: self.change.service_is_ready() and self.get.service_is_ready(), 60, "lifecycle services"
        )
        # "ready" says our requests reach the node, not that its answers reach us: Fast DDS drops an answer sent
        # before the node has matched this client's response reader ("failed to send response (timeout)", as
        # Nav2 sees at start-up). get_state changes nothing, so it is asked again until one answer arrives.
        deadline = time.monotonic() + 60
        while not self._answered(GetState.Request(), 2.0):
            assert time.monotonic() < deadline, f"{self.get.srv_name} never answered"

    def _answered(self, request, timeout_s: float) -> bool:
        future = self.get.call_async(request)
        self.client.executor.spin_until_future_complete(future, timeout_sec=timeout_s)
        return future.done()

    def _call(self, service, request):
        future = service.call_async(request)
        self.client.executor.spin_until_future_complete(future, timeout_sec=120)  # configure loads the model
        assert future.done(), f"{service.srv_name} got no answer"
        return future.result()

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label


@pytest.fixture(scope="module")
def domain():
    return domain_for(4)


@pytest.fixture
def started(domain):
    nodes: list[NodeProcess] = []
    client = RosClient(domain)

    def start(params):
        nodes.append(NodeProcess(domain, params=params, module=MODULE))
        return nodes[-1], Lifecycle(client)

    try:
        yield client, start
    finally:
        client.close()
        for node in nodes:
            rc = node.stop()
            print(node.output())
            assert rc == 0, f"node exited with {rc}"


def test_labels_only_while_active_and_counters_kept_across_deactivate(started):
    client, start = started
    node, lifecycle = start(PARAMS)
    assert lifecycle.state() == "unconfigured"
    assert not client.node.count_publishers(f"{NODE}/labels")
    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "inactive"
    labels = client.subscribe(Image, f"{NODE}/labels")
    diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
    client.wait_for_node_subscribers(f"{NODE}/labels", 1)  # configured: publishers exist
    pub = client.publisher(Image, CAMERA)
    client.wait_for(lambda: diagnostics, 10, "/diagnostics while inactive")
    assert diagnostics_values(diagnostics[-1])["_message"].startswith("inactive")
    assert pub.get_subscription_count() == 0  # inactive: no input subscription, so no frame reaches it
    before = client.image(street_image(64, 128), frame_id="before_activate")
    pub.publish(before)

    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == "active"
    client.wait_for_match(pub)
    first = client.image(street_image(64, 128, seed=1), frame_id="active_1")
    pub.publish(first)
    client.wait_for(lambda: any(m.header.frame_id == "active_1" for m in labels), 30, "labels while active")

    assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.state() == "inactive"
    client.wait_for(lambda: pub.get_subscription_count() == 0, 30, "the node to unsubscribe")
    pub.publish(client.image(street_image(64, 128, seed=2), frame_id="inactive"))
    client.spin(0.5)

    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    client.wait_for_match(pub)
    second = client.image(street_image(64, 128, seed=3), frame_id="active_2")
    pub.publish(second)
    client.wait_for(lambda: any(m.header.frame_id == "active_2" for m in labels), 30, "labels after re-activation")
    assert [m.header.frame_id for m in labels] == ["active_1", "active_2"]
    assert [stamp_ns(m.header) for m in labels] == [stamp_ns(first.header), stamp_ns(second.header)]

    def counted_both(array):
        values = diagnostics_values(array)
        return values["frames_processed"] == "2"

    client.wait_for(lambda: any(counted_both(d) for d in diagnostics), 10, "diagnostics counting both active frames")
    values = next(diagnostics_values(d) for d in reversed(diagnostics) if counted_both(d))
    assert values["frames_received"] == "2"  # kept across deactivate; nothing counted while inactive

    assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.transition(Transition.TRANSITION_CLEANUP)
    assert lifecycle.state() == "unconfigured"
    client.wait_for(lambda: not client.node.count_publishers(f"{NODE}/labels"), 30, "cleanup to remove the publishers")
    assert "cleaned up: model freed" in node.output()

    # configure again after cleanup: a fresh model, run-time parameters still checked and applied
    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    (accepted,) = client.set_parameters(overlay_alpha=0.3)
    (refused,) = client.set_parameters(overlay_alpha=3.0)
    assert accepted.successful and not refused.successful and "must be in [0, 1]" in refused.reason
    client.wait_for_match(pub)
    pub.publish(client.image(street_image(64, 128, seed=4), frame_id="reconfigured"))
    client.wait_for(lambda: any(m.header.frame_id == "reconfigured" for m in labels), 30, "labels after reconfigure")
    assert node.output().count("set overlay_alpha=0.3") == 1  # one engine's callback, not one per configure
    assert lifecycle.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)  # shutdown straight from active
    assert lifecycle.state() == "finalized"


def test_a_bad_model_path_fails_configure_with_the_reason_and_the_node_stays_unconfigured(started):
    _, start = started
    node, lifecycle = start({**PARAMS, "model_path": "/no/such/model.pt"})
    assert lifecycle.state() == "unconfigured"  # the process is up; nothing loaded yet
    assert not lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "unconfigured"
    assert "configure failed: cannot load the model: model file not found: /no/such/model.pt" in node.output()
    assert "Traceback" not in node.output()
    assert lifecycle.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert lifecycle.state() == "finalized"


def test_bad_parameters_fail_configure_naming_every_problem(domain, capfd):
    """In this process (a real rclpy lifecycle node, transitions triggered directly): the parameter
    checks run at configure, on the values at that moment, so a managed node reports them there
    rather than dying at construction."""
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from attanet_ros.node.lifecycle_node import AttanetLifecycleNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        bad = [Parameter("overlay_alpha", value=2.0), Parameter("mode", value="fast")]
        node = AttanetLifecycleNode(context=context, parameter_overrides=bad)
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.engine is None
        # still unconfigured: activate is not a transition from there, configure is
        assert node.trigger_activate() == TransitionCallbackReturn.ERROR
        (refused,) = node.set_parameters([Parameter("overlay_alpha", value=3.0)])
        (accepted,) = node.set_parameters([Parameter("overlay_alpha", value=0.4)])
        assert not refused.successful and "overlay_alpha=3.0 must be in [0, 1]" in refused.reason
        assert accepted.successful
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # mode is read-only: still wrong
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    first, second = [line for line in capfd.readouterr().err.splitlines() if "configure failed" in line]
    assert "configure failed: parameter overlay_alpha=2.0 must be in [0, 1]; parameter mode='fast'" in first
    assert "overlay_alpha" not in second and "parameter mode='fast' must be one of ['live', 'replay']" in second
