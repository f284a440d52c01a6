"""One flag vocabulary: every parser of every ``attanet`` subcommand (and the other command lines
users run) is walked through argparse's own tables, and a concept with a second live spelling fails.

A command's parser is caught where it parses (``parse_known_args``), so the walk sees exactly what
the command builds, subparsers included, without running it.
"""

from __future__ import annotations

import argparse
import importlib

import pytest

from attanet_cli import COMMANDS
from attanet_cli import main as attanet
from attanet_model.cli_args import VOCABULARY, DeprecatedAlias, command_parser, parse_size, parse_sizes

# command lines outside the dispatcher that users are told to run: (module, function)
EXTRA = {
    "python -m attanet_ros.tools.dds_check": ("attanet_ros.tools.dds_check", "main"),
    "python -m attanet_bench.ort_gpu_bench": ("attanet_bench.ort_gpu_bench", "main"),
}
SIZE_FLAGS = ("--size", "--sizes", "--crop-size")  # every image size is HxW, parsed by one function


class _Caught(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def parser_of(module_name: str, function: str, monkeypatch) -> argparse.ArgumentParser:
    def catch(self, args=None, namespace=None):
        raise _Caught(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    fn = getattr(importlib.import_module(module_name), function)
    with pytest.raises(_Caught) as caught:
        fn(["--help"])
    monkeypatch.undo()
    return caught.value.parser


def all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_parsers(sub)


COMMAND_LINES = {f"attanet {n}": (m, f) for n, (m, f, _) in COMMANDS.items()} | EXTRA


@pytest.mark.parametrize("command", sorted(COMMAND_LINES))
def test_each_concept_has_one_live_spelling(command, monkeypatch) -> None:
    problems = []
    for parser in all_parsers(parser_of(*COMMAND_LINES[command], monkeypatch)):
        for action in parser._actions:
            deprecated = isinstance(action, DeprecatedAlias)
            for flag in action.option_strings:
                for concept, (canonical, old) in VOCABULARY.items():
                    if flag in old and not deprecated:
                        problems.append(f"{parser.prog}: {flag} is a second spelling of the {concept} ({canonical})")
                if flag in SIZE_FLAGS and not deprecated and action.type not in (parse_size, parse_sizes):
                    problems.append(f"{parser.prog}: {flag} is not parsed as HxW by cli_args.parse_size")
            if deprecated:
                assert action.help == argparse.SUPPRESS and action.new, f"{parser.prog}: {action.option_strings}"
    assert not problems, "\n".join(problems)


# commands that draw a progress bar, and commands that join a ROS graph
WITH_PROGRESS_BAR = ("bag-make", "bag-eval", "bag-segment", "bag-play", "eval", "predict", "train", "synth", "demo")
ON_A_ROS_DOMAIN = ("bag-play", "bag-record", "camera", "ros-bench", "viewer", "demo")


@pytest.mark.parametrize(("commands", "flag"), [(WITH_PROGRESS_BAR, "--no-progress"), (ON_A_ROS_DOMAIN, "--domain-id")])
def test_every_command_that_needs_a_shared_flag_has_it(commands, flag, monkeypatch) -> None:
    missing = []
    for name in commands:
        parser = parser_of(*COMMAND_LINES[f"attanet {name}"], monkeypatch)
        if not any(flag in a.option_strings and not isinstance(a, DeprecatedAlias) for a in parser._actions):
            missing.append(name)
    assert not missing, f"without {flag}: {', '.join(missing)}"


def test_the_walk_sees_the_shared_flags(monkeypatch) -> None:
    """The walk is not vacuous: it finds the canonical flags and the deprecated aliases where they are."""
    flags = {}
    for command, target in COMMAND_LINES.items():
        parser = parser_of(*target, monkeypatch)
        flags[command] = {f: isinstance(a, DeprecatedAlias) for a in parser._actions for f in a.option_strings}
    assert flags["attanet bag-eval"]["--model"] is False and flags["attanet bag-eval"]["--checkpoint"] is True
    assert flags["attanet bag-segment"]["--no-progress"] is False
    assert flags["attanet ros-bench"]["--domain"] is True and flags["attanet camera"]["--domain-id"] is False


def test_version_names_the_package_and_its_engines(capsys) -> None:
    assert attanet(["--version"]) == 0
    out = capsys.readouterr().out
    from attanet_cli import package_version

    assert out.startswith(f"attanet {package_version()}") and package_version().count(".") == 2
    for name in ("torch", "onnxruntime", "openvino", "rclpy"):
        assert f"{name} " in out


REQUIRED = {
    "attanet eval": ["--data-root", "d"],
    "attanet viewer": ["--source", "v.mp4"],
    "attanet export": ["--out", "m.onnx"],
}


@pytest.mark.parametrize(
    ("command", "old", "dest", "value", "new"),
    [
        ("attanet eval", ["--checkpoint", "m.pt"], "model", "m.pt", "--model"),
        ("attanet bench", ["--height", "64", "--width", "96"], "size", (64, 96), "--size HxW"),
        ("attanet info", ["--width", "96"], "size", (1024, 96), "--size HxW"),
        ("attanet train", ["--out-dir", "runs/a"], "out", "runs/a", "--out"),
        ("attanet viewer", ["--output-dir", "shots"], "out", "shots", "--out"),
        ("python -m attanet_ros.tools.dds_check", ["--domain", "7"], "domain_id", 7, "--domain-id"),
        ("attanet export", ["--sizes", "64x96,128x256", "32x32"], "sizes", None, None),
    ],
)
def test_old_spellings_still_work_with_one_warning_line(command, old, dest, value, new, monkeypatch, capsys) -> None:
    parser = parser_of(*COMMAND_LINES[command], monkeypatch)
    capsys.readouterr()
    got = getattr(parser.parse_args(REQUIRED.get(command, []) + old), dest)
    err = capsys.readouterr().err
    if new is None:  # the older comma list of sizes is read beside the HxW words, without a warning
        assert got == [(64, 96), (128, 256), (32, 32)] and err == ""
        return
    assert (str(got) if isinstance(value, str) else got) == value
    lines = err.strip().splitlines()
    assert len(lines) == len([f for f in old if f.startswith("--")]), lines  # one line per old flag
    assert all(line.endswith(f"is deprecated; use {new}") and ": warning: " in line for line in lines), lines


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_named_and_described_in_its_help(name, monkeypatch, capsys) -> None:
    parser = parser_of(*COMMANDS[name][:2], monkeypatch)
    assert parser.prog == f"attanet {name}"
    assert parser.description and "\n\n" not in parser.description, parser.description
    help_text = "".join(parser.format_help().split())  # argparse rewraps (and breaks at hyphens)
    assert "".join(parser.description.split()) in help_text
    if parser.epilog:
        assert "".join(parser.epilog.split()) in help_text


def test_a_docstring_becomes_the_description_and_its_later_paragraphs_the_epilog() -> None:
    def build():
        """Score a bag: every frame
        through the model.

        exit status: 0 scored,
        2 usage error."""

    parser = command_parser("bag-eval", build.__doc__)
    assert parser.prog == "attanet bag-eval"
    assert parser.description == "Score a bag: every frame\nthrough the model."
    assert parser.epilog == "exit status: 0 scored,\n2 usage error."
    assert parser.format_help() == (
        "usage: attanet bag-eval [-h]\n\nScore a bag: every frame through the model.\n\n"
        "options:\n  -h, --help  show this help message and exit\n\nexit status: 0 scored, 2 usage error.\n"
    )
    assert command_parser("seal", None).description is None  # python -OO strips docstrings: help without them
