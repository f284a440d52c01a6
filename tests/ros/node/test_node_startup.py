"""A node that cannot run must say why in one line and exit non-zero, not hang or traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from ros_harness import NodeProcess, domain_for

from attanet_ros.node.params import PARAMETERS


@pytest.mark.parametrize(
    "params, params_text, expected",
    [
        ({"overlay_alpha": 2.0}, None, "parameter overlay_alpha=2.0 must be in [0, 1]"),
        ({"model_path": "/no/such/model.pt"}, None, "cannot load the model: model file not found: /no/such/model.pt"),
        (None, "mode: fast\n    network_height: 100\n", "parameter mode='fast' must be one of ['live', 'replay']"),
        (
            {"backend": "onnxruntime", "precision": "bf16"},
            None,
            "precision 'bf16' with onnxruntime on the CPU would run fp32",
        ),
    ],
    ids=["bad-value", "missing-model", "bad-params-file", "bf16-that-would-run-fp32"],
)
def test_startup_failure_exits_2_with_a_clear_message(tmp_path, params, params_text, expected):
    params_file = None
    if params_text:
        params_file = tmp_path / "bad.yaml"
        params_file.write_text("/**:\n  ros__parameters:\n    " + params_text)
    node = NodeProcess(domain_for(2), params=params, params_file=params_file)
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    output = node.output()
    assert rc == 2, output
    assert expected in output
    assert "Traceback" not in output
    if params_text:
        assert "network_height=100 must be 0 (by scale) or a positive multiple of 32" in output  # all problems at once


def _one_line(output: str) -> str:
    """The node's own error line (rcl may add its own '[ERROR] [rcl]' line before it)."""
    ours = [line for line in output.splitlines() if line.startswith("attanet_node:")]
    assert len(ours) == 1, output
    assert "Traceback" not in output, output
    return ours[0]


def test_every_params_file_and_p_problem_is_said_in_one_line_exit_2(tmp_path):
    """Before ROS starts: a missing file, a malformed one, typos in '/**' and in the node's own
    section, a typo in -p; all in one line (one process: each node start costs seconds)."""
    files = {
        "typo.yaml": "/**:\n  ros__parameters:\n    confidence_treshold: 0.5\n",
        "mine.yaml": "/t/attanet:\n  ros__parameters:\n    outputs: [labels]\n    overlay_alhpa: 0.3\n",
        "broken.yaml": "/**:\n  ros__parameters:\n    outputs: [labels\n",
    }
    extra = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        extra += ["--params-file", str(tmp_path / name)]
    extra += ["--params-file", "/no/such/params.yaml"]
    node = NodeProcess(domain_for(2), params={"input_dept": 3}, params_file=None, extra_args=extra)
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    assert rc == 2, node.output()
    line = _one_line(node.output())
    for expected in (
        f"params file {tmp_path / 'broken.yaml'} is not valid YAML at line 4",
        "params file /no/such/params.yaml does not exist",
        "unknown parameter(s) for /t/attanet: 'input_dept' (-p input_dept:=3), did you mean 'input_depth'?",  # -p first
        f"'confidence_treshold' ({tmp_path / 'typo.yaml'} line 3, /**), did you mean 'confidence_threshold'?",
        f"'overlay_alhpa' ({tmp_path / 'mine.yaml'} line 4, /t/attanet), did you mean 'overlay_alpha'?",
    ):
        assert expected in line, line


@pytest.mark.parametrize(
    "params, extra, expected",
    [
        (  # what only rcl checks: its own arguments
            None,
            ["--log-level", "loud"],
            "cannot start: failed to initialize rcl: Couldn't parse log level: '--log-level loud'. "
            "Error: Argument does not use a valid severity level",
        ),
        (  # the ONNX graph has no attention output: refused before anything starts, not failing every frame
            {"model_path": "/models/attanet.onnx", "outputs": ["labels", "attention"]},
            [],
            "output 'attention' needs the torch network, but model_path '/models/attanet.onnx' is an ONNX file",
        ),
    ],
    ids=["rcl-refuses-an-argument", "onnx-attention"],
)
def test_start_up_refusals_exit_2_with_one_line(params, extra, expected):
    node = NodeProcess(domain_for(2), params=params, extra_args=extra)
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    assert rc == 2, node.output()
    assert expected in _one_line(node.output())


