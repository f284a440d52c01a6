"""`attanet viewer --screenshot` / `--record` on a full or read-only disk: one line, exit 2, no file.

Before: a screenshot into a read-only folder raised inside a Qt timer (SIGABRT, traceback), and a
recording to a full disk ended with exit 0 and a video file without its index.
"""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest
from gui_helpers import write_folder
from storage_faults import files_under, full_disk, read_only_folder


def viewer(*args, model) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attanet_cli", "viewer", "--model", str(model), "--threads", "1", *map(str, args)],
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    write_folder(folder, count=2, height=128, width=256)
    return folder


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_screenshot_that_cannot_be_written_is_one_line_exit_2(tmp_path, frames, model_path, fault):
    disk = tmp_path / "disk"
    with full_disk(disk) if fault == "full" else read_only_folder(disk):
        done = viewer("--source", frames, "--screenshot", disk / "shots" / "shot.png", model=model_path)
        left = files_under(disk)
    line = _one_line(done)
    cause = "no space left on" if fault == "full" else f"{disk} is on a read-only file system"
    assert line.startswith("attanet viewer: cannot ") and str(disk / "shots") in line and cause in line, line
    assert left == {}


def test_a_recording_to_a_full_disk_is_one_line_exit_2_and_leaves_no_video(tmp_path, frames, model_path):
    disk = tmp_path / "disk"
    shot = tmp_path / "shot.png"  # the screenshot ends the run after the first frame; it has room
    with full_disk(disk):
        done = viewer("--source", frames, "--screenshot", shot, "--record", disk / "overlay.mp4", model=model_path)
        left = files_under(disk)
    line = _one_line(done)
    assert line == (
        f"attanet viewer: cannot write {disk / 'overlay.mp4'}: no space left on {disk} (the disk is full); "
        "free some space or write to another folder"
    )
    assert left == {} and cv2.imread(str(shot)) is not None


def test_a_recording_into_a_read_only_folder_is_refused_before_the_window_opens(tmp_path, frames, model_path):
    disk = tmp_path / "disk"
    with read_only_folder(disk):
        done = viewer(
            "--source", frames, "--screenshot", tmp_path / "shot.png", "--record", disk / "o.mp4", model=model_path
        )
    line = _one_line(done)
    assert line.startswith(f"attanet viewer: cannot write {disk / 'o.mp4'}: {disk} is on a read-only file system")
    assert not (tmp_path / "shot.png").exists()


def test_a_recording_with_room_is_the_frames_shown(tmp_path, frames, model_path):
    video = tmp_path / "videos" / "overlay.avi"
    done = viewer("--source", frames, "--screenshot", tmp_path / "shot.png", "--record", video, model=model_path)
    assert done.returncode == 0, done.stderr
    capture = cv2.VideoCapture(str(video))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 1
    capture.release()
    assert files_under(tmp_path / "videos") == {"overlay.avi": video.stat().st_size}


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_a_video_cut_short_by_a_full_disk_is_refused_at_close(tmp_path, suffix):
    """The writer opens and takes frames, the disk fills half-way: OpenCV says nothing, close does."""
    import numpy as np

    from attanet_gui.recorder import VideoRecorder
    from attanet_model.atomic_write import OutputError

    noise = np.random.default_rng(0).integers(0, 256, (20, 128, 256, 3), np.uint8)  # ~30 kB a frame, any codec
    disk = tmp_path / "disk"
    with full_disk(disk, free_bytes=64 * 1024):
        recorder = VideoRecorder(disk / f"drive{suffix}", fps=5)
        for frame in noise:
            recorder.write(frame)
        with pytest.raises(OutputError, match=f"cannot write {disk / f'drive{suffix}'}: no space left on {disk}"):
            recorder.close()
        left = files_under(disk)
    assert left == {}
    with VideoRecorder(tmp_path / f"room{suffix}", fps=5) as recorder:  # the same with room: whole
        for frame in noise:
            recorder.write(frame)
    assert files_under(tmp_path) == {f"room{suffix}": (tmp_path / f"room{suffix}").stat().st_size}


def test_the_viewer_tunes_glibc_for_frames_first(monkeypatch, tmp_path):
    """Like the node: camera-size frames and overlays every frame, so the same glibc thresholds are set before
    anything is read (here the command is then refused for its --screenshot suffix, exit 2)."""
    from attanet_gui import cli

    calls = []
    monkeypatch.setattr(cli, "tune_for_frames", lambda: calls.append(True) or "tuned")
    assert cli.viewer_main(["--source", str(tmp_path), "--screenshot", str(tmp_path / "shot.gif")]) == 2
    assert calls == [True]
