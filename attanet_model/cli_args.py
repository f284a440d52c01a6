"""One definition of each command-line flag that several ``attanet`` commands share.

Every command builds its parser from these: one spelling, one help text, one validation per
concept (``VOCABULARY``). A concept's old spellings keep working as hidden ``DeprecatedAlias``
options that say on stderr what to write instead. Kept here, below every package, because the
model, training, ROS, benchmark and viewer commands all use it; it imports only the standard
library.

    --model PATH        model file (.pt checkpoint or .onnx)          old: --checkpoint
    --input-scale F     network input scale (the paper's 0.5)
    --out PATH          where the command writes its result           old: --output-dir, --out-dir
    --size HxW          one image size; --sizes HxW [HxW ...] a list  old: --height/--width, "H,W"
    --no-progress       no progress bar, wherever there is one
    --domain-id N       ROS domain (default: ROS_DOMAIN_ID, else 0)   old: --domain
    --json              the summary as JSON
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path
from typing import Any

MAX_DOMAIN_ID = 232  # ROS 2 on Fast DDS: ports of higher domains overflow (ros2 docs, "The ROS_DOMAIN_ID")

# concept -> (canonical flag, spellings allowed only as deprecated aliases)
VOCABULARY: dict[str, tuple[str, tuple[str, ...]]] = {
    "model file": ("--model", ("--checkpoint", "--weights", "--onnx", "--model-path")),
    "network scale": ("--input-scale", ("--scale",)),
    "output location": ("--out", ("--output", "--output-dir", "--out-dir", "-o")),
    "image size": ("--size", ("--height", "--width", "--resolution")),
    "image sizes": ("--sizes", ()),
    "progress bar": ("--no-progress", ("--no-bar", "--quiet")),
    "ROS domain": ("--domain-id", ("--domain", "--ros-domain-id")),
    "JSON output": ("--json", ()),
}


class DeprecatedAlias(argparse.Action):
    """``parser.add_argument("--old", dest="new_dest", action=DeprecatedAlias, new="--new", type=...)``:
    an old spelling, hidden from ``--help``, that warns in one line and stores like the new one."""

    def __init__(self, option_strings: list[str], dest: str, new: str, **kwargs: Any) -> None:
        kwargs["help"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, self.convert(namespace, values))

    def convert(self, namespace: argparse.Namespace, values: Any) -> Any:
        return values


class _DeprecatedSizePart(DeprecatedAlias):
    """``--height`` / ``--width``: one side of ``--size``, the other side kept."""

    def __init__(self, option_strings: list[str], dest: str, side: int, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.side = side

    def convert(self, namespace: argparse.Namespace, values: Any) -> Any:
        size = list(getattr(namespace, self.dest))
        size[self.side] = values
        return tuple(size)


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` (e.g. 512x1024) -> (height, width); the old ``H,W`` form is read too."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        h, w = (int(v) for v in parts)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size {text!r} is not HEIGHTxWIDTH (e.g. 512x1024)") from exc
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"size {text!r} must have a positive height and width")
    return h, w


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """One ``--sizes`` word: ``HxW``, or the older comma list ``HxW,HxW`` -> [(h, w), ...]."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    if items and all("x" in item.lower() for item in items):
        return [parse_size(item) for item in items]
    return [parse_size(text)]


