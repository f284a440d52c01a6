"""The soak report's arithmetic (ROS-free): windows, RSS growth, the verdict's inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from attanet_ros.tools.latency_bench import main
from attanet_ros.tools.soak import markdown_report, rss_mb, rss_summary, window_counts


def test_rss_of_this_process_matches_proc_status():
    status = Path(f"/proc/{os.getpid()}/status").read_text().splitlines()
    kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    assert rss_mb(os.getpid()) == pytest.approx(kib / 1024, abs=16)
    assert np.isnan(rss_mb(2**22 + 12345))  # no such process


def test_windows_count_whole_windows_only():
    arrivals = {"labels": [0.5, 1.0, 9.9, 10.0, 25.0, 29.9], "color": [1.0]}
    assert window_counts(arrivals, 31.0, 10.0) == [
        {"start_s": 0.0, "labels": 3, "color": 1},
        {"start_s": 10.0, "labels": 1, "color": 0},
        {"start_s": 20.0, "labels": 2, "color": 0},
    ]


def test_rss_growth_uses_medians_not_single_samples():
    t = np.arange(0, 600, 1.0)
    swing = np.where(t % 2 == 0, -20.0, 20.0)  # frame buffers in flight
    flat = rss_summary(list(zip(t, 400 + swing, strict=True)), warmup_s=60)
    assert abs(flat["rss_growth_mb"]) < 1 and abs(flat["rss_slope_mb_per_min"]) < 0.1
    leak = rss_summary(list(zip(t, 400 + swing + t / 60 * 2.0, strict=True)), warmup_s=60)
    assert leak["rss_slope_mb_per_min"] == pytest.approx(2.0, abs=0.05)
    assert leak["rss_growth_mb"] == pytest.approx(2.0 * (599 - 60 - 60) / 60, abs=1.5)
    report = {
        "size": "64x128", "rate_hz": 15.0, "duration_s": 600.0, "window_s": 10.0, "warmup_s": 60.0,
        "outputs": ["labels"], "frames_published": 1, "publish_slots_missed": 0, "received": {"labels": 1},
        "node_diagnostics": {}, **leak, "rss_samples": [(0.0, 400.0)], "windows": [{"start_s": 0.0, "labels": 0}],
        "windows_without_labels": [0.0], "max_rss_growth_mb": 20.0, "passed": False,
    }  # fmt: skip
    text = markdown_report(report)
    assert "verdict: **FAIL**" in text and "windows without labels: [0.0]" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--soak", "5"], "at least one window"),
        (["--soak", "30", "--warmup-s", "30"], "--warmup-s must be in [0, --soak)"),
        (["--soak", "30", "--rate", "0"], "needs --rate > 0"),
    ],
)
def test_soak_user_errors_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
