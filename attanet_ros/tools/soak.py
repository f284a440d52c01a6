"""``attanet ros-bench --soak SECONDS``: the node under a steady camera for a long time.

A leak or a stall shows only after minutes: this publishes frames at a fixed rate to the node
(its own process, the shipped DDS profile), subscribes to the outputs asked for, samples the
node's resident memory from ``/proc/PID/status`` every second and counts each output per time
window. The verdict: RSS growth after warm-up below ``--max-rss-growth-mb`` and no window
without labels. ``latency_bench.main`` calls ``run_soak``; the report is JSON or markdown.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .bench_client import bench_client


def street_frame(height: int, width: int) -> np.ndarray:
    """A fixed street-like BGR frame (sky, buildings, road bands with noise): the benchmarks' camera."""
    rng = np.random.default_rng(0)
    img = np.zeros((height, width, 3), np.uint8)
    img[: height // 3] = (180, 130, 70)
    img[height // 3 : 2 * height // 3] = (70, 70, 70)
    img[2 * height // 3 :] = (128, 64, 128)
    return np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (Linux /proc); NaN when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def window_counts(arrivals: dict[str, list[float]], duration_s: float, window_s: float) -> list[dict]:
    """Per window [k*w, (k+1)*w) of the run: how many messages of each output arrived.

    Only whole windows are reported (a trailing part-window would look like a stall).
    """
    windows = []
    for k in range(int(duration_s // window_s)):
        lo, hi = k * window_s, (k + 1) * window_s
        windows.append({"start_s": lo, **{name: sum(lo <= t < hi for t in times) for name, times in arrivals.items()}})
    return windows


def rss_summary(samples: list[tuple[float, float]], warmup_s: float, span_s: float = 60.0) -> dict:
    """RSS after warm-up: growth as the mean of the last ``span_s`` minus the mean of the first
    ``span_s`` after ``warmup_s`` (one sample swings by tens of MB with the frame buffers in flight,
    so a single start and end sample would measure that swing, not a leak), the least-squares slope,
    and the range."""
    after = np.array([(t, v) for t, v in samples if t >= warmup_s and not np.isnan(v)]).reshape(-1, 2)
    if len(after) < 2:
        nan = float("nan")
        return {"rss_after_warmup_mb": nan, "rss_end_mb": nan, "rss_min_mb": nan, "rss_peak_mb": nan,
                "rss_growth_mb": nan, "rss_slope_mb_per_min": nan}  # fmt: skip
    t, v = after[:, 0], after[:, 1]
    span = min(span_s, (t[-1] - t[0]) / 2)
    first, last = float(np.mean(v[t <= t[0] + span])), float(np.mean(v[t >= t[-1] - span]))
    return {
        "rss_after_warmup_mb": round(first, 1),
        "rss_end_mb": round(last, 1),
        "rss_min_mb": round(float(v.min()), 1),
        "rss_peak_mb": round(float(v.max()), 1),
        "rss_growth_mb": round(last - first, 1),
        "rss_slope_mb_per_min": round(float(np.polyfit(t, v, 1)[0]) * 60, 2),
    }


def run_soak(size: tuple[int, int], args, env: dict[str, str], command: list[str], outputs: list[str]) -> dict:
    """Start the node with ``command``, feed it ``size`` frames at ``args.rate`` Hz for ``args.soak``
    seconds while subscribed to ``outputs``; return the report (what ``markdown_report`` prints)."""
    from sensor_msgs.msg import Image

    from attanet_ros.common.image_codec import array_to_image_msg

    arrivals: dict[str, list[float]] = {name: [] for name in outputs}
    t0 = [0.0]

    def counter(name):
        return lambda _msg: arrivals[name].append(time.monotonic() - t0[0])

    samples: list[tuple[float, float]] = []
    published = late = 0
    with bench_client(command, env, int(env["ROS_DOMAIN_ID"]), "attanet_soak") as bench:
        subs = [
            bench.client.create_subscription(Image, f"/bench/attanet/{o}", counter(o), bench.reliable) for o in outputs
        ]
        bench.wait_until_connected([s.topic_name for s in subs])
        node, executor = bench.node, bench.executor
        msg = array_to_image_msg(Image(), street_frame(*size), "bgr8")
        msg.header.frame_id = "soak"
        period = 1.0 / args.rate
        t0[0] = start = time.monotonic()
        next_frame, next_sample = start, start
        while (now := time.monotonic()) < start + args.soak:
            if node.poll() is not None:
                raise RuntimeError(
                    f"the node exited with {node.returncode} after {now - start:.0f} s:\n{bench.node_log()}"
                )
            if now >= next_sample:
                samples.append((now - start, rss_mb(node.pid)))
                next_sample += 1.0
            if now >= next_frame:
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
                bench.publisher.publish(msg)
                published += 1
                next_frame += period
                if next_frame < now:  # this process fell behind: skip, never burst to catch up
                    late += int((now - next_frame) / period) + 1
                    next_frame = now + period
            executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_sample) - time.monotonic()))
        diagnostics = bench.diagnostics
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values} if diagnostics else {}
    windows = window_counts(arrivals, args.soak, args.window)
    report = {
        "size": f"{size[0]}x{size[1]}",
        "rate_hz": args.rate,
        "duration_s": args.soak,
        "window_s": args.window,
        "warmup_s": args.warmup_s,
        "outputs": outputs,
        "frames_published": published,
        "publish_slots_missed": late,
        "received": {name: len(times) for name, times in arrivals.items()},
        "node_diagnostics": {
            k: values[k]
            for k in ("frames_received", "frames_processed", "frames_dropped", "latency_p50_ms", "latency_p95_ms")
            if k in values
        },
        **rss_summary(samples, args.warmup_s),
        "rss_samples": [(round(t, 1), round(v, 1)) for t, v in samples],
        "windows": windows,
        "windows_without_labels": [w["start_s"] for w in windows if w.get(outputs[0], 0) == 0],
        "max_rss_growth_mb": args.max_rss_growth_mb,
    }
    report["passed"] = bool(
        report["rss_growth_mb"] < args.max_rss_growth_mb and not report["windows_without_labels"] and windows
    )
    return report


def markdown_report(report: dict) -> str:
    """The soak report as markdown: the verdict, RSS, and per-window counts."""
    outputs = report["outputs"]
    lines = [
        f"## Soak: {report['size']} at {report['rate_hz']:g} Hz for {report['duration_s']:g} s, "
        f"outputs {', '.join(outputs)}",
        "",
        f"- verdict: **{'pass' if report['passed'] else 'FAIL'}** (RSS growth after {report['warmup_s']:g} s "
        f"warm-up < {report['max_rss_growth_mb']:g} MB, no {report['window_s']:g} s window without "
        f"{outputs[0]})",
        f"- node RSS (means of the first and last minute after warm-up): {report['rss_after_warmup_mb']} MB -> "
        f"{report['rss_end_mb']} MB, growth **{report['rss_growth_mb']} MB**; trend "
        f"{report['rss_slope_mb_per_min']} MB/min; range {report['rss_min_mb']}..{report['rss_peak_mb']} MB",
        f"- frames published {report['frames_published']} (publish slots missed: {report['publish_slots_missed']}); "
        "received: " + ", ".join(f"{k} {v}" for k, v in report["received"].items()),
        "- node diagnostics at the end: " + ", ".join(f"{k} {v}" for k, v in report["node_diagnostics"].items()),
        f"- windows without {outputs[0]}: {report['windows_without_labels'] or 'none'}",
        "",
        "| window start (s) | " + " | ".join(outputs) + " | RSS (MB) |",
        "|---:|" + "---:|" * len(outputs) + "---:|",
    ]
    rss = dict(report["rss_samples"])
    for w in report["windows"]:
        at = min(rss, key=lambda t: abs(t - w["start_s"] - report["window_s"]), default=None)
        lines.append(
            f"| {w['start_s']:g} | " + " | ".join(str(w[o]) for o in outputs) + f" | {rss.get(at, float('nan'))} |"
        )
    return "\n".join(lines) + "\n"
