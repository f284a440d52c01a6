"""``attanet viewer``: argument parsing and user-facing errors, nothing else.

Environment decisions (offscreen Qt, the DDS profile, torch threads) are made here, at the
top, before Qt or rclpy start; the modules below take them as arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from attanet_model.cli_args import add_domain_id, add_input_scale, add_out, command_parser
from attanet_model.engine_options import add_engine_arguments
from attanet_ros.common.malloc_tuning import tune_for_frames

from .qt_platform import check_display
from .render import VIEWS, ViewSettings


def has_display() -> bool:
    """Whether a desktop session is there at all (X11 or Wayland); ``qt_platform.check_display`` says
    whether Qt can really open a window on it."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _parse_click(text: str) -> tuple[int, int | None]:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"--click wants X,Y (a pixel) or X (a column) in image pixels, got {text!r}")
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], None)


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--alpha must be in [0, 1], got {text}")
    return value


def viewer_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "viewer",
        None,
        description="Watch AttaNet segment a folder of images, a video, a rosbag2 or a live ROS camera topic; "
        "hover for class and confidence, click for SAM's attention (paper Fig. 9).",
        epilog="examples:\n"
        "  attanet viewer --source demo_out/data/leftImg8bit/val\n"
        "  attanet viewer --source drive.mp4 --view attention --click 512,300\n"
        "  attanet viewer --source /camera/image_raw          (node running: attanet_node)\n"
        "  attanet viewer --source bag_dir --screenshot shot.png   (offscreen, exits after one frame)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source",
        required=True,
        help="image folder, video file, rosbag2 (dir/.mcap/.db3), or a ROS "
        "camera topic such as /camera/image_raw (the node's outputs are read from --outputs)",
    )
    p.add_argument("--view", choices=VIEWS, default="overlay", help="initial view (default: overlay)")
    p.add_argument("--alpha", type=_alpha, default=0.5, help="overlay opacity in [0, 1] (default 0.5)")
    p.add_argument(
        "--click",
        type=_parse_click,
        metavar="X[,Y]",
        help="start with SAM's attention at pixel X,Y (or column X) in image pixels",
    )
    p.add_argument(
        "--attention-mode",
        choices=("pixel", "column"),
        default="pixel",
        help="what a click shows: the pixel's attention over strips, or a column strip's reach",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="OUT.png",
        help="render the first processed frame offscreen, save the window to OUT.png and exit",
    )
    p.add_argument("--record", type=Path, metavar="OUT.mp4", help="record the overlay of every frame shown")
    add_out(p, "folder the Screenshot/Record buttons write to (default: the current folder)", default=Path("."))
    p.add_argument("--model", type=Path, help="checkpoint (.pt) or .onnx (default: the bundled model)")
    add_engine_arguments(p, note="attention maps need torch: auto runs torch for them")
    add_input_scale(p, "the scale the model was trained for (its metadata; the bundled model: 1.0)")
    p.add_argument("--topic", help="for a rosbag2 source: the camera topic (default: the first image topic)")
    p.add_argument("--outputs", default="/attanet", help="for a ROS topic source: the node's output namespace")
    add_domain_id(p)  # for a ROS topic source
    p.add_argument("--loop", action="store_true", help="start a folder/video/bag over at its end")
    p.add_argument("--max-fps", type=float, help="process at most this many frames per second (video: its own rate)")
    p.add_argument("--threads", type=int, help="torch CPU threads for the in-process model")
    p.add_argument("--timeout", type=float, default=120.0, help="--screenshot gives up after this many seconds")
    return p


def is_topic(source: str) -> bool:
    """A ROS topic name: starts with '/', has no '.' (topic names cannot), and is not a path on disk.

    /camera/image_raw is a topic; /tmp/x is a path because /tmp exists, so a missing file there is
    reported as missing instead of being waited for as a topic.
    """
    if not source.startswith("/") or "." in source:
        return False
    path = Path(source)
    return not path.exists() and (path.parent == Path("/") or not path.parent.exists())


def attention_backend(backend: str, log=print) -> str | None:
    """The backend of the attention maps a click asks for: SAM's maps come from the torch network only,
    so torch, and auto resolves to torch (said); an explicit ONNX backend has none (None)."""
    if backend == "auto":
        log("attanet viewer: attention maps need torch: backend auto runs torch for them")
        return "torch"
    return "torch" if backend == "torch" else None


