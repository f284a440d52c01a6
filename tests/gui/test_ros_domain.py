"""The demo's own ROS domain: a domain with a participant on this machine, or held by another demo, is passed over."""

from __future__ import annotations

import socket

from attanet_gui.ros_domain import PREFERRED_DOMAINS, discovery_port, domain_in_use, lease_free_domain


def test_a_bound_discovery_port_or_a_held_lease_makes_the_demo_choose_another_domain():
    first = lease_free_domain(start=0)
    try:
        second = lease_free_domain(start=0)  # same starting point, as two demos whose pids collide
        assert second.domain != first.domain
        second.release()
        busy = PREFERRED_DOMAINS[(PREFERRED_DOMAINS.index(first.domain) + 1) % len(PREFERRED_DOMAINS)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as participant:  # what Fast DDS binds
            participant.bind(("0.0.0.0", discovery_port(busy, 1)))
            assert domain_in_use(busy)
            third = lease_free_domain(start=0)
            assert third.domain not in (first.domain, busy)
            third.release()
    finally:
        first.release()
