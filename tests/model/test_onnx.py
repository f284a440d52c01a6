"""ONNX export: dynamic sizes, parity with torch, embedded metadata, the ONNX Runtime backend."""

import numpy as np
import onnx
import pytest
import torch

from attanet_model import CheckpointError, ModelMeta, Segmenter, build_model, save_checkpoint
from attanet_model.onnx_export import export_onnx, read_onnx_meta
from attanet_model.parity import onnx_parity


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("onnx")
    model = build_model("attanet_r18").eval()
    meta = ModelMeta.for_model(model, "attanet_r18", input_scale=0.5)
    ckpt = save_checkpoint(tmp / "r18.pt", model, meta)
    return (
        model,
        meta,
        ckpt,
        export_onnx(model, meta, tmp / "r18.onnx"),
        export_onnx(model, meta, tmp / "r18_argmax.onnx", argmax=True),
    )


def test_graph_has_dynamic_batch_height_width(exported):
    *_, logits_path, _ = exported
    proto = onnx.load(str(logits_path))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param != "" for d in dims] == [True, False, True, True]
    assert dims[1].dim_value == 3


def test_torch_and_onnxruntime_labels_agree_at_three_other_sizes(exported):
    model, _, _, logits_path, argmax_path = exported
    for path in (logits_path, argmax_path):
        report = onnx_parity(model, path)
        assert len(report) == 3
        for size, entry in report.items():
            assert entry["label_agreement"] >= 0.999, (path.name, size, entry)
            if "max_abs_logit_diff" in entry:
                assert entry["max_abs_logit_diff"] < 1e-3


def test_metadata_makes_the_file_self_describing(exported):
    _, meta, _, logits_path, argmax_path = exported
    read_meta, info = read_onnx_meta(argmax_path)
    assert read_meta == meta
    assert info["argmax"] is True
    assert read_onnx_meta(logits_path)[1]["argmax"] is False


def test_onnxruntime_segmenter_matches_torch_segmenter(exported):
    _, _, ckpt, logits_path, argmax_path = exported
    img = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    reference = Segmenter(ckpt).segment(img)
    for path in (logits_path, argmax_path):
        seg = Segmenter(path)
        assert seg.backend == "onnxruntime" and seg.provider.startswith("CPUExecutionProvider")
        result = seg.segment(img)
        assert (result.labels == reference.labels).mean() >= 0.999
        np.testing.assert_allclose(result.confidence, reference.confidence, atol=1e-3)
    with pytest.raises(ValueError, match="need the torch backend"):
        Segmenter(logits_path).segment(img, attention=__import__("attanet_model").AttentionQuery(3, 4))


def test_onnx_without_metadata_is_rejected(tmp_path):
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["input"], ["logits"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "plain.onnx"))
    with pytest.raises(CheckpointError, match="no 'attanet_meta' metadata"):
        Segmenter(tmp_path / "plain.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        Segmenter(tmp_path / "junk.onnx")


def test_flipped_weight_bytes_in_an_onnx_file_are_refused(exported, tmp_path):
    import shutil

    from damaged_files import flip_onnx_weight_bytes

    *_, logits_path, _ = exported
    assert any(p.key == "attanet_sha256" for p in onnx.load(str(logits_path)).metadata_props)
    damaged = tmp_path / "damaged.onnx"
    shutil.copy(logits_path, damaged)
    flip_onnx_weight_bytes(damaged)
    onnx.checker.check_model(onnx.load(str(damaged)))  # structurally valid: only the hash can tell
    with pytest.raises(
        CheckpointError, match=f"ONNX model {damaged} is corrupt or was modified after export: the sha256"
    ):
        Segmenter(damaged)
    (tmp_path / "cut.onnx").write_bytes(logits_path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="is not a readable ONNX model"):
        Segmenter(tmp_path / "cut.onnx")


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_export_to_a_full_or_read_only_folder_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, fault):
    """onnx.save raised a traceback (rc 1) and left a truncated .onnx on a full disk."""
    from storage_faults import files_under, full_disk, read_only_folder

    from attanet_cli import main

    disk = tmp_path / "disk"
    with full_disk(disk) if fault == "full" else read_only_folder(disk):
        code = main(["export", "--out", str(disk / "models" / "m.onnx")])
        left = files_under(disk)
    err = capsys.readouterr().err
    assert code == 2, err
    cause = "no space left on" if fault == "full" else f"{disk} is on a read-only file system"
    assert err.startswith("attanet export: cannot ") and str(disk / "models") in err and cause in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert left == {}