class _SizeList(argparse.Action):
    """``--sizes A B C`` where each word may itself be a comma list: one flat list of (h, w)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [size for word in values for size in word])


def format_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _domain_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a ROS domain id is an integer, got {text!r}") from exc
    if not 0 <= value <= MAX_DOMAIN_ID:
        raise argparse.ArgumentTypeError(f"a ROS domain id is in 0..{MAX_DOMAIN_ID}, got {value}")
    return value


def command_parser(command: str, doc: str | None, **kw: Any) -> argparse.ArgumentParser:
    """The parser of ``attanet <command>`` (its ``prog``), described by ``doc``, the docstring of the function that
    builds it: its first paragraph is the description, the rest (after a blank line) the epilog; argparse refolds
    their lines. Other ArgumentParser keywords pass through and win (a ``formatter_class`` that keeps line breaks
    takes its ``description``/``epilog`` as keywords). Under ``python -OO``, which strips docstrings, the help has
    usage and options only."""
    description, _, epilog = inspect.cleandoc(doc or "").partition("\n\n")
    kw = {"description": description or None, "epilog": epilog or None, **kw}
    return argparse.ArgumentParser(prog=f"attanet {command}", **kw)


def add_model(parser, help: str = "model file: a checkpoint (.pt) or .onnx (default: the bundled model)", **kw):
    """``--model PATH``; ``--checkpoint`` still works, deprecated."""
    parser.add_argument("--model", type=Path, help=help, **kw)
    parser.add_argument("--checkpoint", dest="model", type=Path, action=DeprecatedAlias, new="--model")


def input_scale(text: str) -> float:
    """An ``--input-scale`` value: frame -> network size factor in (0, 4]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 4:
        raise argparse.ArgumentTypeError(f"--input-scale must be a number in (0, 4], e.g. 0.5 or 1.0; got {text!r}")
    return value


def add_input_scale(parser, default_help: str = "the model's own (paper: 0.5)") -> None:
    """``--input-scale`` (frame -> network size factor), one spelling and check for every command that runs a
    model; ``default_help`` says what None means for that command."""
    parser.add_argument(
        "--input-scale",
        type=input_scale,
        metavar="S",
        help=f"frame -> network size factor, e.g. 0.5 (1024x2048 -> 512x1024); default: {default_help}",
    )


def add_out(parser, help: str, *, required: bool = False, default: Path | None = None, old=("--output-dir",)):
    """``--out PATH``; the old spellings named in ``old`` still work, deprecated."""
    parser.add_argument("--out", type=Path, required=required, default=default, help=help)
    for flag in old:
        parser.add_argument(flag, dest="out", type=Path, action=DeprecatedAlias, new="--out")


def add_size(parser, default: tuple[int, int], help: str = "image size", *, old_sides: bool = True) -> None:
    """``--size HxW`` (``args.size`` = (h, w)); ``--height`` / ``--width`` still work, deprecated."""
    parser.add_argument(
        "--size", type=parse_size, default=default, metavar="HxW", help=f"{help} (default: {format_size(default)})"
    )
    if old_sides:
        for side, flag in enumerate(("--height", "--width")):
            parser.add_argument(flag, dest="size", type=int, action=_DeprecatedSizePart, side=side, new="--size HxW")


def add_sizes(parser, default: list[tuple[int, int]] | None, help: str = "image sizes") -> None:
    """``--sizes HxW [HxW ...]`` (``args.sizes`` = [(h, w), ...])."""
    shown = " ".join(map(format_size, default)) if default else "none"
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        nargs="+",
        action=_SizeList,
        default=default,
        metavar="HxW",
        help=f"{help}, HxW words (default: {shown})",
    )


def add_no_progress(parser) -> None:
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none is drawn when not a terminal)"
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Draw a bar: not ``--no-progress``, and stderr is a terminal."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def add_json(parser, help: str = "print the summary as JSON") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_domain_id(parser, fallback: int | None = None) -> None:
    """``--domain-id N`` (``args.domain_id``), else ``ROS_DOMAIN_ID``, else ``fallback`` (None: rclpy's own
    default, 0; a measuring tool that starts its own node names a private domain); ``--domain`` deprecated."""
    env = os.environ.get("ROS_DOMAIN_ID", "").strip()
    default = env or fallback  # a string default goes through ``type`` too: a bad ROS_DOMAIN_ID is a usage error
    where = f"ROS_DOMAIN_ID, else {fallback if fallback is not None else 0}"
    parser.add_argument("--domain-id", type=_domain_id, default=default, metavar="N", help=f"ROS domain id ({where})")
    parser.add_argument("--domain", dest="domain_id", type=_domain_id, action=DeprecatedAlias, new="--domain-id")


__all__ = [
    "VOCABULARY",
    "DeprecatedAlias",
    "add_domain_id",
    "add_input_scale",
    "add_json",
    "add_model",
    "add_no_progress",
    "add_out",
    "add_size",
    "add_sizes",
    "command_parser",
    "format_size",
    "parse_size",
    "parse_sizes",
    "show_progress",
]
