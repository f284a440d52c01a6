"""Model files that are well-formed but wrong stop the node at start-up (exit 2, one line), not at
the first frame: NaN weights behind a valid hash made it publish every pixel as class 0, and an
ONNX file whose metadata lists fewer classes than its graph outputs made it publish ids its
~/class_info lacks."""

from __future__ import annotations

import pytest
import torch
from ros_harness import NodeProcess, domain_for

from attanet_model import ModelMeta, build_model, save_checkpoint
from attanet_model.atomic_write import write_bytes_atomic
from attanet_model.classes import generic_classes
from attanet_model.onnx_export import META_KEY, sealed_model_bytes


def _nan_checkpoint(tmp_path):
    model = build_model("attanet_light", num_classes=19).eval()
    with torch.no_grad():
        model.head[2].weight[0, 0, 0, 0] = float("nan")
    path = save_checkpoint(tmp_path / "diverged.pt", model, ModelMeta.for_model(model, "attanet_light"))
    return path, f"cannot load the model: model file {path} has unusable weights: head.2.weight holds 1 NaN value"


def _onnx_listing_fewer_classes(tmp_path):
    """A 19-output graph (one 1x1 conv) whose metadata lists 5 classes, with a valid hash."""
    import json

    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((19, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 19, "height", "width"])],
        [numpy_helper.from_array(weight, "w")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    meta = ModelMeta.for_model(build_model("attanet_light", num_classes=5), "attanet_light", generic_classes(5))
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps({**meta.to_dict(), "onnx": {"argmax": False}})
    path = write_bytes_atomic(tmp_path / "five.onnx", sealed_model_bytes(proto))
    return (
        path,
        f"cannot load the model: {path}: class count mismatch: the metadata lists 5 classes but the graph outputs 19",
    )


@pytest.mark.parametrize("make", [_nan_checkpoint, _onnx_listing_fewer_classes], ids=["nan-weights", "onnx-classes"])
def test_a_model_that_would_publish_garbage_stops_the_node_at_startup(tmp_path, make):
    model, expected = make(tmp_path)
    node = NodeProcess(domain_for(2), params={"model_path": str(model)})
    try:
        rc = node.wait(90)
    finally:
        node.stop()
    output = node.output()
    assert rc == 2, output
    assert expected in output
    assert "Traceback" not in output
