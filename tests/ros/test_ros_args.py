"""The command line as rcl reads it, ROS-free: which params-file sections and -p overrides reach the node."""

from __future__ import annotations

import pytest

from attanet_ros.params import PARAMETERS
from attanet_ros.ros_args import (
    command_line_problems,
    fully_qualified_name,
    node_pattern_matches,
    params_file_sections,
    rcl_error_line,
    split_ros_args,
)

KNOWN = [spec.name for spec in PARAMETERS]


def test_split_and_fully_qualified_name():
    argv = ["prog", "--help", "--ros-args", "-r", "__ns:=/front", "-r", "other:__node:=x", "-p", "mode:=replay"]
    argv += ["--params-file", "a.yaml", "--", "--user-flag", "--ros-args", "-r", "attanet:__node:=seg"]
    user, ros = split_ros_args(argv)
    assert user == ["prog", "--help", "--user-flag"]
    assert ros.params_files == ["a.yaml"] and ros.params == [("", "mode", "-p mode:=replay")]
    assert fully_qualified_name(ros, "attanet") == "/front/seg"  # 'other:' addresses another node
    assert fully_qualified_name(split_ros_args([])[1], "attanet") == "/attanet"
    first_wins = split_ros_args(["--ros-args", "-r", "__ns:=/a", "-r", "__ns:=/b", "-r", "__node:=n"])[1]
    assert fully_qualified_name(first_wins, "attanet") == "/a/n"


@pytest.mark.parametrize(
    "pattern, fqn, matches",
    [
        ("/**", "/t/attanet", True),
        ("/**", "/attanet", True),
        ("/t/attanet", "/t/attanet", True),
        ("attanet", "/attanet", True),
        ("attanet", "/t/attanet", False),
        ("/*/attanet", "/t/attanet", True),
        ("/*/attanet", "/a/b/attanet", False),
        ("/**/attanet", "/a/b/attanet", True),
        ("/t/att*", "/t/attanet", True),
        ("/camera_driver", "/t/attanet", False),
    ],
)
def test_node_patterns(pattern, fqn, matches):
    assert node_pattern_matches(pattern, fqn) is matches


def test_sections_nested_and_dotted(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("t:\n  attanet:\n    ros__parameters:\n      mode: live\n      qos_overrides:\n        x: 1\n")
    assert params_file_sections(str(f)) == {"/t/attanet": {"mode": "live", "qos_overrides.x": 1}}


def test_unknown_keys_only_for_this_node_with_suggestions(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    use_sim_time: true\n    input_dept: 3\n"
        "/other:\n  ros__parameters:\n    whatever: 1\n"
    )
    argv = ["--ros-args", "--params-file", str(f), "-p", "other:fps:=3", "-p", "attanet:xyzzy:=1"]
    problems, warnings = command_line_problems(argv, "attanet", KNOWN)
    assert warnings == []
    assert problems == [
        f"unknown parameter(s) for /attanet: 'input_dept' ({f}, /**), did you mean 'input_depth'?; "
        "'xyzzy' (-p attanet:xyzzy:=1) (`attanet_node --help` lists the parameters)"
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, "does not exist"),
        ("", "holds no node sections"),
        ("/**:\n  params:\n    mode: live\n", "has no 'ros__parameters' section"),
        ("/**:\n  ros__parameters: [1, 2]\n", "ros__parameters must be a mapping"),
        ("/**:\n  ros__parameters:\n\tmode: live\n", "is not valid YAML at line 3"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, text, expected):
    f = tmp_path / "p.yaml"
    if text is not None:
        f.write_text(text)
    problems, _ = command_line_problems(["--ros-args", "--params-file", str(f)], "attanet", KNOWN)
    assert len(problems) == 1 and expected in problems[0] and str(f) in problems[0]


def test_rcl_error_line_drops_source_locations():
    text = "failed to initialize rcl: Couldn't parse params file: 'x'. Error: bad, at /p/src/parse.c:435, at /a.c:4"
    assert rcl_error_line(RuntimeError(text)) == "failed to initialize rcl: Couldn't parse params file: 'x'. Error: bad"
