"""Finding the shipped config files (DDS profile, node parameters), and the DDS environment.

Between processes, Fast DDS's default transports lose large best-effort images (DESIGN.md:
2048x1024 at 30 Hz arrived 0 of 90); the shipped shared-memory profile delivers them. The
viewer and the demo set it (unless the user chose their own) before their first rclpy call,
and hand the same environment to the node they start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROFILE_NAME = "fastdds_shm.xml"
PARAMS_NAME = "attanet.yaml"
PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"


def shipped_config(name: str) -> Path | None:
    """``config/<name>`` from the source tree, or from an installed ``share/attanet_ros/config``."""
    import attanet_ros

    candidates = [
        Path(attanet_ros.__file__).resolve().parent.parent / "config" / name,
        Path(sys.prefix) / "share" / "attanet_ros" / "config" / name,
    ]
    return next((p for p in candidates if p.is_file()), None)


def shipped_dds_profile() -> Path | None:
    return shipped_config(PROFILE_NAME)


def use_shipped_dds_profile(env: dict[str, str] | None = None) -> Path | None:
    """Set the profile variable in ``env`` (default: this process) unless already set; returns the file used."""
    env = os.environ if env is None else env
    if env.get(PROFILE_VARIABLE):
        return Path(env[PROFILE_VARIABLE])
    profile = shipped_dds_profile()
    if profile is not None:
        env[PROFILE_VARIABLE] = str(profile)
    return profile
