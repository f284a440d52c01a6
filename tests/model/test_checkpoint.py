"""Checkpoint round trip and a readable error for each way a model file can be wrong."""

import shutil

import numpy as np
import pytest
import torch
from damaged_files import flip_tensor_bytes

from attanet_model import CheckpointError, ClassInfo, ModelMeta, build_model, load_checkpoint, save_checkpoint
from attanet_model.checkpoint import read_checkpoint, write_payload
from attanet_model.network import without_aux_heads


@pytest.fixture
def saved(tmp_path):
    model = build_model("attanet_light", num_classes=3).eval()
    classes = [
        ClassInfo(0, "road", (128, 64, 128)),
        ClassInfo(1, "car", (0, 0, 142)),
        ClassInfo(2, "sky", (70, 130, 180)),
    ]
    meta = ModelMeta.for_model(model, "attanet_light", classes, input_scale=0.25, training={"iterations": 10})
    path = save_checkpoint(tmp_path / "m.pt", model, meta, extra={"iteration": 10})
    return model, meta, path


def resave(payload: dict, path) -> None:
    """Write an edited payload with a valid hash: a well-formed file whose content is wrong."""
    write_payload(path, payload)


def test_round_trip_restores_weights_and_metadata(saved):
    model, meta, path = saved
    loaded, loaded_meta, extra = load_checkpoint(path)
    assert not loaded.training
    assert loaded_meta == meta
    assert extra == {"iteration": 10}
    assert not loaded.has_aux_heads  # the inference network: the aux-head tensors are dropped by name
    assert set(loaded.state_dict()) == set(without_aux_heads(model.state_dict()))
    for key, value in loaded.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x).logits, model(x).logits)


def test_half_storage_is_smaller_and_loads_as_fp32(saved, tmp_path):
    model, meta, path = saved
    half = save_checkpoint(tmp_path / "half.pt", model, meta, half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    loaded, _, _ = load_checkpoint(half)
    assert loaded.head[2].weight.dtype == torch.float32
    assert torch.allclose(loaded.head[2].weight, model.head[2].weight, atol=1e-3)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "notes.txt")
    torch.save(build_model("attanet_light").state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not an attanet checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")


def test_truncated_file(saved, tmp_path):
    _, _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(cut)


def test_wrong_arch_and_class_count(saved, tmp_path):
    model, meta, path = saved
    with pytest.raises(CheckpointError, match="holds a attanet_light model, but attanet_r18 was asked for"):
        load_checkpoint(path, arch="attanet_r18")
    with pytest.raises(CheckpointError, match="has 3 classes, but 19 were asked for"):
        load_checkpoint(path, num_classes=19)
    payload = read_checkpoint(path)
    payload["meta"]["classes"] = payload["meta"]["classes"][:2]
    resave(payload, tmp_path / "classes.pt")
    with pytest.raises(
        CheckpointError, match="class count mismatch: the metadata lists 2 classes but the classifier has 3"
    ):
        load_checkpoint(tmp_path / "classes.pt")
    payload = read_checkpoint(path)
    payload["meta"]["arch"] = "attanet_vit"
    resave(payload, tmp_path / "arch.pt")
    with pytest.raises(CheckpointError, match="unknown arch 'attanet_vit'"):
        load_checkpoint(tmp_path / "arch.pt")
    payload = read_checkpoint(path)
    payload["meta"]["arch_config"]["head_channels"] = 128  # weights are for 64
    resave(payload, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "shape.pt")


def test_incomplete_metadata(saved, tmp_path):
    _, _, path = saved
    payload = read_checkpoint(path)
    del payload["meta"]["classes"]
    resave(payload, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match="metadata is incomplete"):
        load_checkpoint(tmp_path / "meta.pt")


def test_flipped_bytes_in_a_tensor_record_are_refused(saved, tmp_path):
    _, _, path = saved
    member = flip_tensor_bytes(path)
    torch.load(path, weights_only=True)  # torch itself reads the damaged bytes without complaint
    with pytest.raises(CheckpointError, match=f"{path} is corrupt: archive member '{member}' fails its CRC-32"):
        load_checkpoint(path)


def test_bundled_checkpoint_without_hash_is_checked_by_crc(tmp_path):
    """The bundled file predates the content hash: it loads as before, and a damaged copy is refused."""
    from attanet_model import Segmenter, default_model_path

    payload = read_checkpoint(default_model_path())
    assert "integrity" not in payload
    image = np.random.default_rng(0).integers(0, 256, (64, 128, 3), np.uint8)
    labels = Segmenter(default_model_path()).segment(image).labels
    copy = tmp_path / "bundled.pt"
    shutil.copy(default_model_path(), copy)
    assert np.array_equal(Segmenter(copy).segment(image).labels, labels)
    flip_tensor_bytes(copy)
    with pytest.raises(CheckpointError, match="fails its CRC-32 check"):
        Segmenter(copy)


def test_weights_edited_and_resaved_fail_the_content_hash(saved, tmp_path):
    _, _, path = saved
    payload = read_checkpoint(path)
    assert len(payload["integrity"]["sha256"]) == 64
    payload["state_dict"]["head.2.weight"][0, 0] += 1.0
    torch.save(payload, tmp_path / "edited.pt")  # a fresh archive: its CRCs are valid
    with pytest.raises(CheckpointError, match="fails its integrity check: the sha256 of its metadata and weights"):
        load_checkpoint(tmp_path / "edited.pt")
    payload = read_checkpoint(path)
    payload["meta"]["input_scale"] = 1.0
    torch.save(payload, tmp_path / "meta_edited.pt")
    with pytest.raises(CheckpointError, match="fails its integrity check"):
        load_checkpoint(tmp_path / "meta_edited.pt")


def test_a_training_checkpoint_loads_as_the_inference_network_and_resaves_without_aux_keys(saved, tmp_path):
    model, meta, path = saved
    assert any(k.startswith("aux_head") for k in torch.load(path, weights_only=True)["state_dict"])
    loaded, _, _ = load_checkpoint(path)
    released = save_checkpoint(tmp_path / "release.pt", loaded, meta)  # what --release writes (in fp16)
    state = torch.load(released, weights_only=True)["state_dict"]
    assert not any(k.startswith("aux_head") for k in state)
    again, _, _ = load_checkpoint(released)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(again(x).logits, model(x).logits)


def test_a_full_disk_fails_the_save_in_words_and_keeps_the_previous_file(saved, tmp_path):
    """torch.save reported a full disk as a RuntimeError from its zip writer, and left a truncated file."""
    from storage_faults import files_under, full_disk

    from attanet_model.atomic_write import OutputError

    model, meta, path = saved
    disk = tmp_path / "disk"
    with full_disk(disk, free_bytes=4 * path.stat().st_size // 3):
        first = save_checkpoint(disk / "run" / "last.pt", model, meta)  # fits once, not twice
        with pytest.raises(OutputError, match=f"cannot write {first}: no space left on {first.parent}"):
            save_checkpoint(first, model, meta, extra={"iteration": 20})
        assert load_checkpoint(first)[2] == {}  # the complete previous file, still loadable
        assert files_under(disk) == {"run/last.pt": path.stat().st_size}
