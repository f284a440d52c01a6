"""Before Qt starts: can a window be shown here? Missing xcb libraries, no display, offscreen without a screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import HIDDEN, RENAMED, write_folder, xcb_plugin_needing

from attanet_gui.qt_platform import (
    check_display,
    debian_packages,
    missing_libraries,
    parse_ldd_missing,
)

DATA = Path(__file__).parent / "data"


def desktop_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(extra)
    return env


def viewer(source: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attanet_cli", "viewer", "--source", str(source), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ldd_output_of_a_desktop_without_the_xcb_libraries():
    """`ldd libqxcb.so` as recorded on a Debian 12 machine without libxcb-icccm4/keysyms1/xinerama0."""
    missing = parse_ldd_missing((DATA / "ldd_libqxcb_debian12_missing_xcb.txt").read_text())
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"]  # each once
    assert debian_packages(missing) == ["libxcb-icccm4", "libxcb-keysyms1", "libxcb-xinerama0"]


def test_no_display_wayland_only_and_offscreen_are_told_apart():
    assert "DISPLAY and WAYLAND_DISPLAY are unset" in check_display(desktop_env()).problem
    wayland = check_display(desktop_env(WAYLAND_DISPLAY="wayland-0"))
    assert "XWayland" in wayland.problem and "QT_QPA_PLATFORM=wayland" in wayland.problem
    offscreen = check_display(desktop_env(QT_QPA_PLATFORM="offscreen"))
    assert offscreen.problem is None and not offscreen.visible
    nobody = check_display(desktop_env(DISPLAY=":231"))  # no X server on display 231
    if nobody.problem and "libraries" in nobody.problem:
        pytest.skip(f"this machine lacks xcb libraries itself: {nobody.problem}")
    assert nobody.problem.startswith("no X server answers on DISPLAY=:231")


@pytest.fixture
def plugin_copy(tmp_path) -> Path:
    return xcb_plugin_needing(tmp_path, HIDDEN, RENAMED)


def test_viewer_names_the_hidden_xcb_library_and_the_apt_command(tmp_path, plugin_copy):
    candidates = [Path(d) / HIDDEN.decode() for d in ("/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")]
    system_lib = next((path for path in candidates if path.exists()), None)
    shown = tmp_path / "shown"
    shown.mkdir()
    env = desktop_env(DISPLAY=":231", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin_copy))
    plugin = plugin_copy / "libqxcb.so"
    if system_lib is not None:  # the library present on the path: not reported
        (shown / RENAMED.decode()).symlink_to(system_lib)
        assert RENAMED.decode() not in missing_libraries(plugin, dict(env, LD_LIBRARY_PATH=str(shown)))
    assert RENAMED.decode() in missing_libraries(plugin, env)

    write_folder(tmp_path / "imgs", count=1, height=64, width=128)
    proc = viewer(tmp_path / "imgs", env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "Aborted" not in proc.stderr
    assert lines[0].startswith("attanet viewer: Qt's xcb platform plugin cannot load")
    assert "libxcb-xinerama.so.7" in lines[0] and "sudo apt-get install" in lines[0]
    assert "libxcb-xinerama0" in lines[0].split("apt-get install")[1]


def test_viewer_offscreen_without_a_screenshot_says_nothing_would_be_visible(tmp_path):
    write_folder(tmp_path / "imgs", count=1, height=64, width=128)
    proc = viewer(tmp_path / "imgs", desktop_env(QT_QPA_PLATFORM="offscreen"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "attanet viewer: QT_QPA_PLATFORM=offscreen draws the window nowhere: nothing would be visible; unset "
        "QT_QPA_PLATFORM to see the window on this desktop, or add --screenshot OUT.png to save one frame "
        "(or --record OUT.mp4 to record the overlay)"
    )
