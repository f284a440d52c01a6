"""The command line as rcl reads it: which params-file sections and -p overrides reach the node, with
which types and which value wins (checked against a real rclpy node), and what is refused."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from ros_harness import domain_for, ros_env

from attanet_ros.node.param_layers import merge
from attanet_ros.node.params import PARAMETERS
from attanet_ros.node.params_yaml import parse_params_yaml
from attanet_ros.node.ros_args import (
    command_line_problems,
    command_line_sources,
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
        f"unknown parameter(s) for /attanet: 'input_dept' ({f} line 4, /**), did you mean 'input_depth'?; "
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


PROBE = Path(__file__).with_name("rcl_params_probe.py")


def rclpy_values(scenarios: list[dict]) -> list[dict]:
    """What a real rclpy node named 'attanet' gets in each scenario ({"args", "names"}), one process."""
    done = subprocess.run(
        [sys.executable, str(PROBE)],
        input=json.dumps(scenarios),
        env=ros_env(domain_for(2)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _same(a, b) -> bool:
    """Equal values of equal types (True is not 1, 1 is not 1.0; nan equals nan)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


SCALARS = {  # YAML text -> what rcl makes of it (PyYAML's safe_load disagrees on most of these)
    "y": True,
    "off": False,
    "010": 8,
    "0x10": 16,
    "+5": 5,
    "1e3": 1000.0,
    "5.": 5.0,
    "-0.5e-2": -0.005,
    ".inf": math.inf,
    "nan": math.nan,
    "0x1p3": 8.0,
    "99999999999999999999": 1e20,
    "1e999": "1e999",
    "1_000": "1_000",
    "null": "null",
    "~": "~",
    "1:30": "1:30",
    '"1"': "1",
    "'true'": "true",
    "!!str 1": "1",
    "[1.5, 2.5]": [1.5, 2.5],
    "[a, b]": ["a", "b"],
}


def test_values_are_typed_as_rcl_types_them(tmp_path):
    names = [f"p{i}" for i in range(len(SCALARS))]
    text = "/**:\n  ros__parameters:\n" + "".join(f"    {n}: {v}\n" for n, v in zip(names, SCALARS, strict=True))
    f = tmp_path / "typed.yaml"
    f.write_text(text)
    ours = {e.name: e.value for e in parse_params_yaml(text, "typed.yaml")}
    (rcl,) = rclpy_values([{"args": ["--params-file", str(f)], "names": names}])
    for name, (yaml_text, want) in zip(names, SCALARS.items(), strict=True):
        assert _same(rcl[name], want), (yaml_text, rcl[name])  # the table above is rcl's behaviour
        assert _same(ours[name], want), (yaml_text, ours[name])


LAYERS = {  # file name -> text; scenarios below stack them
    "shipped": "/**:\n  ros__parameters:\n    a: 8\n    b: 0.5\n    c: [front]\n    d: live\n",
    "user": "/**:\n  ros__parameters:\n    a: 2.5\n    b: 1\n    c: []\n    d: replay\n",
    "mine": "/attanet:\n  ros__parameters:\n    a: 3\n    d: mine\n",
    "late": "/**:\n  ros__parameters:\n    a: 4\n    d: late\n",
    "two_docs": "/**:\n  ros__parameters:\n    a: 1\n---\n/**:\n  ros__parameters:\n    a: 6\n",
}
SCENARIOS = [  # files in command-line order, with -p arguments between them
    ["shipped", "user"],  # a: 8 kept (integer before double), c: [front] kept ([] clears nothing)
    ["shipped", "-p", "b:=0.25", "-p", "a:=7"],  # same types: the later wins
    ["shipped", "-p", "a:=7.5"],  # an integer beside a later double: rcl reads the integer
    ["-p", "a:=9", "shipped"],  # the file comes after the -p: the file wins
    ["shipped", "mine", "late"],  # /attanet first seen after /**: it wins over the later /**
    ["mine", "shipped", "late"],  # /attanet first seen before /**: the later /** wins
    ["two_docs"],  # a file of two YAML documents: the second is a later layer
]


def test_the_merge_is_what_rclpy_gives_the_node(tmp_path):
    """For every layering, ``merge`` predicts exactly what a real rclpy node reads, and says where
    that is not "the later value wins"."""
    for name, text in LAYERS.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    argvs = []
    for scenario in SCENARIOS:
        args, items = [], iter(scenario)
        for item in items:
            args += ["-p", next(items)] if item == "-p" else ["--params-file", str(tmp_path / f"{item}.yaml")]
        argvs.append(args)
    names = ["a", "b", "c", "d"]
    rcl = rclpy_values([{"args": args, "names": names} for args in argvs])
    predicted = []
    for args in argvs:
        sources, problems, _ = command_line_sources(split_ros_args(["--ros-args", *args])[1], "/attanet")
        assert problems == []
        merged = merge(sources, lambda key: node_pattern_matches(key, "/attanet"))
        predicted.append({n: merged.values[n].value if merged.values.get(n) else None for n in names})
        if args == argvs[0]:
            assert [p.split(" ", 1)[0] for p in merged.problems] == ["a=2.5", "c=[]"]
            assert "rcl keeps an integer beside a later double" in merged.problems[0]
        if args == argvs[4]:
            assert any(w.startswith("a=4 (") and "is overridden by a=3" in w for w in merged.warnings)
    for scenario, ours, theirs in zip(SCENARIOS, predicted, rcl, strict=True):
        theirs = {n: (v if v != [] else None) for n, v in theirs.items()}
        assert all(_same(ours[n], theirs[n]) for n in names), (scenario, ours, theirs)
    assert (
        rcl[0]["a"] == 8 and rcl[1]["a"] == 7 and rcl[2]["a"] == 8 and rcl[4]["d"] == "mine" and rcl[5]["d"] == "late"
    )


