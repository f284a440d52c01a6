"""Fast DDS's shared-memory files under /dev/shm: removing those of processes that are gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FASTDDS_CLI = Path(sys.prefix) / "tools" / "fastdds" / "fastdds.py"  # installed by the ros-fastdds wheel


def clean_fastdds_shm() -> subprocess.CompletedProcess | None:
    """Fast DDS's own ``fastdds shm clean``: removes the shared-memory ports and segments of processes that are gone.
    Tests kill ROS processes on purpose (SIGKILL mid-recording, a hung child); what such a process leaves
    can make a later participant on the same domain hang or miss messages (eProsima/Fast-DDS#1144, #2051).
    The files of live processes are locked, and kept. None where the wheel has no such tool."""
    if not FASTDDS_CLI.is_file():
        return None
    command = [sys.executable, str(FASTDDS_CLI), "shm", "clean"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
