"""ONNX export with dynamic height/width and the model's metadata embedded.

The graph takes ``input``: float32 Bx3xHxW RGB normalized with the model's mean/std (any H, W;
they are padded up to a multiple of 32 inside the graph and the output cropped back), and
returns one of (``output``):

- ``logits`` (BxKxHxW), the network's output at the input's size;
- ``labels`` (BxHxW uint8) and ``confidence`` (BxHxW float32, the max softmax): the full-size
  argmax in the graph (``attanet export --argmax --head graph``), for runtimes that run the graph
  alone (TensorRT, a GPU);
- ``coarse_logits`` (BxKx(Hp/8)x(Wp/8)): the head's logits before the network's final upsample,
  Hp x Wp the input padded to a multiple of 32. What this project's CPU engines run
  (``attanet export --argmax``): ``head.LabelHead`` upsamples them (bilinear, align_corners=True)
  to Hp x Wp, crops H x W and takes the argmax, computing the full-size logits only where a coarse
  cell's corners disagree (``head.py``); that upsample + argmax costs more than the network on a CPU.
  The metadata's ``onnx`` entry says so: ``output``, ``pad_multiple``, ``upsample``.

The checkpoint's ModelMeta is stored as JSON in
the model's ``metadata_props`` under ``attanet_meta``, so an .onnx file is as self-describing
as a checkpoint.

Integrity: protobuf has no checksum, so flipped bytes in a weight, an edited graph or edited
class names would load and run. ``attanet_sha256`` beside the metadata is the SHA-256 of the
whole serialized model with that entry's own value blanked (64 zeros, the same length, so
nothing else moves): weights, graph and every other metadata entry. ``read_onnx_meta`` checks
it, the weights (finite) and that the graph's class dimension is the metadata's class count.
Files exported before that hash carry ``attanet_weights_sha256`` (the initializers only): it
is still checked, with a warning that the rest is not.
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

from .atomic_write import write_bytes_atomic
from .checkpoint import CheckpointError, ModelMeta
from .integrity import warn_unsealed, weights_problem
from .network import AttaNet
from .preprocess import STRIDE

META_KEY = "attanet_meta"
MIN_OPSET = 18  # the dynamo exporter's own opset; older ones fail its down-converter for this graph
HASH_KEY = "attanet_sha256"  # the serialized model with this entry's value blanked
WEIGHTS_HASH_KEY = "attanet_weights_sha256"  # files exported before HASH_KEY: the initializers only
_BLANK_HASH = "0" * 64


GRAPH_OUTPUTS = {"logits": ["logits"], "labels": ["labels", "confidence"], "coarse_logits": ["coarse_logits"]}
COARSE_UPSAMPLE = "bilinear align_corners=True to the input padded to pad_multiple, then cropped to the input"


class ExportGraph(nn.Module):
    """Pad to a multiple of 32, run the network; then crop (``logits``), crop and reduce to labels
    (``labels``), or stop at the coarse logits (``coarse_logits``)."""

    def __init__(self, model: AttaNet, argmax: bool = False, output: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.output = output or ("labels" if argmax else "logits")
        if self.output not in GRAPH_OUTPUTS:
            raise ValueError(f"graph output {self.output!r} is not one of {', '.join(GRAPH_OUTPUTS)}")

    def forward(self, x: Tensor):
        h, w = x.shape[2], x.shape[3]
        pad_h = (STRIDE - h % STRIDE) % STRIDE
        pad_w = (STRIDE - w % STRIDE) % STRIDE
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if self.output == "coarse_logits":
            return self.model.coarse_logits(padded)[0]
        logits = self.model(padded).logits[:, :, :h, :w]
        if self.output == "logits":
            return logits
        return labels_and_confidence(logits)


def graph_output(info: dict) -> str:
    """What a file's graph returns, from its metadata's ``onnx`` entry (files exported before
    ``output`` existed say ``argmax`` only)."""
    return info.get("output") or ("labels" if info.get("argmax") else "logits")


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
    output: str | None = None,
    opset: int = 18,
    sample_size: tuple[int, int] = (256, 512),
) -> Path:
    """Write ``model`` as ONNX at exactly ``opset`` (ValueError when it is outside ``supported_opsets()``
    or the exporter cannot convert the graph to it; nothing is written then). The file is written
    atomically: ``OutputError`` (a ValueError) names it and the cause when it cannot be. ``output``: one of
    ``GRAPH_OUTPUTS`` (default ``labels`` with ``argmax``, else ``logits``)."""
    supported = supported_opsets()
    if opset not in supported:
        raise ValueError(
            f"opset {opset} cannot be written: the torch exporter produces opsets {supported.start}.."
            f"{supported.stop - 1} (from its own opset up to the newest the installed onnx package knows)"
        )
    out = Path(out)
    graph = ExportGraph(model.eval().float(), argmax, output).eval()
    sample = torch.randn(1, 3, *sample_size)
    batch, height, width = torch.export.Dim("batch", max=64), torch.export.Dim.DYNAMIC, torch.export.Dim.DYNAMIC
    outputs = GRAPH_OUTPUTS[graph.output]
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
    meta_dict["onnx"] = {
        "argmax": graph.output == "labels",
        "output": graph.output,
        "input_layout": "NCHW RGB float32 normalized",
    }
    if graph.output == "coarse_logits":
        meta_dict["onnx"] |= {"pad_multiple": STRIDE, "upsample": COARSE_UPSAMPLE}
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta_dict)
    proto.producer_name = "attanet"
    onnx.checker.check_model(proto)
    return write_bytes_atomic(out, sealed_model_bytes(proto))


def sealed_model_bytes(proto) -> bytes:
    """``proto`` serialized with its integrity hash set (replacing any older one); call after the last change."""
    for i in reversed(range(len(proto.metadata_props))):
        if proto.metadata_props[i].key in (HASH_KEY, WEIGHTS_HASH_KEY):
            del proto.metadata_props[i]
    entry = proto.metadata_props.add()
    entry.key, entry.value = HASH_KEY, _BLANK_HASH
    entry.value = hashlib.sha256(proto.SerializeToString()).hexdigest()
    return proto.SerializeToString()


def model_hash(data: bytes, stored: str) -> str | None:
    """The SHA-256 of a serialized model whose hash entry holds ``stored``, that entry blanked; None
    when the entry is not found exactly once (a malformed file)."""
    record = _hash_entry(stored)
    if data.count(record) != 1:
        return None
    return hashlib.sha256(data.replace(record, _hash_entry(_BLANK_HASH))).hexdigest()


def _hash_entry(value: str) -> bytes:
    import onnx

    return onnx.StringStringEntryProto(key=HASH_KEY, value=value).SerializeToString()


def weights_hash(proto) -> str:
    """SHA-256 over every initializer's name, data type, dims and values (in name order): the hash of
    files exported before ``HASH_KEY``."""
    from onnx import numpy_helper

    digest = hashlib.sha256()
    for init in sorted(proto.graph.initializer, key=lambda i: i.name):
        digest.update(f"{init.name}|{init.data_type}|{tuple(init.dims)}|".encode())
        digest.update(numpy_helper.to_array(init).tobytes())
    return digest.hexdigest()


def graph_class_count(proto) -> int | None:
    """How many classes the graph computes: dim 1 of ``logits``, or of the ArgMax's input in a graph
    exported with ``argmax=True``; None when the graph does not say. The exporter records these shapes;
    the int8 quantizer drops some, so ONNX's shape inference (milliseconds) fills them in when missing."""
    import onnx

    count = _class_dim(proto)
    if count is None:
        count = _class_dim(onnx.shape_inference.infer_shapes(proto))
    return count