def make_source(args: argparse.Namespace):
    """The FrameSource for ``--source`` (raises ValueError with a sentence for a bad path or topic)."""
    from attanet_model import AutoSettings, Segmenter
    from attanet_model.segmenter import model_input_scale, segmenter_from_args

    args.input_scale = model_input_scale(args.model, args.input_scale)  # CheckpointError: a ValueError

    def segmenter(backend: str = args.backend, frame_hw: tuple[int, int] | None = None) -> Segmenter:
        # at the resolved scale, args.input_scale; the viewer shows every frame's confidence (view, hover line),
        # so the label head makes it in the labels' pass; auto decides at the frames' size when it is known
        auto = AutoSettings(frame_hw=frame_hw)
        return segmenter_from_args(args, backend=backend, confidence_every_frame=True, auto=auto)

    if is_topic(args.source):
        from .ros_env import use_shipped_dds_profile
        from .ros_source import RosTopicSource

        use_shipped_dds_profile()
        backend = attention_backend(args.backend, lambda text: print(text, file=sys.stderr))
        factory = (lambda: segmenter(backend)) if backend else None
        return RosTopicSource(args.source, args.outputs, attention_factory=factory, domain_id=args.domain_id)
    from .readers import open_reader
    from .sources import SegmentingSource

    reader = open_reader(Path(args.source), args.topic)
    return SegmentingSource(reader, lambda hw: segmenter(frame_hw=hw), max_fps=args.max_fps, loop=args.loop)


def viewer_main(argv: list[str]) -> int:
    args = viewer_parser().parse_args(argv)
    tune_for_frames()  # camera-size frames and overlays every frame, as in the node: reused heap blocks
    if args.screenshot is not None and not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.screenshot is not None and args.screenshot.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        print(f"attanet viewer: --screenshot {args.screenshot} must end in .png, .jpg or .bmp", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        source = make_source(args)
    except ValueError as exc:
        print(f"attanet viewer: {exc}", file=sys.stderr)
        return 2
    problem = window_problem(args.screenshot is not None, args.record is not None)
    if problem is not None:
        print(f"attanet viewer: {problem}", file=sys.stderr)
        return 2
    from .app import ScreenshotRequest, run_viewer

    if args.click is not None:
        source.set_attention_query(_query(args.click))
    screenshot = ScreenshotRequest(args.screenshot, args.click, args.timeout) if args.screenshot else None
    settings = ViewSettings("attention" if args.click is not None else args.view, args.alpha)
    return run_viewer(
        source,
        settings,
        title=f"AttaNet viewer: {args.source} (input scale {args.input_scale:g})",
        output_dir=args.out,
        attention_mode="column" if args.click and args.click[1] is None else args.attention_mode,
        screenshot=screenshot,
        record=args.record,
    )


def window_problem(screenshot: bool, recording: bool) -> str | None:
    """Why the viewer cannot usefully open its window here (checked before Qt starts), or None.

    Qt itself would abort with "could not load the Qt platform plugin" for a missing X library or
    display; a screenshot needs no screen, so it falls back to offscreen rendering (saying so).
    """
    check = check_display()
    if check.problem is not None:
        if not screenshot:
            return f"{check.problem}; or use --screenshot OUT.png to render one frame offscreen"
        print(f"attanet viewer: {check.problem}; rendering the screenshot offscreen instead", file=sys.stderr)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    if not check.visible and not screenshot:
        invisible = f"QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')} draws the window nowhere"
        if recording:  # recording a video offscreen is useful; say how it ends
            print(f"attanet viewer: {invisible}; recording only, stop it with Ctrl-C", file=sys.stderr)
            return None
        return (
            f"{invisible}: nothing would be visible; unset QT_QPA_PLATFORM to see the window on this desktop, "
            "or add --screenshot OUT.png to save one frame (or --record OUT.mp4 to record the overlay)"
        )
    return None


def _query(click: tuple[int, int | None]):
    from attanet_model import AttentionQuery

    return AttentionQuery(click[0], click[1])
