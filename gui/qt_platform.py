"""Can Qt open a visible window here? Answered before any QApplication exists, in words a user can act on.

Qt decides this inside ``QApplication()`` and, when it cannot, aborts the process (SIGABRT, exit
134) with a generic "could not load the Qt platform plugin "xcb" ... even though it was found".
The two usual causes on Linux desktops and containers:

- PyQt5's wheel bundles Qt but not the X11 client libraries its xcb plugin links against
  (``libxcb-icccm4``, ``libxcb-keysyms1``, ``libxcb-xinerama0``, ... are missing on minimal
  Debian/Ubuntu installs). ``ldd`` on the plugin names them; this module maps them to packages.
- no X server: ``DISPLAY`` unset, or set to a display nobody serves.

This module imports nothing from Qt (importing PyQt5's modules is safe, but the check must also
run where Qt's libraries cannot load at all).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Qt 5's default platform on Linux when QT_QPA_PLATFORM is unset.
DEFAULT_PLATFORM = "xcb"
# Platforms that draw into memory only: a window there is never seen.
INVISIBLE_PLATFORMS = ("offscreen", "minimal", "minimalegl")

# Library name (without the .so version) -> the Debian/Ubuntu package that ships it: every system
# library PyQt5 5.15's libqxcb.so (and libQt5XcbQpa.so.5 below it) needs, from `ldd` on the plugin.
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-icccm": "libxcb-icccm4",
    "libxcb-keysyms": "libxcb-keysyms1",
    "libxcb-xinerama": "libxcb-xinerama0",
    "libxcb-image": "libxcb-image0",
    "libxcb-render-util": "libxcb-render-util0",
    "libxcb-randr": "libxcb-randr0",
    "libxcb-shape": "libxcb-shape0",
    "libxcb-sync": "libxcb-sync1",
    "libxcb-xfixes": "libxcb-xfixes0",
    "libxcb-xkb": "libxcb-xkb1",
    "libxcb-shm": "libxcb-shm0",
    "libxcb-render": "libxcb-render0",
    "libxcb-util": "libxcb-util1",
    "libxcb": "libxcb1",
    "libX11-xcb": "libx11-xcb1",
    "libX11": "libx11-6",
    "libXext": "libxext6",
    "libxkbcommon-x11": "libxkbcommon-x11-0",
    "libxkbcommon": "libxkbcommon0",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libGL": "libgl1",
    "libdbus-1": "libdbus-1-3",
    "libglib-2.0": "libglib2.0-0",
    "libgthread-2.0": "libglib2.0-0",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


@dataclass(frozen=True)
class DisplayCheck:
    """What ``QApplication()`` would do here: which platform, whether its windows can be seen, and,
    when it cannot start at all, ``problem`` (what is wrong and how to fix that; callers add their
    own way around it, such as rendering offscreen)."""

    platform: str
    visible: bool
    problem: str | None = None


def qt_platform(env: Mapping[str, str]) -> str:
    """The platform plugin Qt will load: the first entry of ``QT_QPA_PLATFORM`` (options after ':'
    and fallbacks after ';' stripped), else Qt 5's default ``xcb``."""
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    return requested.split(";")[0].split(":")[0].strip() or DEFAULT_PLATFORM


def platform_plugin(platform: str, env: Mapping[str, str]) -> Path | None:
    """The plugin file Qt would load for ``platform``, searched where Qt searches: the folder in
    ``QT_QPA_PLATFORM_PLUGIN_PATH``, the ``platforms`` folders of ``QT_PLUGIN_PATH``, then PyQt5's own."""
    folders = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    folders += [Path(p) / "platforms" for p in env.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("PyQt5")
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "Qt5" / "plugins" / "platforms" for p in spec.submodule_search_locations]
    name = f"libq{platform}.so"
    return next((folder / name for folder in folders if (folder / name).is_file()), None)


