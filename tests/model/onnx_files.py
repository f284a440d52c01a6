"""Small real ONNX files for the tests of ONNX Runtime's paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

from attanet_model import ModelMeta
from attanet_model.onnx_export import META_KEY


def write_tiny_onnx(meta: ModelMeta, path: Path) -> Path:
    """A real ONNX file with ``meta`` and a 1x1-conv "network": ONNX Runtime's frame and provider
    paths are the same for any graph, and this one is written in milliseconds (exporting AttaNet
    takes ~25 s)."""
    weight = np.random.default_rng(0).standard_normal((len(meta.classes), 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(meta.classes), "height", "width"])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps({**meta.to_dict(), "onnx": {"argmax": False}})
    save(model, str(path))
    return path