def test_a_second_params_file_with_wrongly_typed_values_stops_the_node(tmp_path):
    """The documented layering (a user file over the shipped one): rcl would keep the shipped values of
    the other type without a word; the node names the file, line, key and value instead."""
    second = tmp_path / "site.yaml"
    second.write_text('/**:\n  ros__parameters:\n    replay_queue: 2.5\n    overlay_alpha: "abc"\n')
    node = NodeProcess(domain_for(2), extra_args=["--params-file", str(second)])  # after config/attanet.yaml
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    assert rc == 2, node.output()
    line = _one_line(node.output())
    assert f"parameter replay_queue=2.5 must be an integer, got 2.5 ({second} line 3, /**)" in line
    assert f"parameter overlay_alpha='abc' must be a number, got 'abc' ({second} line 4, /**)" in line


def test_an_alias_bomb_and_a_repeated_key_are_refused_in_one_line(tmp_path):
    """An alias bomb (10**12 parameters if expanded: the node could not answer if anything expanded it)
    and a key written twice (PyYAML keeps the last, rcl the first one's type) stop the node at once."""
    from test_ros_args import billion_laughs

    bomb, twice = tmp_path / "bomb.yaml", tmp_path / "twice.yaml"
    bomb.write_text(billion_laughs())
    twice.write_text("/**:\n  ros__parameters:\n    overlay_alpha: 1\n    mode: live\n    overlay_alpha: 0.5\n")
    node = NodeProcess(domain_for(2), extra_args=["--params-file", str(bomb), "--params-file", str(twice)])
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    assert rc == 2, node.output()
    line = _one_line(node.output())
    assert f"params file {bomb} line 4: uses the YAML alias *l0; rcl refuses aliases" in line
    assert f"params file {twice} line 5: repeats key 'overlay_alpha' of line 3" in line


def test_params_file_by_full_name_and_p_overrides_both_apply(tmp_path):
    """The node's own section ('/t/attanet'), a '-p' override on top, and a file for other nodes only
    (said, not fatal): what the node logs at start shows which values it runs with."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("/t/attanet:\n  ros__parameters:\n    mode: replay\n    outputs: [labels, color]\n")
    others = tmp_path / "others.yaml"
    others.write_text("/camera_driver:\n  ros__parameters:\n    fps: 30\n")
    node = NodeProcess(
        domain_for(2),
        params={"outputs": ["labels", "confidence"]},
        params_file=mine,
        extra_args=["--params-file", str(others)],
    )
    try:
        end = time.monotonic() + 90
        while "segmenting" not in node.output() and node.proc.poll() is None and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        rc = node.stop()
    output = node.output()
    assert rc == 0, output
    assert "mode replay, outputs labels, confidence" in output
    assert f"params file {others} has no section for this node (/t/attanet)" in output


def test_help_lists_every_parameter_and_starts_no_ros():
    env = dict(os.environ, ROS_DOMAIN_ID="999")  # rclpy.init would fail on this domain id
    done = subprocess.run(
        [sys.executable, "-m", "attanet_ros.node", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for spec in PARAMETERS:
        assert f"  {spec.name} (" in done.stdout
        assert spec.description in done.stdout
    assert "confidence_threshold (float, default 0.0; run-time changeable)" in done.stdout
    assert "mode (str, default 'live'; one of 'live', 'replay')" in done.stdout


def test_damaged_checkpoint_stops_the_node_at_startup(tmp_path):
    """Bytes flipped inside a tensor record (the zip still opens): refused, not run as garbage."""
    import shutil

    from damaged_files import flip_tensor_bytes

    from attanet_model import default_model_path

    model = tmp_path / "damaged.pt"
    shutil.copy(default_model_path(), model)
    member = flip_tensor_bytes(model)
    node = NodeProcess(domain_for(2), params={"model_path": str(model)})
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    output = node.output()
    assert rc == 2, output
    assert f"cannot load the model: model file {model} is corrupt: archive member '{member}' fails its CRC-32" in output
    assert "Traceback" not in output