def parse_ldd_missing(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``not found`` (each once, in the order ldd lists them)."""
    missing: list[str] = []
    for line in ldd_output.splitlines():
        match = _NOT_FOUND.match(line)
        if match and match.group(1) not in missing:
            missing.append(match.group(1))
    return missing


def missing_libraries(library: Path, env: Mapping[str, str]) -> list[str] | None:
    """Shared libraries ``library`` needs (directly or through its dependencies) that the dynamic
    loader cannot find with this environment's ``LD_LIBRARY_PATH``; None when ``ldd`` is unavailable."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        result = subprocess.run([ldd, str(library)], env=dict(env), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_ldd_missing(result.stdout)


def debian_packages(libraries: list[str]) -> list[str]:
    """The Debian/Ubuntu packages that provide ``libraries`` (sonames), each once; unknown ones are left out."""
    packages: list[str] = []
    for library in libraries:
        stem = library.split(".so")[0]
        package = DEBIAN_PACKAGES.get(stem)
        if package is not None and package not in packages:
            packages.append(package)
    return packages


def missing_libraries_problem(platform: str, missing: list[str]) -> str:
    """One sentence: which libraries are missing and the apt-get command that installs them."""
    packages = debian_packages(missing)
    unknown = [lib for lib in missing if lib.split(".so")[0] not in DEBIAN_PACKAGES]
    fix = f"install them with: sudo apt-get install {' '.join(packages)}" if packages else "install them"
    if unknown:
        fix += f" (and the packages providing {', '.join(unknown)}; `apt-file search NAME` finds them)"
    names = ", ".join(missing)
    return f"Qt's {platform} platform plugin cannot load: the system libraries {names} are missing; {fix}"


def x_display_reachable(display: str) -> bool | None:
    """Whether an X server accepts connections on a local ``DISPLAY`` (``:N`` or ``unix:N``); None when it
    cannot be told from here (a remote or forwarded display such as ``localhost:10.0``)."""
    match = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display.strip())
    if match is None:
        return None
    path = f"/tmp/.X11-unix/X{match.group(1)}"
    for address in (path, "\0" + path):  # the socket file, then Linux's abstract socket of the same name
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2.0)
            try:
                probe.connect(address)
                return True
            except OSError:
                continue
    return False


def check_display(env: Mapping[str, str] | None = None) -> DisplayCheck:
    """Whether Qt can open a window with this environment (default: this process's), and why not."""
    env = os.environ if env is None else env
    platform = qt_platform(env)
    if platform in INVISIBLE_PLATFORMS:
        return DisplayCheck(platform, visible=False)
    if platform.startswith("wayland"):
        if not env.get("WAYLAND_DISPLAY"):
            return DisplayCheck(
                platform,
                True,
                f"QT_QPA_PLATFORM={platform} but WAYLAND_DISPLAY is unset: no Wayland compositor to "
                "show a window on; run it in your desktop session",
            )
        return DisplayCheck(platform, visible=True)
    if platform != "xcb":
        return DisplayCheck(platform, visible=True)  # eglfs, linuxfb, vnc ...: the user chose it knowingly
    display = env.get("DISPLAY", "")
    if not display:
        if env.get("WAYLAND_DISPLAY"):
            problem = (
                "DISPLAY is unset but WAYLAND_DISPLAY is set: Qt 5 draws through X11 (xcb) by default; enable "
                "XWayland in your desktop, or set QT_QPA_PLATFORM=wayland"
            )
        else:
            problem = "no display: DISPLAY and WAYLAND_DISPLAY are unset; run it on a desktop (or through `ssh -X`)"
        return DisplayCheck(platform, True, problem)
    plugin = platform_plugin(platform, env)
    if plugin is None:
        return DisplayCheck(
            platform, True, "PyQt5 has no xcb platform plugin (libqxcb.so) here; reinstall it: pip install PyQt5"
        )
    missing = missing_libraries(plugin, env)
    if missing:
        return DisplayCheck(platform, True, missing_libraries_problem(platform, missing))
    if x_display_reachable(display) is False:
        return DisplayCheck(
            platform,
            True,
            f"no X server answers on DISPLAY={display}; start one, or fix DISPLAY",
        )
    return DisplayCheck(platform, visible=True)
