"""``private_node``: a node in an rclpy context of its own, found by discovery in its domain only, and closed on
exit whatever happened inside."""

from __future__ import annotations

import pytest

from attanet_gui.ros_domain import lease_free_domain, nodes_named
from attanet_ros.common.ros_context import private_node


def test_a_private_node_is_discovered_in_its_own_domain_only_and_closed_on_exit():
    mine, other = lease_free_domain(start=0), lease_free_domain(start=0)
    try:
        with private_node("attanet_context_probe", mine.domain) as node:
            assert node.get_name() == "attanet_context_probe"
            assert node.context.ok()
            assert node.context.get_domain_id() == mine.domain
            assert nodes_named(mine.domain, "attanet_context_probe", wait_s=10.0) == ["/attanet_context_probe"]
            assert nodes_named(other.domain, "attanet_context_probe", wait_s=1.0) == []
        assert not node.context.ok()  # its context is shut down: nothing of it lingers in the process
        with pytest.raises(RuntimeError, match="inside"), private_node("attanet_context_probe", mine.domain) as node:
            raise RuntimeError("inside")
        assert not node.context.ok()
    finally:
        mine.release()
        other.release()
