"""A node that cannot run must say why in one line and exit non-zero, not hang or traceback."""

from __future__ import annotations

import pytest
from ros_harness import NodeProcess, domain_for


@pytest.mark.parametrize(
    "params, params_text, expected",
    [
        ({"overlay_alpha": 2.0}, None, "parameter overlay_alpha=2.0 must be in [0, 1]"),
        ({"model_path": "/no/such/model.pt"}, None, "cannot load the model: model file not found: /no/such/model.pt"),
        (None, "mode: fast\n    network_height: 100\n", "parameter mode='fast' must be one of ['live', 'replay']"),
        (
            {"torch_compile": "max-autotune"},
            None,
            "torch_compile='max-autotune' needs backend 'torch' on device 'cuda'",
        ),
    ],
    ids=["bad-value", "missing-model", "bad-params-file", "compile-on-cpu"],
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
