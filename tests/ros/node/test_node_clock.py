"""The node on simulated time (use_sim_time): /diagnostics keeps coming before any /clock, and says so."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import NodeProcess, RosClient, diagnostics_values, domain_for
from rosgraph_msgs.msg import Clock


def test_sim_time_without_clock_still_publishes_diagnostics_and_says_why():
    """With use_sim_time and no /clock, a timer on ROS time never fires: the node used to publish no
    /diagnostics at all. It reports on a steady timer, WARN naming the missing /clock, until one comes."""
    domain = domain_for(2)
    node = NodeProcess(domain, params={"use_sim_time": True, "diagnostics_period": 0.5, "warmup": False})
    client = RosClient(domain)
    try:
        diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
        client.wait_for(lambda: diagnostics or node.proc.poll() is not None, 90, "/diagnostics without /clock")
        assert node.proc.poll() is None, node.output()
        values = diagnostics_values(diagnostics[-1])
        assert values["_level"] == 1 and values["use_sim_time"] == "true" and values["sim_clock"] == "no /clock yet"
        assert values["_message"].startswith("use_sim_time is true but no /clock has arrived")

        clock = client.publisher(Clock, "/clock")
        start = len(diagnostics)

        def running() -> bool:
            clock.publish(Clock(clock=Time(sec=100)))
            return any(diagnostics_values(d).get("sim_clock") == "running" for d in diagnostics[start:])

        client.wait_for(running, 30, "/diagnostics once /clock arrives")
        values = next(
            diagnostics_values(d) for d in diagnostics[start:] if diagnostics_values(d)["sim_clock"] == "running"
        )
        assert "/clock" not in values["_message"]
    finally:
        client.close()
        rc = node.stop()
    assert rc == 0, node.output()
