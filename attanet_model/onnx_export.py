"""ONNX export with dynamic height/width and the model's metadata embedded.

The graph takes ``input``: float32 Bx3xHxW RGB normalized with the model's mean/std (any H, W;
they are padded up to a multiple of 32 inside the graph and the output cropped back), and
returns either ``logits`` (BxKxHxW) or, with ``argmax=True``, ``labels`` (BxHxW uint8) and
``confidence`` (BxHxW float32, the max softmax). The checkpoint's ModelMeta is stored as JSON in
the model's ``metadata_props`` under ``attanet_meta``, so an .onnx file is as self-describing
as a checkpoint. A SHA-256 of every initializer (the weights) is stored beside it under
``attanet_weights_sha256`` and checked on load: protobuf has no checksum, so flipped bytes in a
weight tensor would otherwise load and run.
"""

from __future__ import annotations

import hashlib
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
MIN_OPSET = 18  # the dynamo exporter's own opset; older ones fail its down-converter for this graph
WEIGHTS_HASH_KEY = "attanet_weights_sha256"


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
        logits = self.model(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"))[:, :, :h, :w]
        if not self.argmax:
            return logits
        return labels_and_confidence(logits)


def labels_and_confidence(logits: Tensor) -> tuple[Tensor, Tensor]:
    """argmax as uint8 and the max softmax probability, without materializing the softmax."""
    top, labels = logits.max(dim=1)
    confidence = 1.0 / torch.exp(logits - top.unsqueeze(1)).sum(dim=1)
    return labels.to(torch.uint8), confidence


def supported_opsets() -> range:
    """Opsets ``export_onnx`` can write: from the exporter's minimum to the newest the installed onnx knows."""
    import onnx

    return range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1)


def written_opset(proto) -> int:
    """The default-domain (ai.onnx) opset a model imports."""
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def export_onnx(
    model: AttaNet,
    meta: ModelMeta,
    out: str | Path,
    *,
    argmax: bool = False,
    opset: int = 18,
    sample_size: tuple[int, int] = (256, 512),
) -> Path:
    """Write ``model`` as ONNX at exactly ``opset`` (ValueError when it is outside ``supported_opsets()``
    or the exporter cannot convert the graph to it; nothing is written then)."""
    supported = supported_opsets()
    if opset not in supported:
        raise ValueError(
            f"opset {opset} cannot be written: the torch exporter produces opsets {supported.start}.."
            f"{supported.stop - 1} (from its own opset up to the newest the installed onnx package knows)"
        )
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
    # Below its own opset the exporter falls back to the opset it started from when the
    # down-conversion fails (with only a log line); never write a file that says otherwise.
    if written_opset(proto) != opset:
        raise ValueError(
            f"the torch exporter could not convert the graph to opset {opset} (it produced opset "
            f"{written_opset(proto)}); nothing was written to {out}"
        )
    meta_dict = meta.to_dict()
    meta_dict["onnx"] = {"argmax": argmax, "input_layout": "NCHW RGB float32 normalized"}
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta_dict)
    proto.producer_name = "attanet"
    set_weights_hash(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


def weights_hash(proto) -> str:
    """SHA-256 over every initializer's name, data type, dims and values (in name order)."""
    from onnx import numpy_helper

    digest = hashlib.sha256()
    for init in sorted(proto.graph.initializer, key=lambda i: i.name):
        digest.update(f"{init.name}|{init.data_type}|{tuple(init.dims)}|".encode())
        digest.update(numpy_helper.to_array(init).tobytes())
    return digest.hexdigest()


def set_weights_hash(proto) -> None:
    """Store (or replace) the weights hash in ``metadata_props``; call after the last change to the weights."""
    for i in reversed(range(len(proto.metadata_props))):
        if proto.metadata_props[i].key == WEIGHTS_HASH_KEY:
            del proto.metadata_props[i]
    entry = proto.metadata_props.add()
    entry.key, entry.value = WEIGHTS_HASH_KEY, weights_hash(proto)


def read_onnx_meta(path: str | Path) -> tuple[ModelMeta, dict]:
    """(ModelMeta, onnx-specific dict) from an exported file, its weights hash verified when it has
    one (files exported before the hash existed have none); CheckpointError if it has no metadata."""
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
    if WEIGHTS_HASH_KEY in props:
        try:
            got = weights_hash(proto)
        except Exception as exc:  # a damaged tensor record (wrong length for its dims, ...)
            raise CheckpointError(f"ONNX model {path} is corrupt: its weights cannot be read ({exc})") from exc
        if got != props[WEIGHTS_HASH_KEY]:
            raise CheckpointError(
                f"ONNX model {path} is corrupt: the sha256 of its weights is {got[:16]}..., exported as "
                f"{props[WEIGHTS_HASH_KEY][:16]}... (damaged or modified after export); copy it again or re-export it"
            )
    try:
        d = json.loads(props[META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its '{META_KEY}' metadata is not valid JSON ({exc})") from exc
    return ModelMeta.from_dict(d), d.get("onnx", {})
