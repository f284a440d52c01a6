"""The demo's own ROS domain: a domain with a participant on this machine, or held by another demo, is passed over."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from attanet_gui.ros_domain import (
    PREFERRED_DOMAINS,
    UnsafeLockFolder,
    discovery_port,
    domain_in_use,
    lease_free_domain,
    lock_folder_name,
)


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


def _shared_temp(tmp_path):
    """A world-writable, sticky temp folder like /tmp, where anyone may plant names."""
    root = tmp_path / "shared_tmp"
    root.mkdir()
    root.chmod(0o1777)
    return root


def test_a_link_planted_where_a_lock_file_would_be_is_neither_followed_nor_created(tmp_path):
    """The demo, as root, created the target of a symlink planted in a world-writable TMPDIR."""
    root = _shared_temp(tmp_path)
    victim = tmp_path / "victim"
    for domain in PREFERRED_DOMAINS:  # the names the lock files had, straight in the temp folder
        (root / f"attanet_demo_domain_{domain}.lock").symlink_to(victim / f"{domain}")
    folder = lock_folder_name(root)
    folder.mkdir(mode=0o700)
    planted = folder / f"domain_{PREFERRED_DOMAINS[0]}.lock"  # even inside the private folder
    planted.symlink_to(victim / "inside")
    lease = lease_free_domain(start=0, temp_root=root)
    try:
        assert lease.domain != PREFERRED_DOMAINS[0]  # the planted name is skipped, the lease still works
        assert not victim.exists()
        lock = folder / f"domain_{lease.domain}.lock"
        assert lock.is_file() and not lock.is_symlink() and oct(os.stat(lock).st_mode & 0o777) == "0o600"
        assert oct(os.stat(folder).st_mode & 0o777) == "0o700"
    finally:
        lease.release()


def _refused(root) -> str:
    with pytest.raises(UnsafeLockFolder) as caught:
        lease_free_domain(start=0, temp_root=root)
    return str(caught.value)


def test_a_lock_folder_that_is_a_link_someone_elses_or_writable_by_others_is_refused(tmp_path):
    root = _shared_temp(tmp_path)
    folder = lock_folder_name(root)
    victim = tmp_path / "victim_dir"
    folder.symlink_to(victim)
    assert _refused(root) == (
        f"the demo's lock folder {folder} is a symbolic link; it must be a private folder of this user (mode 700): "
        "remove it, or set TMPDIR to a folder only you can write to"
    )
    assert not victim.exists()
    folder.unlink()
    folder.mkdir()
    folder.chmod(0o777)
    assert "is writable by others (mode 777)" in _refused(root)
    assert list(folder.iterdir()) == []
    if os.geteuid() == 0:  # only root can hand a folder to another user
        folder.chmod(0o700)
        os.chown(folder, 65534, 65534)
        assert f"is owned by uid 65534, not by this user ({os.getuid()})" in _refused(root)


def test_the_demo_refuses_a_planted_lock_folder_in_one_line(tmp_path):
    root = _shared_temp(tmp_path)
    victim = tmp_path / "victim_dir"
    lock_folder_name(root).symlink_to(victim)
    done = subprocess.run(
        [sys.executable, "-m", "attanet_cli", "demo", "--headless", "--out", str(tmp_path / "out"), "--no-progress"],
        env=dict(os.environ, TMPDIR=str(root)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"attanet demo: the demo's lock folder {lock_folder_name(root)} is a symbolic link")
    assert not victim.exists()
