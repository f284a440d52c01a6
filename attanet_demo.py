"""``attanet demo``: a synthetic drive through the real node, shown in the viewer or written headless.

It lives at the top level, beside ``attanet_cli.py`` (its shared steps in ``attanet_demo_steps.py``),
because it is the one program that uses every package: synthetic data (``attanet_training``), bags
and the node (``attanet_ros``), the viewer (``attanet_gui``). It calls their library functions;
none of them imports it.

Steps, each reusing what a previous run left in ``--out`` when it matches:
1. a short synthetic driving sequence (``attanet_training.synth``) in the Cityscapes layout;
2. a rosbag2 of it with ground truth (``attanet_ros.bags.make.make_bag``, what ``attanet bag-make`` runs);
3. the node (``python -m attanet_ros.node``) in its own process with the shipped parameter file
   and DDS profile;
4. the bag's camera frames published to the node's camera topic like a live camera, fresh stamps
   at the bag's rate (``camera_player.py``; it waits for the node and the demo's subscriber to
   match first, which ``attanet bag-play --wait-subscribers`` cannot: it starts on the first);
5. with a display: the viewer on the node's outputs (the bag loops until the window closes);
   headless: every frame from the node is scored against ground truth and drawn as an overlay,
   and overlay PNGs, a video and ``summary.json`` are written.
Every process and thread started is stopped at the end, on errors and on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from attanet_demo_steps import (
    CAMERA_TOPIC,
    DISCOVERY_RANGE_VARIABLE,
    NODE_NAME,
    NODE_OUTPUTS,
    DemoConfig,
    DemoError,
    FrameScorer,
    HeadlessOutputs,
    check_model_file,
    check_model_scores_bag,
    ground_truth,
    prepare_bag,
    prepare_data,
    ros_environment,
    start_node_and_source,
)
from attanet_gui.camera_player import CameraPlayer
from attanet_gui.frames import Frame
from attanet_gui.processes import ProcessGroup, TerminateAsInterrupt
from attanet_gui.qt_platform import check_display
from attanet_gui.render import ViewSettings
from attanet_gui.ros_domain import DomainLease, domain_in_use, lease_free_domain, nodes_named
from attanet_gui.ros_env import PROFILE_VARIABLE
from attanet_model.cli_args import add_input_scale, add_size, command_parser

# ---------------------------------------------------------------- headless


def run_headless(config: DemoConfig, bag: Path, env: dict[str, str], log=print) -> dict:
    """Node in replay mode, bag played once; score, draw and write every frame. Returns the summary."""
    from tqdm import tqdm

    from attanet_gui.ros_source import RosTopicSource

    outputs = HeadlessOutputs(
        config.out / "overlays", config.out / "demo_overlay.mp4", config.out / "summary.json", config.out / "logs"
    )
    truth = ground_truth(bag)
    frames: queue.Queue[Frame] = queue.Queue()
    source = RosTopicSource(
        CAMERA_TOPIC, NODE_OUTPUTS, domain_id=config.domain_id, every_frame=True, sink=frames.put, with_confidence=False
    )
    # Two subscribers on the camera topic (the node and this process's source), and lock step (one
    # frame in flight) so that latency is each frame's, not a growing queue's, on a slow CPU.
    player = CameraPlayer(
        bag, CAMERA_TOPIC, CAMERA_TOPIC, config.rate_hz, domain_id=config.domain_id, min_subscribers=2, max_in_flight=1
    )
    scorer = FrameScorer(outputs, truth, config.rate_hz, config.alpha)
    start = last_frame_at = time.monotonic()
    with ProcessGroup(outputs.logs, env) as group:
        try:
            node = start_node_and_source(config, group, "replay", source, log)
            player.start()
            log(f"publishing {len(player)} frames from {bag} to {CAMERA_TOPIC} at {config.rate_hz:g} Hz")
            with tqdm(total=len(player), unit="frame", desc="demo", disable=not config.progress) as bar:
                while scorer.frames < len(player) and time.monotonic() < start + config.timeout_s:
                    try:
                        frame = frames.get(timeout=0.2)
                    except queue.Empty:
                        if source.error or player.error:
                            raise DemoError(source.error or player.error) from None
                        if not node.running():
                            raise DemoError(
                                f"the node died; its log {node.log_path} ends:\n{node.log_tail()}"
                            ) from None
                        if player.done.is_set() and time.monotonic() - last_frame_at > 5.0:
                            break  # everything was published and nothing more is coming
                        continue
                    last_frame_at = time.monotonic()
                    player.acknowledge()
                    scorer.add(frame, player.published.get(frame.stamp_ns))
                    bar.update(1)
        except BaseException:
            player.stop()
            source.stop()
            with contextlib.suppress(Exception):  # the error in flight is the one to report
                scorer.close()
            raise
        player.stop()
        source.stop()
        scorer.close()  # waits for the overlay writer; a write error ends the demo here
    if scorer.frames == 0:
        raise DemoError(f"no segmented frame came back from the node; logs in {outputs.logs}")
    span = last_frame_at - player.first_publish if player.first_publish else 0.0
    fps = (scorer.frames - 1) / span if scorer.frames > 1 and span > 0 else None
    summary = _summary(config, bag, len(player), scorer, outputs, time.monotonic() - start, fps)
    outputs.summary.write_text(json.dumps(summary, indent=2))
    return summary


def _summary(
    config: DemoConfig,
    bag: Path,
    played: int,
    scorer: FrameScorer,
    outputs: HeadlessOutputs,
    wall_s: float,
    fps: float | None,
) -> dict:
    from attanet_model import default_model_path

    scores = scorer.scores()
    lat = np.asarray(scorer.latencies, np.float64)
    return {
        "frames": scorer.frames,
        "frames_played": played,
        "unmatched": scorer.unmatched,
        "miou": scores["miou"],
        "pixel_acc": scores["pixel_acc"],
        "iou": scores["iou"],
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "max": float(lat.max()),
            "measured": "camera stamp (set when the demo published the frame) -> labels received by the demo's "
            "subscriber: DDS to the node, decode, inference, publish, DDS back; node in replay mode, one frame "
            "in flight",
        },
        "fps": fps,
        "image_size": [config.height, config.width],
        "input_scale": config.input_scale,
        "rate_hz": config.rate_hz,
        "model": str(config.model or default_model_path()),
        "bag": str(bag),
        "wall_s": round(wall_s, 2),
        "outputs": {k: str(v) for k, v in asdict(outputs).items()},
    }


# ---------------------------------------------------------------- with the viewer


def run_with_viewer(
    config: DemoConfig, bag: Path, env: dict[str, str], log=print, screenshot: Path | None = None
) -> int:
    """Node in live mode, the bag looping, the viewer on the node's outputs until its window closes
    (or, with ``screenshot``, until the first frame is saved there)."""
    from attanet_gui.app import ScreenshotRequest, run_viewer
    from attanet_gui.ros_source import RosTopicSource
    from attanet_model import Segmenter

    model = config.model
    source = RosTopicSource(
        CAMERA_TOPIC,
        NODE_OUTPUTS,  # SAM's attention maps come from the torch network (the node runs auto)
        attention_factory=lambda: Segmenter(model, backend="torch", input_scale=config.input_scale),
        domain_id=config.domain_id,
    )
    # Two subscribers on the camera topic: the node and the viewer's source.
    player = CameraPlayer(
        bag, CAMERA_TOPIC, CAMERA_TOPIC, config.rate_hz, loop=True, domain_id=config.domain_id, min_subscribers=2
    )
    with ProcessGroup(config.out / "logs", env) as group:
        try:
            start_node_and_source(config, group, "live", source, log)
            player.start()
            log("the viewer is open; click a pixel for SAM's attention, close the window to stop the demo")
            return run_viewer(
                source,
                ViewSettings("overlay", config.alpha),
                title="AttaNet demo: live node output",
                output_dir=config.out,
                screenshot=ScreenshotRequest(screenshot, timeout_s=config.timeout_s) if screenshot else None,
            )
        finally:
            player.stop()
            source.stop()


# ---------------------------------------------------------------- command line


def demo_parser() -> argparse.ArgumentParser:
    """End to end in one command: a synthetic drive -> rosbag2 -> the AttaNet node (own process, shipped DDS profile)
    -> the viewer. Without a display (or with --headless) it writes overlay PNGs, a video and summary.json (frames,
    mIoU against ground truth, latency p50/p95) instead.

    The sequence and bag are cached in --out and reused when the settings match. Example: attanet demo --headless
    --frames 24 --out demo_out"""
    p = command_parser("demo", demo_parser.__doc__)
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    p.add_argument("--frames", type=int, default=24, help="frames in the sequence (default: 24)")
    add_size(p, (512, 1024), "camera frame size")
    p.add_argument("--seed", type=int, default=7, help="synthetic scene seed (default: 7)")
    p.add_argument("--rate", type=float, default=10.0, help="camera rate of the bag in Hz (default: 10)")
    p.add_argument("--model", type=Path, help="checkpoint or .onnx for the node (default: the bundled model)")
    add_input_scale(p, "the scale the model was trained for (its metadata; the bundled model: 1.0)")
    p.add_argument("--headless", action="store_true", help="no window even if a display is available")
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="OUT.png",
        help="open the viewer (offscreen without a display), save its first frame to OUT.png and stop",
    )
    p.add_argument(
        "--domain-id",
        type=int,
        help="ROS domain for the demo's processes (default: a free one, found on this machine); refused when a node "
        "named attanet is already there",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds (default: 300)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (headless)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def choose_viewer(headless: bool, screenshot: Path | None, log=print) -> bool:
    """Whether the viewer can run (else the demo runs headless), decided before Qt starts.

    A screen that cannot show the window (missing xcb libraries, no X server, an offscreen Qt
    platform) falls back to headless, saying why; a screenshot needs no screen and renders offscreen.
    """
    if headless:
        return False
    check = check_display()
    if screenshot is not None:
        if check.problem is not None:
            if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
                log(f"{check.problem}; rendering the screenshot offscreen")
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return True
    if check.problem is not None:
        log(f"{check.problem}; running headless instead")
        return False
    if not check.visible:
        log(
            f"QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')} would show the viewer nowhere; running headless "
            "instead (unset QT_QPA_PLATFORM on a desktop to see the viewer)"
        )
        return False
    return True


def own_domain(config: DemoConfig, log=print) -> DomainLease:
    """Move the demo into a ROS domain nobody on this machine uses, discovery limited to localhost (so
    a second demo, a running node or another machine cannot mix frames into its results)."""
    try:
        lease = lease_free_domain()
    except RuntimeError as exc:
        raise DemoError(f"{exc}; pass --domain-id N to choose one") from exc
    config.domain_id = lease.domain
    os.environ[DISCOVERY_RANGE_VARIABLE] = "LOCALHOST"  # this process's subscribers, and (copied) its children
    log(f"running in ROS domain {lease.domain}, free on this machine (--domain-id N to choose one)")
    return lease


def demo_main(argv: list[str]) -> int:
    args = demo_parser().parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout  # --json keeps stdout for the summary
    log = lambda text: print(f"attanet demo: {text}", file=stream, flush=True)  # noqa: E731 (live through a pipe)
    try:
        config = DemoConfig(
            out=args.out,
            frames=args.frames,
            height=args.size[0],
            width=args.size[1],
            seed=args.seed,
            rate_hz=args.rate,
            model=args.model,
            input_scale=args.input_scale,
            headless=args.headless,
            domain_id=args.domain_id,
            timeout_s=args.timeout,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"attanet demo: {exc}", file=sys.stderr)
        return 2
    config.headless = not choose_viewer(args.headless, args.screenshot, log)
    lease = None
    try:
        with TerminateAsInterrupt():
            meta = check_model_file(config.model)
            if config.input_scale is None:  # what the model card's numbers are measured at
                config.input_scale = meta.trained_input_scale
            log(f"the node runs the model at input scale {config.input_scale:g} (--input-scale to change)")
            if config.domain_id is None:
                lease = own_domain(config, log)
            env = ros_environment(config)
            os.environ[PROFILE_VARIABLE] = env[PROFILE_VARIABLE]  # for this process's own subscriber
            if lease is None:
                # Participants on this machine: give discovery time to name them (a loaded CPU is slow to).
                others = nodes_named(
                    config.domain_id, NODE_NAME, wait_s=8.0 if domain_in_use(config.domain_id) else 2.0
                )
                if others:
                    print(
                        f"attanet demo: ROS domain {config.domain_id} already has a node named {NODE_NAME} "
                        f"({', '.join(others)}), whose frames would mix with the demo's; stop it, choose another "
                        "--domain-id, or leave --domain-id out to run in a free domain",
                        file=sys.stderr,
                    )
                    return 2
            config.out.mkdir(parents=True, exist_ok=True)
            data_root = prepare_data(config, log)
            bag = prepare_bag(config, data_root, log)
            check_model_scores_bag(config.model, bag)
            if not config.headless:
                code = run_with_viewer(config, bag, env, log, args.screenshot)
                if code == 130:
                    raise KeyboardInterrupt
                return code
            summary = run_headless(config, bag, env, log)
    except DemoError as exc:
        print(f"attanet demo: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # CheckpointError, ClassTableMismatch: the model given cannot be scored here
        print(f"attanet demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attanet demo: interrupted; every process it started has been stopped", file=sys.stderr)
        return 130
    finally:
        if lease is not None:
            lease.release()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    return 0


def _print_summary(summary: dict) -> None:
    miou = "n/a" if summary["miou"] is None else f"{100 * summary['miou']:.1f} %"
    lat = summary["latency_ms"]
    out = summary["outputs"]
    print(
        f"frames: {summary['frames']} of {summary['frames_played']}   mIoU vs ground truth: {miou}   "
        f"latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms (camera -> labels)"
        f"   input scale {summary['input_scale']:g}"
        + (f"   {summary['fps']:.1f} FPS in lock step" if summary["fps"] else "")
    )
    print(f"overlay images: {out['overlays']}")
    print(f"overlay video:  {out['video']}")
    print(f"summary:        {out['summary']}")
    print(f"process logs:   {out['logs']}")
