"""Child processes the demo starts (the node, bag-play), each in its own process group, always stopped.

A ROS node spawns threads and, through Fast DDS, shared-memory segments; stopping it with
SIGINT lets rclpy shut down and release them. ``ProcessGroup`` escalates SIGINT -> SIGTERM ->
SIGKILL per child and is a context manager, so a failure or Ctrl-C in the demo still stops
every process it started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


class ManagedProcess:
    """One child in a new session (its own process group), output to a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.command, self.log_path = name, command, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.popen = subprocess.Popen(
            command,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGINT the group, then SIGTERM, then SIGKILL; returns the exit code."""
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if not self.running():
                break
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                break
            self.wait(wait_s)
        self._log.close()
        return self.popen.poll()


class ProcessGroup:
    """The demo's children; ``stop_all`` (and leaving the ``with`` block) stops them newest first."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env = log_dir, env
        self.children: list[ManagedProcess] = []

    def start(self, name: str, command: list[str]) -> ManagedProcess:
        child = ManagedProcess(name, command, self.env, self.log_dir / f"{name}.log")
        self.children.append(child)
        log.info("started %s (pid %d): %s", name, child.pid, " ".join(command))
        return child

    def stop_all(self) -> None:
        while self.children:
            child = self.children.pop()
            code = child.stop()
            log.info("stopped %s (exit %s)", child.name, code)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def _die_with_parent():
    """On Linux, a child that gets SIGTERM when the demo dies without cleaning up (SIGKILL, a crash).

    The ``with`` blocks handle every orderly exit; this covers the disorderly ones, so a node is
    never left running on its own. The libc lookup happens here, in the parent: between fork and
    exec the child only makes the one prctl call.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_parent_death_signal


class TerminateAsInterrupt:
    """Within the ``with`` block SIGTERM raises KeyboardInterrupt, so cleanup runs as for Ctrl-C."""

    def __enter__(self) -> TerminateAsInterrupt:
        self._previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    @staticmethod
    def _raise(signum, frame) -> None:
        raise KeyboardInterrupt


def wait_for(predicate, timeout: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())
