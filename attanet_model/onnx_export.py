"""ONNX export with dynamic height/width and the model's metadata embedded.

The graph takes ``input``: float32 Bx3xHxW RGB normalized with the model's mean/std (any H, W;
they are padded up to a multiple of 32 inside the graph and the output cropped back), and
returns either ``logits`` (BxKxHxW) or, with ``argmax=True``, ``labels`` (BxHxW uint8) and
``confidence`` (BxHxW float32, the max softmax). The checkpoint's ModelMeta is stored as JSON in
the model's ``metadata_props`` under ``attanet_meta``, so an .onnx file is as self-describing
as a checkpoint.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import CheckpointError, ModelMeta
from .network import AttaNet
from .preprocess import STRIDE

META_KEY = "attanet_meta"


class ExportGraph(nn.Module):
    """Pad to a multiple of 32, run the network, crop, optionally reduce to labels."""

    def __init__(self, model: AttaNet, argmax: bool) -> None:
        super().__init__()
        self.model = model
        self.argmax = argmax

    def forward(self, x: Tensor):
        h, w = x.shape[2], x.shape[3]
        pad_h = (STRIDE - h % STRIDE) % STRIDE
        pad_w = (STRIDE - w % STRIDE) % STRIDE
        logits = self.model(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")).logits[:, :, :h, :w]
        if not self.argmax:
            return logits
        return labels_and_confidence(logits)


def labels_and_confidence(logits: Tensor) -> tuple[Tensor, Tensor]:
    """argmax as uint8 and the max softmax probability, without materializing the softmax."""
    top, labels = logits.max(dim=1)
    confidence = 1.0 / torch.exp(logits - top.unsqueeze(1)).sum(dim=1)
    return labels.to(torch.uint8), confidence


def export_onnx(
    model: AttaNet,
    meta: ModelMeta,
    out: str | Path,
    *,
    argmax: bool = False,
    opset: int = 18,
    sample_size: tuple[int, int] = (256, 512),
) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = ExportGraph(model.eval().float(), argmax).eval()
    sample = torch.randn(1, 3, *sample_size)
    batch, height, width = torch.export.Dim("batch", max=64), torch.export.Dim.DYNAMIC, torch.export.Dim.DYNAMIC
    outputs = ["labels", "confidence"] if argmax else ["logits"]
    # The exporter logs a warning per missing torchvision op; this network uses none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph,
            (sample,),
            input_names=["input"],
            output_names=outputs,
            opset_version=opset,
            dynamic_shapes={"x": {0: batch, 2: height, 3: width}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    import onnx

    proto = program.model_proto
    meta_dict = meta.to_dict()
    meta_dict["onnx"] = {"argmax": argmax, "input_layout": "NCHW RGB float32 normalized"}
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta_dict)
    proto.producer_name = "attanet"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


def read_onnx_meta(path: str | Path) -> tuple[ModelMeta, dict]:
    """(ModelMeta, onnx-specific dict) from an exported file; CheckpointError if it has none."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX model file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable ONNX model: {exc}") from exc
    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise CheckpointError(f"{path} has no '{META_KEY}' metadata; export it with `attanet export`")
    d = json.loads(props[META_KEY])
    return ModelMeta.from_dict(d), d.get("onnx", {})
