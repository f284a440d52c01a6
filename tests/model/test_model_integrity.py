"""Model files that are well-formed but wrong are refused; files without a hash are warned about.

NaN weights with a valid hash, an ONNX graph or class names edited after export, metadata listing
5 classes for a 19-output graph: each loaded before, and the model then published garbage or ids
its class table lacks.
"""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from attanet_cli import main
from attanet_model import CheckpointError, ModelMeta, Segmenter, build_model, default_model_path, save_checkpoint
from attanet_model.checkpoint import read_checkpoint, write_payload
from attanet_model.classes import generic_classes
from attanet_model.integrity import PACKAGE_DIR, SHIPPED_WITHOUT_HASH, file_sha256
from attanet_model.onnx_export import (
    HASH_KEY,
    META_KEY,
    WEIGHTS_HASH_KEY,
    export_onnx,
    read_onnx_meta,
    sealed_model_bytes,
    weights_hash,
)

UNSEALED = "has no integrity hash"


@pytest.fixture
def light(tmp_path):
    model = build_model("attanet_light", num_classes=19).eval()
    return model, ModelMeta.for_model(model, "attanet_light", input_scale=0.25)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 19-class attanet_light exported with logits and with --argmax (~10 s each)."""
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("integrity")
    model = build_model("attanet_light", num_classes=19).eval()
    meta = ModelMeta.for_model(model, "attanet_light", input_scale=0.25)
    return {
        "logits": export_onnx(model, meta, tmp / "logits.onnx"),
        "argmax": export_onnx(model, meta, tmp / "argmax.onnx", argmax=True),
    }


def edited_onnx(source, out, edit, reseal: bool):
    """A copy of ``source`` changed by ``edit(proto)``, with its hash recomputed (a well-formed file that
    is wrong) or left as exported (an edit after export)."""
    proto = onnx.load(str(source))
    edit(proto)
    out.write_bytes(sealed_model_bytes(proto) if reseal else proto.SerializeToString())
    return out


def set_meta(proto, change) -> None:
    entry = next(p for p in proto.metadata_props if p.key == META_KEY)
    meta = json.loads(entry.value)
    change(meta)
    entry.value = json.dumps(meta)


# ---- the table of files shipped without a hash ------------------------------------------------


def _is_sealed(path) -> bool:
    if path.suffix == ".onnx":
        return any(p.key == HASH_KEY for p in onnx.load(str(path), load_external_data=False).metadata_props)
    return "integrity" in torch.load(path, map_location="cpu", weights_only=True)


def test_the_shipped_without_hash_table_is_exactly_the_packages_unsealed_model_files():
    model_files = [p for suffix in ("*.pt", "*.pth", "*.onnx") for p in PACKAGE_DIR.rglob(suffix)]
    assert default_model_path() in model_files
    unsealed = {file_sha256(p): p.relative_to(PACKAGE_DIR).as_posix() for p in model_files if not _is_sealed(p)}
    assert unsealed == SHIPPED_WITHOUT_HASH


def test_the_bundled_model_loads_without_a_warning_and_a_copy_edited_without_hash_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        read_checkpoint(default_model_path())
    assert caplog.records == []
    payload = read_checkpoint(default_model_path())
    payload["meta"]["input_scale"] = 1.0  # an edit, saved the way files were before the hash
    torch.save(payload, tmp_path / "edited.pt")
    with caplog.at_level(logging.WARNING):
        Segmenter(tmp_path / "edited.pt")
    assert f"model file {tmp_path / 'edited.pt'} {UNSEALED}" in caplog.text
    assert f"`attanet seal {tmp_path / 'edited.pt'}` adds one" in caplog.text


# ---- checkpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("head.2.weight", float("nan"), "head.2.weight holds 1 NaN value (of "),
        ("conv_low.1.bias", float("inf"), "conv_low.1.bias holds 1 infinite value (of "),
        ("head.0.1.running_var", -1.0, "head.0.1.running_var (a BatchNorm running variance) is negative (-1)"),
    ],
)
def test_unusable_weights_with_a_valid_hash_are_refused_by_name(light, tmp_path, key, value, expected):
    model, meta = light
    model.state_dict()[key].view(-1)[3] = value
    path = save_checkpoint(tmp_path / "diverged.pt", model, meta)
    assert "integrity" in torch.load(path, weights_only=True)  # sealed: only the values are wrong
    with pytest.raises(CheckpointError, match=re.escape(f"model file {path} has unusable weights: {expected}")):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match=re.escape("has unusable weights")):
        Segmenter(path)


def test_a_checkpoint_whose_classifier_is_not_its_class_count_is_refused_even_when_sealed(light, tmp_path):
    model, meta = light
    payload = read_checkpoint(save_checkpoint(tmp_path / "m.pt", model, meta))
    payload["meta"]["classes"] = payload["meta"]["classes"][:5]
    write_payload(tmp_path / "five.pt", payload)
    with pytest.raises(
        CheckpointError, match=re.escape("the metadata lists 5 classes but the classifier has 19 outputs")
    ):
        read_checkpoint(tmp_path / "five.pt")


def test_seal_adds_the_hash_after_every_check_and_then_edits_are_refused(light, tmp_path, caplog, capsys):
    model, meta = light
    payload = read_checkpoint(save_checkpoint(tmp_path / "m.pt", model, meta))
    del payload["integrity"]
    torch.save(payload, tmp_path / "old.pt")  # as written before checkpoints carried a hash
    assert main(["seal", str(tmp_path / "old.pt")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'old.pt'}: sealed\n"
    with caplog.at_level(logging.WARNING):
        read_checkpoint(tmp_path / "old.pt")
    assert caplog.records == []
    payload = read_checkpoint(tmp_path / "old.pt")
    payload["meta"]["classes"][0]["name"] = "river"
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=re.escape("fails its integrity check")):
        read_checkpoint(tmp_path / "old.pt")
    # a file that fails another check is not sealed
    payload = read_checkpoint(tmp_path / "m.pt")
    payload["state_dict"]["head.2.weight"][0, 0] = float("nan")
    del payload["integrity"]
    torch.save(payload, tmp_path / "nan.pt")
    before = (tmp_path / "nan.pt").read_bytes()
    assert main(["seal", str(tmp_path / "nan.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"attanet seal: model file {tmp_path / 'nan.pt'} has unusable weights: head.2.weight")
    assert (tmp_path / "nan.pt").read_bytes() == before


# ---- ONNX ---------------------------------------------------------------------------------------


def test_an_exported_file_is_sealed_over_graph_weights_and_metadata(exported, caplog):
    for path in exported.values():
        props = {p.key for p in onnx.load(str(path)).metadata_props}
        assert HASH_KEY in props and WEIGHTS_HASH_KEY not in props
        with caplog.at_level(logging.WARNING):
            assert read_onnx_meta(path)[0].num_classes == 19
    assert caplog.records == []


def _swap_relu(proto) -> None:
    node = next(n for n in proto.graph.node if n.op_type == "Relu")
    node.op_type = "Sigmoid"  # still a valid graph, a different function


def _rename_class(proto) -> None:
    set_meta(proto, lambda m: m["classes"][0].update(name="river"))


@pytest.mark.parametrize("edit", [_swap_relu, _rename_class], ids=["graph", "class-names"])
def test_a_graph_or_metadata_edited_after_export_is_refused(exported, tmp_path, edit):
    path = edited_onnx(exported["logits"], tmp_path / "edited.onnx", edit, reseal=False)
    onnx.checker.check_model(onnx.load(str(path)))  # structurally valid: only the hash can tell
    with pytest.raises(CheckpointError, match=re.escape(f"ONNX model {path} is corrupt or was modified after export")):
        Segmenter(path)


@pytest.mark.parametrize("graph", ["logits", "argmax"])
def test_metadata_listing_5_classes_for_a_19_output_graph_is_refused_even_when_sealed(exported, tmp_path, graph):
    five = [c.to_dict() for c in generic_classes(5)]
    path = edited_onnx(
        exported[graph], tmp_path / "five.onnx", lambda p: set_meta(p, lambda m: m.update(classes=five)), True
    )
    with pytest.raises(
        CheckpointError, match=f"{path}: class count mismatch: the metadata lists 5 classes but the graph outputs 19"
    ):
        Segmenter(path)


def test_a_nan_initializer_is_refused_by_name_even_when_sealed(exported, tmp_path):
    def poison(proto) -> None:
        init = next(i for i in proto.graph.initializer if i.name == "model.head.2.weight")
        values = numpy_helper.to_array(init).copy()
        values.reshape(-1)[:2] = np.nan
        init.CopyFrom(numpy_helper.from_array(values, init.name))

    path = edited_onnx(exported["logits"], tmp_path / "nan.onnx", poison, reseal=True)
    with pytest.raises(
        CheckpointError, match=f"ONNX model {path} has unusable weights: model.head.2.weight holds 2 NaN"
    ):
        read_onnx_meta(path)


def test_older_files_load_with_a_warning_and_seal_covers_them(exported, tmp_path, caplog, capsys):
    def weights_hash_only(proto) -> None:  # what exports wrote before the whole-model hash
        del proto.metadata_props[[p.key for p in proto.metadata_props].index(HASH_KEY)]
        entry = proto.metadata_props.add()
        entry.key, entry.value = WEIGHTS_HASH_KEY, weights_hash(proto)

    old = edited_onnx(exported["logits"], tmp_path / "old.onnx", weights_hash_only, reseal=False)
    with caplog.at_level(logging.WARNING):
        assert read_onnx_meta(old)[0].num_classes == 19
    assert f"model file {old} has a hash of its weights only" in caplog.text
    bare = edited_onnx(old, tmp_path / "bare.onnx", lambda p: p.metadata_props.pop(), reseal=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_onnx_meta(bare)
    assert f"model file {bare} {UNSEALED}" in caplog.text
    assert main(["seal", str(old), str(bare)]) == 0
    assert capsys.readouterr().out == f"{old}: sealed\n{bare}: sealed\n"
    shutil.copy(bare, tmp_path / "renamed.onnx")
    renamed = edited_onnx(tmp_path / "renamed.onnx", tmp_path / "renamed.onnx", _rename_class, reseal=False)
    with pytest.raises(CheckpointError, match=re.escape("modified after export")):
        read_onnx_meta(renamed)