def test_a_second_params_file_is_checked_like_the_first(tmp_path):
    second = tmp_path / "second.yaml"
    second.write_text('/**:\n  ros__parameters:\n    replay_queue: 2.5\n    overlay_alpha: "abc"\n')
    argv = ["--ros-args", "--params-file", "config/attanet.yaml", "--params-file", str(second)]
    problems, _ = command_line_problems(argv, "attanet")
    assert problems == [
        f"parameter replay_queue=2.5 must be an integer, got 2.5 ({second} line 3, /**)",
        f"parameter overlay_alpha='abc' must be a number, got 'abc' ({second} line 4, /**)",
    ]


def test_a_later_value_rcl_would_not_let_win_is_refused(tmp_path):
    ints = tmp_path / "ints.yaml"
    ints.write_text("/**:\n  ros__parameters:\n    overlay_alpha: 1\n")
    argv = ["--ros-args", "--params-file", str(ints), "-p", "overlay_alpha:=0.3"]
    (problem,), _ = command_line_problems(argv, "attanet")
    assert problem.startswith(
        f"overlay_alpha=0.3 (-p overlay_alpha:=0.3) does not replace overlay_alpha=1 ({ints} line 3, /**)"
    )
    assert problem.endswith("so the node would run with 1; write both with the same type (e.g. 1.0, not 1)")
    # the other way round works in rcl (the integer is read first and is the later value): accepted
    assert command_line_problems(
        ["--ros-args", "--params-file", "config/attanet.yaml", "-p", "overlay_alpha:=1"], "attanet"
    ) == ([], [])


def test_rules_between_parameters_are_checked_on_the_merged_values(tmp_path):
    argv = ["--ros-args", "--params-file", "config/attanet.yaml", "-p", "warmup_height:=64"]
    problems, _ = command_line_problems(argv, "attanet")
    assert problems == [
        "warmup_height=64 and warmup_width=0: set both (the camera's frame size) or neither "
        "(all params files and -p merged)"
    ]


def test_a_p_prefix_for_the_node_without_its_namespace_is_said(tmp_path):
    argv = ["--ros-args", "-r", "__ns:=/front", "-p", "attanet:overlay_alpha:=0.3"]
    problems, warnings = command_line_problems(argv, "attanet")
    assert problems == [] and warnings == [
        "-p attanet:overlay_alpha:=0.3 addresses node /attanet, not this node (/front/attanet), so rcl does not "
        "apply it; leave out 'attanet:'"
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "/**:\n  ros__parameters:\n    overlay_alpha: 1\n    mode: live\n    overlay_alpha: 0.5\n",
            "line 5: repeats key 'overlay_alpha' of line 3",
        ),
        (
            "/**:\n  ros__parameters:\n    mode: live\n/**:\n  ros__parameters: {}\n",
            "line 4: repeats key '/**' of line 1",
        ),
        ("/**:\n  ros__parameters:\n    outputs: [labels, 1]\n", "line 3: a list mixes integer and string values"),
        ("/**:\n  ros__parameters:\n    outputs: [[labels]]\n", "line 3: a list holds a list or a mapping"),
        ("/**:\n  ros__parameters:\n    mode:\n", "line 3: a key has no value"),
        ("/**:\n  ros__parameters:\n    a: &x live\n    mode: *x\n", "line 4: uses the YAML alias *x; rcl refuses"),
        ("".join(f"{'  ' * i}a{i}:\n" for i in range(40)), "nests deeper than 32 levels"),
    ],
    ids=["repeated-parameter", "repeated-section", "mixed-list", "nested-list", "no-value", "alias", "deep"],
)
def test_what_rcl_refuses_or_resolves_silently_is_refused_with_its_line(tmp_path, text, expected):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    problems, _ = command_line_problems(["--ros-args", "--params-file", str(f)], "attanet", KNOWN)
    assert len(problems) == 1 and problems[0].startswith(f"params file {f} ") and expected in problems[0], problems


def billion_laughs(levels: int = 12) -> str:
    """A params file whose aliased parameter groups expand to 10**levels parameters if anything expanded
    them (the check before this one flattened them: it never finished)."""
    lines = ["/**:", "  ros__parameters:", "    l0: &l0 {" + ", ".join(f"p{j}: 1" for j in range(10)) + "}"]
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} {{" + ", ".join(f"k{j}: *l{i - 1}" for j in range(10)) + "}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_its_first_alias(tmp_path):
    """10**12 parameters once expanded: this test could not finish if the check expanded anything."""
    f = tmp_path / "bomb.yaml"
    f.write_text(billion_laughs())
    problems, _ = command_line_problems(["--ros-args", "--params-file", str(f)], "attanet")
    assert problems == [
        f"params file {f} line 4: uses the YAML alias *l0; rcl refuses aliases: write the value out instead"
    ]
