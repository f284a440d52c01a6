"""Helpers shared by the bag-tool tests (constants, running the CLI in-process, child-process env)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from attanet_cli import main as attanet

REPO = Path(__file__).resolve().parents[3]
FRAMES, HEIGHT, WIDTH = 6, 128, 256
START_S = 1_700_000_000  # first stamp of the bags made here
RATE_HZ = 10.0
IMAGE_TOPIC, LABEL_TOPIC, INFO_TOPIC = "/camera/image_raw", "/camera/gt_labels", "/camera/camera_info"


def stamp_of(i: int) -> int:
    return START_S * 1_000_000_000 + round(i * 1e9 / RATE_HZ)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``attanet <argv>`` in this process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = attanet([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv) -> tuple[int, dict, str]:
    code, out, err = run_cli(capsys, *argv, "--json")
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON (exit {code}):\n{out}\nstderr:\n{err}") from exc


def ros_env(domain_id: int) -> dict[str, str]:
    """Environment for a child process on its own ROS domain with the shipped shared-memory profile."""
    env = dict(os.environ)
    env.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    profile = REPO / "config" / "fastdds_shm.xml"
    if profile.is_file():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    return env


def run_traced(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True)``, except that a child still running after
    ``timeout`` is made to print every thread's Python stack (faulthandler on SIGABRT) and the test fails
    with them: a hang says where it hung instead of only that it did."""
    env = {**(kwargs.pop("env", None) or os.environ), "PYTHONFAULTHANDLER": "1"}
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            try:
                out, err = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            pytest.fail(f"{shlex.join(cmd)} was still running after {timeout:g} s; its threads:\n{err[-8000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def attanet_command(*argv) -> list[str]:
    """The ``attanet`` command line for a child process (the venv's Python, no installed script needed)."""
    return [sys.executable, "-c", "import sys, attanet_cli; sys.exit(attanet_cli.main())", *map(str, argv)]


def assert_same_scores(got: dict, want: dict) -> None:
    """Scores equal to the last bit: same frames, same model, same accumulator."""
    assert got["miou"] == want["miou"], (got["miou"], want["miou"])
    assert got["pixel_acc"] == want["pixel_acc"]
    assert got["iou"] == want["iou"]
    assert np.isfinite(got["miou"])


CUSTOM_CLASSES_YAML = """classes:
  - {name: background, color: [0, 0, 0], value: 0}
  - {name: floor, color: [128, 64, 128], value: 1}
  - {name: obstacle, color: [220, 20, 60], value: 2}
"""


def write_custom_dataset(root: Path, splits: dict[str, int], height: int = 64, width: int = 96, seed: int = 0) -> Path:
    """A custom-layout folder (images/<split>, labels/<split>, classes.yaml) of easy scenes: background
    above, floor below, one obstacle box, each with its own colour plus noise."""
    import cv2

    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(count):
            labels = np.zeros((height, width), np.uint8)
            labels[height // 2 :] = 1
            y, x = rng.integers(height // 4, height // 2), rng.integers(0, width - width // 4)
            labels[y : y + height // 4, x : x + width // 4] = 2
            palette = np.array([(200, 160, 90), (90, 90, 90), (40, 40, 220)], np.int16)  # BGR per class
            noise = rng.integers(-25, 26, (height, width, 3))
            image = np.clip(palette[labels] + noise, 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / "images" / split / f"f{i:03d}.png"), image)
            cv2.imwrite(str(root / "labels" / split / f"f{i:03d}.png"), labels)
    (root / "classes.yaml").write_text(CUSTOM_CLASSES_YAML)
    return root


PROBE = Path(__file__).with_name("subscriber_probe.py")


class Probe:
    """subscriber_probe.py as a child process; lines are read as they come."""

    def __init__(self, domain_id: int, topic: str, count: int, timeout: float, ros_args: tuple = ()) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(PROBE),
                topic,
                str(count),
                str(timeout),
                *(("--ros-args", *ros_args) if ros_args else ()),
            ],
            env=ros_env(domain_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.readline(30) == "ready", self.proc.stderr.read() if self.proc.poll() is not None else ""

    def readline(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if line:
                return line.strip()
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"probe said nothing for {timeout} s (exit {self.proc.poll()})")

    def result(self, timeout: float) -> list[dict]:
        out, err = self.proc.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])["received"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
