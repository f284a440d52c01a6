"""A ROS domain of the demo's own: found free, held for its lifetime, and checked for other AttaNet nodes.

Two demos (or a demo and a node someone started) in one domain hear each other: the second
demo's subscriber pairs the first one's frames and scores nothing. The demo therefore runs in a
domain nobody on this machine uses, with discovery limited to localhost so other machines'
traffic stays out too.

"In use" is read from the UDP ports Fast DDS binds (RTPS spec 9.6.1.1 well-known ports, Fast DDS
defaults PB=7400, DG=250, PG=2, d1=10): participant ``i`` of domain ``d`` receives discovery
traffic on port ``7400 + 250*d + 10 + 2*i``, bound exclusively, so a port that cannot be bound
means a participant of that domain runs on this host. Between two demos starting at the same
moment a lock file per domain decides, since neither has bound a port yet.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import time
from pathlib import Path

# ROS 2's advice for Linux: domains 0-101 and 215-232 stay clear of the ephemeral port range.
# The demo tries 215-232 first (test suites and users tend to pick small numbers), then 1-101.
PREFERRED_DOMAINS = tuple(range(215, 233))
FALLBACK_DOMAINS = tuple(range(1, 102))
PARTICIPANTS_CHECKED = 8  # participants 0..7 of a domain; one more than a busy demo runs


def discovery_port(domain: int, participant: int) -> int:
    """Fast DDS's unicast discovery (metatraffic) port of a participant."""
    return 7400 + 250 * domain + 10 + 2 * participant


def domain_in_use(domain: int) -> bool:
    """Whether some DDS participant of ``domain`` runs on this machine (one of its discovery ports is bound)."""
    for participant in range(PARTICIPANTS_CHECKED):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", discovery_port(domain, participant)))
            except OSError:
                return True
    return False


class DomainLease:
    """A domain this process holds (a lock file under the temp folder) until ``release`` or exit."""

    def __init__(self, domain: int, lock_file) -> None:
        self.domain = domain
        self._lock_file = lock_file

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the flock
            self._lock_file = None


def _try_lock(domain: int):
    path = Path(tempfile.gettempdir()) / f"attanet_demo_domain_{domain}.lock"
    try:
        lock_file = open(path, "a")  # noqa: SIM115 (held open by the lease)
    except OSError:  # another user's lock file: treat the domain as theirs
        return None
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        return None
    return lock_file


def lease_free_domain(start: int | None = None) -> DomainLease:
    """A domain no participant on this machine uses and no other demo holds: first of 215-232, then of 1-101,
    each range tried from a position derived from ``start`` (default: this process id), so demos started
    together spread out. Raises RuntimeError when every candidate is taken."""
    start = os.getpid() if start is None else start
    for candidates in (PREFERRED_DOMAINS, FALLBACK_DOMAINS):
        offset = start % len(candidates)
        for domain in candidates[offset:] + candidates[:offset]:
            lock_file = _try_lock(domain)
            if lock_file is None:
                continue
            if domain_in_use(domain):
                lock_file.close()
                continue
            return DomainLease(domain, lock_file)
    count = len(PREFERRED_DOMAINS) + len(FALLBACK_DOMAINS)
    raise RuntimeError(f"every ROS domain the demo may use ({count} of them) is in use on this machine")


def nodes_named(domain: int, name: str, wait_s: float = 2.0) -> list[str]:
    """Fully qualified names of the nodes called ``name`` in ``domain`` that discovery finds within ``wait_s``
    (returns as soon as one is seen; an empty list means none answered in that time)."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=domain, args=[])
    try:
        probe = rclpy.create_node("attanet_demo_probe", context=context, start_parameter_services=False)
        deadline = time.monotonic() + wait_s
        while True:
            found = [f"{ns.rstrip('/')}/{node}" for node, ns in probe.get_node_names_and_namespaces() if node == name]
            if found or time.monotonic() > deadline:
                probe.destroy_node()
                return found
            time.sleep(0.1)
    finally:
        rclpy.shutdown(context=context)
