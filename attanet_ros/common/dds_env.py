"""The node's Fast DDS transport when the user set none: the shipped shared-memory profile.

Fast DDS's stock transports (a 0.5 MiB shared-memory segment, then UDP fragments) never
delivered a 512x1024 bgr8 frame between two processes here, and nothing says so. Fast DDS
reads its profile when the first participant is created, so ``use_shipped_profile`` must run
before ``rclpy.init``. A user's own ``FASTDDS_DEFAULT_PROFILES_FILE`` (or the deprecated
``FASTRTPS_...`` name, or ``FASTDDS_BUILTIN_TRANSPORTS``) is always left alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
USER_SETTINGS = (PROFILE_VARIABLE, "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS")
PROFILE_NAME = "fastdds_shm.xml"
SHM_SEGMENT_BYTES = 64 * 1024 * 1024  # config/fastdds_shm.xml's segment_size


def shipped_profile() -> Path | None:
    """``config/fastdds_shm.xml`` from the installed package's share folder or the source tree."""
    here = Path(__file__).resolve().parent
    candidates = [Path(sys.prefix) / "share" / "attanet_ros" / "config" / PROFILE_NAME]
    candidates += [Path(p) / "share" / "attanet_ros" / "config" / PROFILE_NAME for p in _ament_prefixes()]
    candidates.append(here.parents[1] / "config" / PROFILE_NAME)  # the source tree: attanet_ros/common/ -> repo
    return next((p for p in candidates if p.is_file()), None)


def _ament_prefixes() -> list[str]:
    return [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def transport_setting(env: MutableMapping[str, str] | None = None) -> str:
    """What decides this process's Fast DDS transports, in words (for the log and diagnostics)."""
    env = os.environ if env is None else env
    for name in USER_SETTINGS:
        if env.get(name):
            return f"{name}={env[name]}"
    return "Fast DDS stock transports"


def use_shipped_profile(env: MutableMapping[str, str] | None = None, rmw: str | None = None) -> Path | None:
    """Point ``FASTDDS_DEFAULT_PROFILES_FILE`` at the shipped profile unless the user chose their
    transports (or another RMW); returns the profile set, None when nothing was changed."""
    env = os.environ if env is None else env
    rmw = env.get("RMW_IMPLEMENTATION", "") if rmw is None else rmw
    if any(env.get(name) for name in USER_SETTINGS) or (rmw and "fastrtps" not in rmw):
        return None
    profile = shipped_profile()
    if profile is not None:
        env[PROFILE_VARIABLE] = str(profile)
    return profile


def camera_side_fix(profile: Path | None = None) -> str:
    """The sentence that tells a user how to make their camera's frames reach the node."""
    profile = profile or shipped_profile() or Path("config") / PROFILE_NAME
    return (
        f"start the camera driver with export {PROFILE_VARIABLE}={profile} (with stock Fast DDS settings on the "
        "camera side, frames of 512x1024 and larger arrive partly or never, reliable or best effort, and "
        "FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA did not help: docs/ROS.md); a frame larger than the profile's "
        "64 MiB shared-memory segment never arrives, so raise its segment_size for such frames"
    )