def _class_dim(proto) -> int | None:
    shapes = {v.name: v.type.tensor_type.shape for v in (*proto.graph.value_info, *proto.graph.output)}
    names = {o.name for o in proto.graph.output}
    if names & {"logits", "coarse_logits"}:
        name = "logits" if "logits" in names else "coarse_logits"
    else:
        name = next((n.input[0] for n in proto.graph.node if n.op_type == "ArgMax"), None)
    dims = shapes[name].dim if name in shapes else ()
    return dims[1].dim_value if len(dims) == 4 and dims[1].HasField("dim_value") else None


def read_onnx_meta(path: str | Path, *, warn: bool = True) -> tuple[ModelMeta, dict]:
    """(ModelMeta, onnx-specific dict) from an exported file, checked: its integrity hash, finite
    weights, and the graph's class count against the metadata's. CheckpointError in words; a file
    with no hash (or only the older weights hash) loads with a warning (``warn``)."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX model file not found: {path}")
    try:
        data = path.read_bytes()
        proto = onnx.load_model_from_string(data)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable ONNX model: {exc}") from exc
    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise CheckpointError(f"{path} has no '{META_KEY}' metadata; export it with `attanet export`")
    _check_integrity(path, data, proto, props, warn)
    try:
        problem = weights_problem((init.name, numpy_helper.to_array(init)) for init in proto.graph.initializer)
    except Exception as exc:  # a damaged tensor record (wrong length for its dims, ...)
        raise CheckpointError(f"ONNX model {path} is corrupt: its weights cannot be read ({exc})") from exc
    if problem is not None:
        raise CheckpointError(
            f"ONNX model {path} has unusable weights: {problem}; every pixel would get the same class. "
            "Export it again from a checkpoint that loads"
        )
    try:
        d = json.loads(props[META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its '{META_KEY}' metadata is not valid JSON ({exc})") from exc
    meta = ModelMeta.from_dict(d)
    outputs = graph_class_count(proto)
    if outputs is None:
        raise CheckpointError(
            f"{path}: the graph does not say how many classes it outputs (no fixed class dimension on "
            "'logits' or the ArgMax input); export it with `attanet export`"
        )
    if outputs != meta.num_classes:
        raise CheckpointError(
            f"{path}: class count mismatch: the metadata lists {meta.num_classes} classes but the graph "
            f"outputs {outputs}"
        )
    return meta, d.get("onnx", {})


def _check_integrity(path: Path, data: bytes, proto, props: dict[str, str], warn: bool) -> None:
    if HASH_KEY in props:
        got = model_hash(data, props[HASH_KEY])
        if got != props[HASH_KEY]:
            shown = f"{got[:16]}..." if got else "unreadable"
            raise CheckpointError(
                f"ONNX model {path} is corrupt or was modified after export: the sha256 of its graph, weights and "
                f"metadata is {shown}, exported as {props[HASH_KEY][:16]}...; copy it again or re-export it"
            )
        return
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
        if warn:
            warn_unsealed(path, "has a hash of its weights only (exported before graph and metadata were covered)")
        return
    if warn:
        warn_unsealed(path, "has no integrity hash")


def seal_onnx(path: str | Path) -> bool:
    """Give an ONNX file exported before the whole-model hash existed its ``HASH_KEY``, after every other
    check (its weights hash if it has one, weights, class count); False when it already has one."""
    import onnx

    path = Path(path)
    read_onnx_meta(path, warn=False)
    proto = onnx.load_model_from_string(path.read_bytes())
    if any(p.key == HASH_KEY for p in proto.metadata_props):
        return False
    write_bytes_atomic(path, sealed_model_bytes(proto))
    return True
