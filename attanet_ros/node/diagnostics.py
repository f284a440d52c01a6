"""What the node reports on /diagnostics, as plain (level, message, key/values); ROS-free.

The node wraps this in diagnostic_msgs; keeping the wording here lets tests read it without DDS.
"""

from __future__ import annotations

import math

from .stats import CLOCK_BEHIND_MS

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


def _ms(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.1f}"


def diagnostic_report(
    snapshot: dict,
    previous: dict | None,
    info: dict[str, str],
    period_s: float,
    problems: list[tuple[int, str]] | tuple = (),
):
    """(level, message, [(key, value), ...]) for one diagnostics period.

    ``snapshot``/``previous`` are ``FrameStats.snapshot()`` now and one period ago; rates and
    the level use the difference, so an error long ago does not keep the status at WARN.
    ``info`` is static context: backend, device, precision, mode, model, input topic.
    ``problems`` are (level, sentence) found elsewhere (the ROS graph: a node of the same name,
    publishers whose frames never arrive); they lead the message and raise the level.
    """
    previous = previous or {"received": 0, "processed": 0, "dropped": 0, "errors": {}}
    new_errors = sum(snapshot["errors"].values()) - sum(previous["errors"].values())
    new_processed = snapshot["processed"] - previous["processed"]
    new_received = snapshot["received"] - previous["received"]
    fps = new_processed / period_s if period_s > 0 else 0.0
    if snapshot["errors"].get("internal", 0) > previous["errors"].get("internal", 0):
        level, message = ERROR, "inference failed; see the node's log"
    elif new_errors:
        level = WARN
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(snapshot["errors"].items()))
        message = f"{new_errors} bad input frame(s) in the last {period_s:g} s (so far: {kinds})"
    elif new_received == 0:
        level, message = OK, "waiting for images"
    elif new_processed == 0 and snapshot["skipped_no_subscribers"] > 0:
        level, message = OK, "idle: no subscriber to any output"
    else:
        level = OK
        message = f"{fps:.1f} fps, latency p50 {_ms(snapshot['latency_p50_ms'])} ms"

    def since(key: str) -> int:  # counted this period
        return snapshot.get(key, 0) - previous.get(key, 0)

    warnings = []  # about the camera's stamps and camera_info; each leads the ones checked before it
    if (ahead := since("clock_ahead")) > 0:
        warnings.append(
            f"camera clock ahead by {snapshot['clock_ahead_p50_ms']:.0f} ms ({ahead} frame(s) stamped in the "
            "node's future, left out of the latency figures): sync the clocks (chrony/PTP) or check use_sim_time"
        )
    if (behind := since("clock_behind")) > 0:
        warnings.append(
            f"camera clock behind by {snapshot['clock_behind_p50_ms'] / 1e3:.1f} s ({behind} frame(s) stamped more "
            f"than {CLOCK_BEHIND_MS / 1e3:g} s before they arrived, left out of the latency figures): sync the "
            "clocks (chrony/PTP); a bag replayed with its recorded stamps needs --clock and use_sim_time, or "
            "--restamp"
        )
    if (mismatched := since("camera_info_mismatch")) > 0:
        warnings.append(
            f"{mismatched} frame(s) without ~/camera_info in the last {period_s:g} s: {snapshot['camera_info_problem']}"
        )
    problems = [(WARN, text) for text in reversed(warnings)] + list(problems)
    if problems:
        level = max(level, *(lvl for lvl, _ in problems))
        message = "; ".join([text for _, text in problems] + [message])
    values = [
        ("frames_received", str(snapshot["received"])),
        ("frames_processed", str(snapshot["processed"])),
        ("frames_dropped", str(snapshot["dropped"])),
        ("frames_skipped_no_subscribers", str(snapshot["skipped_no_subscribers"])),
        ("frames_bad_input", str(sum(snapshot["errors"].values()))),
        ("frames_clock_ahead", str(snapshot.get("clock_ahead", 0))),
        ("camera_clock_ahead_p50_ms", _ms(snapshot.get("clock_ahead_p50_ms", float("nan")))),
        ("frames_clock_behind", str(snapshot.get("clock_behind", 0))),
        ("camera_clock_behind_p50_ms", _ms(snapshot.get("clock_behind_p50_ms", float("nan")))),
        ("camera_info_mismatched", str(snapshot.get("camera_info_mismatch", 0))),
    ]
    values += [(f"errors.{kind}", str(count)) for kind, count in sorted(snapshot["errors"].items())]
    values += [
        ("processed_fps", f"{fps:.2f}"),
        ("latency_p50_ms", _ms(snapshot["latency_p50_ms"])),
        ("latency_p95_ms", _ms(snapshot["latency_p95_ms"])),
        ("node_latency_p50_ms", _ms(snapshot["node_latency_p50_ms"])),
        ("node_latency_p95_ms", _ms(snapshot["node_latency_p95_ms"])),
        ("arrival_p50_ms", _ms(snapshot.get("arrival_p50_ms", float("nan")))),
        ("arrival_p95_ms", _ms(snapshot.get("arrival_p95_ms", float("nan")))),
    ]
    values += [(f"stage_{name}_p50_ms", _ms(value)) for name, value in snapshot["stages_p50_ms"].items()]
    values += list(info.items())
    return level, message, values


def sim_clock_report(use_sim_time: bool, now_ns: int) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """(problems, values) of the node's clock: with ``use_sim_time`` and no /clock yet the node's time
    stands at 0, so no latency can be measured (and timers on ROS time would never fire)."""
    if not use_sim_time:
        return [], {"use_sim_time": "false"}
    if now_ns > 0:
        return [], {"use_sim_time": "true", "sim_clock": "running"}
    problem = (
        "use_sim_time is true but no /clock has arrived: the node's time stands at 0 and latency is not measured; "
        "publish /clock (attanet bag-play --clock) or set use_sim_time false"
    )
    return [(WARN, problem)], {"use_sim_time": "true", "sim_clock": "no /clock yet"}


def stale_report(level: int, message: str, values: list, age_s: float | None, stale_after_s: float):
    """A camera's (level, message, values) with its staleness: WARN once it has sent frames and then
    none for ``stale_after_s`` seconds (a camera that never sent stays "waiting for images")."""
    stale = age_s is not None and age_s > stale_after_s
    values = [*values, ("seconds_since_last_frame", "nan" if age_s is None else f"{age_s:.1f}")]
    values.append(("stale", "true" if stale else "false"))
    if stale:
        sentence = f"stale: no frame for {age_s:.1f} s (reported after {stale_after_s:g} s)"
        # a warning found before (clock ahead, a same-name node, ...) is still true: keep it after this one
        message = f"{sentence}; {message}" if level > OK else sentence
        level = max(level, WARN)
    return level, message, values


def summary_report(cameras: list[tuple[str, int, str]], info: dict[str, str]):
    """The node's status over several cameras, from each camera's (name, level, message): the worst
    level, and the message of every camera that is not OK (the others are fine)."""
    level = max((lvl for _, lvl, _ in cameras), default=OK)
    bad = [f"{name}: {msg}" for name, lvl, msg in cameras if lvl != OK]
    message = "; ".join(bad) if bad else f"{len(cameras)} camera(s) OK"
    stale = [name for name, _, msg in cameras if msg.startswith("stale")]
    values = [("cameras", ",".join(name for name, _, _ in cameras)), ("cameras_stale", ",".join(stale))]
    return level, message, values + list(info.items())
