"""The ``attanet`` command: a thin dispatcher to subcommands.

This is the one place that knows every package. Each subcommand's module is imported only when
that subcommand runs, so ``attanet info`` never loads rclpy or Qt. A subcommand is a function
``main(argv: list[str]) -> int`` with its own argparse parser (``prog="attanet <name>"``).
"""

from __future__ import annotations

import importlib
import sys

# name: (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": ("attanet_model.cli", "info_main", "parameters and multiply-adds per module (paper Table 3)"),
    "import-official": (
        "attanet_model.cli",
        "import_official_main",
        "convert a checkpoint of the official AttaNet code into an attanet checkpoint",
    ),
    "export": ("attanet_model.cli", "export_main", "export a checkpoint to ONNX (dynamic H/W, metadata)"),
    "seal": ("attanet_model.cli", "seal_main", "add the integrity hash to a model file written before they had one"),
    "bench": ("attanet_bench.cli", "bench_cli", "latency/FPS of torch and ONNX Runtime backends"),
    "synth": ("attanet_training.cli", "synth_main", "write a synthetic Cityscapes-format street dataset"),
    "train": ("attanet_training.cli", "train_main", "train AttaNet (single process or torchrun/DDP)"),
    "eval": ("attanet_training.eval_cli", "eval_main", "mIoU / per-class IoU on a dataset split"),
    "predict": ("attanet_training.eval_cli", "predict_main", "write predictions for a dataset split or folder"),
    "bag-make": ("attanet_cli", "bag_make_main", "write a rosbag2 (sqlite3/MCAP) from a dataset split"),
    "bag-eval": ("attanet_ros.bags.eval_cli", "bag_eval_main", "mIoU and latency from a rosbag2"),
    "bag-segment": (
        "attanet_ros.bags.eval_cli",
        "bag_segment_main",
        "segment every camera frame of a rosbag2 into a new bag (no ground truth needed)",
    ),
    "bag-play": ("attanet_ros.bags.live_cli", "bag_play_main", "publish a rosbag2's images through rclpy"),
    "bag-record": ("attanet_ros.bags.live_cli", "bag_record_main", "record topics to a rosbag2 through rclpy"),
    "camera": (
        "attanet_ros.tools.camera_source",
        "camera_main",
        "play a video file or an image folder to the node as a camera (Image + CameraInfo)",
    ),
    "ros": (
        "attanet_ros.tools.ros_tools",
        "main",
        "set a node parameter or drive the lifecycle node (no ros2 CLI needed)",
    ),
    "ros-bench": ("attanet_ros.tools.latency_bench", "main", "camera stamp -> ~/labels latency of the ROS node"),
    "viewer": ("attanet_gui.cli", "viewer_main", "PyQt5 viewer: overlays and SAM attention maps"),
    "demo": ("attanet_demo", "demo_main", "the end-to-end demo: node + bag replay + viewer"),
}


def bag_make_main(argv: list[str]) -> int:
    """``attanet bag-make``: a dataset split (training's readers) written as a bag (the ROS tools)."""
    from attanet_ros.bags.cli import bag_make_main as make
    from attanet_training.datasets import build_dataset

    return make(argv, build_dataset)


def package_version() -> str:
    """attanet_ros's version as installed (setup.py, which follows package.xml), else package.xml beside this file."""
    import importlib.metadata

    try:
        return importlib.metadata.version("attanet_ros")
    except importlib.metadata.PackageNotFoundError:
        import xml.etree.ElementTree as ET
        from pathlib import Path

        return ET.parse(Path(__file__).with_name("package.xml")).findtext("version", "unknown")


def version_text() -> str:
    """``attanet --version``: the package, Python, and the versions of the engines it can run on (or "not
    installed"), read from the installed distributions without importing them (rclpy's is its wheel's)."""
    import importlib.metadata
    import platform

    lines = [f"attanet {package_version()} (Python {platform.python_version()})"]
    for name, dist in (("torch", "torch"), ("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                       ("rclpy", "ros-kilted-rclpy")):  # fmt: skip
        try:
            lines.append(f"  {name} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"  {name} not installed")
    return "\n".join(lines)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: attanet <command> [options]   (attanet <command> --help for each; attanet --version)",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(version_text())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"attanet: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, function, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"attanet {name}: cannot import {module_name} ({exc}); run `make install`", file=sys.stderr)
        return 2
    try:
        return int(getattr(module, function)(rest) or 0)
    except KeyboardInterrupt:
        print(f"attanet {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
