"""The graph that ends at the coarse logits, run by every CPU backend through the label head: labels
agree with the network's own full-size argmax, files exported before it still run as they did, the
confidence is computed only when read, and ``ATTANET_HEAD=torch`` forces the torch head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attanet_model import Segmenter
from attanet_model.checkpoint import load_checkpoint
from attanet_model.cli import export_main
from attanet_model.cpu_capabilities import this_cpu
from attanet_model.engines import OrtEngine
from attanet_model.head import LabelHead
from attanet_model.model_files import GRAPH_FILES, ModelFiles
from attanet_model.onnx_export import export_onnx, read_onnx_meta
from attanet_model.parity import onnx_parity
from attanet_model.preprocess import normalize_bgr, resize_frame
from attanet_model.quantize import CALIBRATION_DIR, read_images
from attanet_model.segmenter import default_model_path

BACKENDS = [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")]
if this_cpu().openvino is not None:
    BACKENDS += [("openvino", "fp32")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("attanet-cache")


@pytest.fixture(scope="module")
def network():
    model, meta, _ = load_checkpoint(default_model_path())
    return model.eval(), meta


@pytest.fixture(scope="module")
def frames():
    return read_images(CALIBRATION_DIR)[:3]  # 512x1024 street frames -> network 256x512


@torch.inference_mode()
def full_size_labels(network, frame: np.ndarray, hw) -> np.ndarray:
    """The network's own output (its final upsample, then argmax) on the frame at network size ``hw``."""
    model, meta = network
    x = torch.from_numpy(normalize_bgr(resize_frame(frame, hw), meta.mean, meta.std))
    return model(x).logits.argmax(1)[0].numpy().astype(np.uint8)


@pytest.mark.parametrize(("backend", "precision"), BACKENDS)
def test_cpu_backends_run_the_coarse_graph_and_agree_with_the_network(backend, precision, cache, network, frames):
    seg = Segmenter(backend=backend, precision=precision, cache_dir=cache, output="network")
    assert seg._engine.head is not None and seg._engine.head.kind == "numba"
    if backend != "torch":
        assert seg._engine.output == "coarse_logits"
    same = total = 0
    for frame in frames:
        result = seg.segment(frame)
        reference = full_size_labels(network, frame, seg.network_size(*frame.shape[:2]))
        same += int((result.labels == reference).sum())
        total += reference.size
    # fp32: equal but for near-ties (and ONNX Runtime's own float differences); int8: the quantizer's own bar
    assert same / total >= (0.995 if precision == "int8" else 0.9999)


def test_coarse_graph_pads_and_crops_like_the_network(network, tmp_path):
    """A network size that is not a multiple of 32: the graph pads, the head upsamples to the padded size and crops."""
    model, meta = network
    path = export_onnx(model, meta, tmp_path / "coarse.onnx", output="coarse_logits")
    assert read_onnx_meta(path)[1]["output"] == "coarse_logits" and read_onnx_meta(path)[1]["pad_multiple"] == 32
    engine = OrtEngine(path, "cpu", "fp32", threads=2)
    x = np.random.default_rng(0).standard_normal((1, 3, 100, 170)).astype(np.float32)
    labels, confidence, _ = engine.run(x, False)
    full = export_onnx(model, meta, tmp_path / "labels.onnx", output="labels")
    ref_labels, ref_conf, _ = OrtEngine(full, "cpu", "fp32").run(x, False)
    assert labels.shape == (100, 170) and (labels == ref_labels).mean() >= 0.9999
    np.testing.assert_allclose(confidence(), ref_conf, atol=1e-4)
    # what `attanet export --check` prints for such a file: torch vs ONNX Runtime + head, at sizes off the 32 grid
    report = onnx_parity(model, path, sizes=((96, 160), (100, 170)))
    assert all(entry["label_agreement"] >= 0.9999 for entry in report.values()), report


@pytest.mark.parametrize("output", ["labels", "logits"])
def test_files_exported_before_still_run_as_they_did(output, network, tmp_path, frames):
    model, meta = network
    path = export_onnx(model, meta, tmp_path / f"{output}.onnx", output=output)
    old = Segmenter(path, backend="onnxruntime", precision="fp32")
    assert old._engine.head is None and old._engine.output == output
    new = Segmenter(backend="onnxruntime", precision="fp32", cache_dir=tmp_path / "cache")
    for frame in frames[:1]:
        a, b = old.segment(frame), new.segment(frame)
        assert (a.labels == b.labels).mean() >= 0.9999
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)


def test_cached_exports_are_named_by_format(cache, tmp_path):
    files = ModelFiles(default_model_path(), tmp_path)
    files.folder().mkdir(parents=True)
    (files.folder() / "model.onnx").write_bytes(b"an export in the old format")  # must never be handed back
    path = files.onnx()
    assert path.name == GRAPH_FILES[True] and read_onnx_meta(path)[1]["output"] == "coarse_logits"


def test_confidence_is_computed_only_when_read(cache, frames, monkeypatch):
    calls = []
    original = LabelHead.confidence

    def counted(self, *args):
        calls.append(args)
        return original(self, *args)

    monkeypatch.setattr(LabelHead, "confidence", counted)
    seg = Segmenter(backend="onnxruntime", precision="fp32", cache_dir=cache)
    result = seg.segment(frames[0])
    assert result.labels.shape == frames[0].shape[:2] and not result.confidence_computed and calls == []
    confidence = result.confidence
    assert len(calls) == 1 and result.confidence is confidence and len(calls) == 1  # computed once, kept
    monkeypatch.setenv("ATTANET_HEAD", "torch")
    reference = Segmenter(backend="onnxruntime", precision="fp32", cache_dir=cache).segment(frames[0])
    assert confidence.shape == frames[0].shape[:2]
    np.testing.assert_allclose(confidence, reference.confidence, atol=1e-4)


def test_env_var_forces_the_torch_head_with_the_same_labels(cache, frames, monkeypatch):
    fast = Segmenter(backend="torch", precision="fp32").segment(frames[0])
    monkeypatch.setenv("ATTANET_HEAD", "torch")
    seg = Segmenter(backend="torch", precision="fp32")
    assert seg._engine.head.kind == "torch"
    result = seg.segment(frames[0])
    assert (result.labels == fast.labels).mean() >= 0.99999
    np.testing.assert_allclose(result.confidence, fast.confidence, atol=1e-4)


def test_export_cli_writes_the_coarse_graph_for_argmax_and_the_full_one_on_request(tmp_path):
    assert export_main(["--out", str(tmp_path / "a.onnx"), "--argmax"]) == 0
    assert read_onnx_meta(tmp_path / "a.onnx")[1]["output"] == "coarse_logits"
    assert export_main(["--out", str(tmp_path / "b.onnx"), "--argmax", "--head", "graph"]) == 0
    info = read_onnx_meta(tmp_path / "b.onnx")[1]
    assert info["output"] == "labels" and info["argmax"] is True
    assert export_main(["--out", str(tmp_path / "c.onnx"), "--head", "graph"]) == 2
