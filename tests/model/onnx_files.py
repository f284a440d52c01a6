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


def conv_weight_ints(path: Path) -> list[np.ndarray]:
    """The int8 weights of every quantized Conv of a QDQ file, as stored (the DequantizeLinear feeding its weight)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    stored = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    ints = []
    for node in graph.node:
        dq = producer.get(node.input[1]) if node.op_type == "Conv" else None
        if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in stored:
            ints.append(stored[dq.input[0]])
    return ints
