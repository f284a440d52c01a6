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

The lock files live in a private folder, ``<temp>/attanet-demo-<uid>`` (mode 0700), never directly
in a shared temp folder: there anyone can plant a symlink named like a lock file, and the demo,
run as root, would create or truncate whatever it points to. The folder is opened without
following links and refused unless it is a directory owned by this user that no one else may
write to; lock files are opened with ``O_NOFOLLOW`` (and ``O_EXCL`` when created).
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
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


class UnsafeLockFolder(RuntimeError):
    """The demo's lock folder is a link, someone else's, or writable by others; the message says which."""


class DomainLease:
    """A domain this process holds (an flock on its lock file) until ``release`` or exit."""

    def __init__(self, domain: int, lock_fd: int) -> None:
        self.domain = domain
        self._lock_fd: int | None = lock_fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None


def lock_folder_name(temp_root: str | Path | None = None) -> Path:
    """Where this user's domain locks live: ``<temp>/attanet-demo-<uid>`` (temp: ``tempfile.gettempdir()``)."""
    return Path(temp_root if temp_root is not None else tempfile.gettempdir()) / f"attanet-demo-{os.getuid()}"


def open_lock_folder(temp_root: str | Path | None = None) -> int:
    """A file descriptor of the private lock folder (created 0700 if missing), checked on the descriptor
    itself so that nothing can be swapped in between; UnsafeLockFolder says what is wrong and what to do."""
    folder = lock_folder_name(temp_root)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeLockFolder(f"cannot create the demo's lock folder {folder}: {exc.strerror}") from exc
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP: a symlink; ENOTDIR: a file
        what = "a symbolic link" if folder.is_symlink() else "not a folder"
        raise UnsafeLockFolder(_refusal(folder, what)) from exc
    info = os.fstat(fd)
    problem = None
    if info.st_uid != os.getuid():
        problem = f"owned by uid {info.st_uid}, not by this user ({os.getuid()})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    if problem is not None:
        os.close(fd)
        raise UnsafeLockFolder(_refusal(folder, problem))
    return fd


def _refusal(folder: Path, problem: str) -> str:
    return (
        f"the demo's lock folder {folder} is {problem}; it must be a private folder of this user (mode 700): "
        "remove it, or set TMPDIR to a folder only you can write to"
    )


def _try_lock(folder_fd: int, domain: int) -> int | None:
    """The locked file descriptor of ``domain``'s lock file, or None when another demo holds it or the
    name is not a plain file of ours (a planted link: O_NOFOLLOW refuses it, and nothing is created)."""
    name = f"domain_{domain}.lock"
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=folder_fd)
        except FileExistsError:  # lock files stay (deleting one would race with its next user)
            fd = os.open(name, flags, dir_fd=folder_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def lease_free_domain(start: int | None = None, temp_root: str | Path | None = None) -> DomainLease:
    """A domain no participant on this machine uses and no other demo holds: first of 215-232, then of 1-101,
    each range tried from a position derived from ``start`` (default: this process id), so demos started
    together spread out. ``temp_root``: where the private lock folder goes (default: the temp folder).
    Raises RuntimeError when every candidate is taken (UnsafeLockFolder when the lock folder is unsafe)."""
    start = os.getpid() if start is None else start
    folder_fd = open_lock_folder(temp_root)
    try:
        for candidates in (PREFERRED_DOMAINS, FALLBACK_DOMAINS):
            offset = start % len(candidates)
            for domain in candidates[offset:] + candidates[:offset]:
                lock_fd = _try_lock(folder_fd, domain)
                if lock_fd is None:
                    continue
                if domain_in_use(domain):
                    os.close(lock_fd)
                    continue
                return DomainLease(domain, lock_fd)
    finally:
        os.close(folder_fd)
    count = len(PREFERRED_DOMAINS) + len(FALLBACK_DOMAINS)
    raise RuntimeError(f"every ROS domain the demo may use ({count} of them) is in use on this machine")


def nodes_named(domain: int, name: str, wait_s: float = 2.0) -> list[str]:
    """Fully qualified names of the nodes called ``name`` in ``domain`` that discovery finds within ``wait_s``
    (returns as soon as one is seen; an empty list means none answered in that time)."""
    from attanet_ros.common.ros_context import private_node

    with private_node("attanet_demo_probe", domain) as probe:
        deadline = time.monotonic() + wait_s
        while True:
            found = [f"{ns.rstrip('/')}/{node}" for node, ns in probe.get_node_names_and_namespaces() if node == name]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
