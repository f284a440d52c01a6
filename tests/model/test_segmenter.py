"""Segmenter: sizes, the paper's inference resize, bad input, attention queries, the bundled model."""

import numpy as np
import pytest
import torch

from attanet_model import AttentionQuery, ModelMeta, Segmenter, build_model, default_model_path, save_checkpoint
from attanet_model.cpu_capabilities import this_cpu
from attanet_model.preprocess import network_size, normalize_bgr


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("attanet_light").eval()
    path = tmp_path_factory.mktemp("seg") / "light.pt"
    return save_checkpoint(path, model, ModelMeta.for_model(model, "attanet_light"))


@pytest.fixture(scope="module")
def segmenter(model_file):
    return Segmenter(model_file)


def frame(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_network_size_follows_the_paper_setting():
    assert network_size(1024, 2048) == (512, 1024)
    assert network_size(480, 640) == (256, 320)  # 240x320 rounded to multiples of 32
    assert network_size(360, 640) == (192, 320)
    assert network_size(1024, 2048, size=(500, 1000)) == (512, 992)
    with pytest.raises(ValueError, match="input scale"):
        network_size(10, 10, scale=0)


def test_normalize_matches_torchvision_convention():
    img = frame(4, 6)
    x = normalize_bgr(img, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    rgb = img[:, :, ::-1].astype(np.float32) / 255
    expected = ((rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1)[None]
    assert x.shape == (1, 3, 4, 6) and x.dtype == np.float32
    np.testing.assert_allclose(x, expected, atol=1e-5)


@pytest.mark.parametrize("h,w", [(256, 512), (240, 320), (97, 131)])
def test_outputs_at_the_image_size(segmenter, h, w):
    result = segmenter.segment(frame(h, w))
    assert result.labels.shape == (h, w) and result.labels.dtype == np.uint8
    assert result.confidence.shape == (h, w) and result.confidence.dtype == np.float32
    assert result.labels.max() < 19
    assert (result.confidence > 0).all() and (result.confidence <= 1.0 + 1e-6).all()
    assert set(result.timings_ms) == {"preprocess", "inference", "postprocess"}


def test_labels_equal_argmax_of_the_network_at_network_size(segmenter, model_file):
    img = frame(256, 512, seed=3)
    result = segmenter.segment(img)
    model = build_model("attanet_light").eval()
    model.load_state_dict(torch.load(model_file, weights_only=True)["state_dict"])
    import cv2

    small = cv2.resize(img, (256, 128), interpolation=cv2.INTER_LINEAR)
    with torch.no_grad():
        logits = model(torch.from_numpy(normalize_bgr(small, segmenter.meta.mean, segmenter.meta.std))).logits
    expected = cv2.resize(logits.argmax(1)[0].numpy().astype(np.uint8), (512, 256), interpolation=cv2.INTER_NEAREST)
    assert (result.labels == expected).mean() > 0.999


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((64, 64, 3), np.float32), "dtype must be uint8"),
        (np.zeros((64, 64, 4), np.uint8), "HxWx3 BGR.*BGRA"),
        (np.zeros((64, 64), np.uint8), "HxWx3 BGR.*mono"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
        (np.zeros((4, 64, 3), np.uint8), "outside the supported range"),
        (np.zeros((1, 20000, 3), np.uint8), "outside the supported range"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_input_raises_specific_errors(segmenter, bad, message):
    with pytest.raises(ValueError, match=message):
        segmenter.segment(bad)


def test_bad_options_fail_at_construction(model_file):
    with pytest.raises(ValueError, match="backend 'tensorrt' is not supported"):
        Segmenter(model_file, backend="tensorrt")
    with pytest.raises(ValueError, match="fp16.*CPU"):
        Segmenter(model_file, precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            Segmenter(model_file, device="cuda")
    with pytest.raises(ValueError, match="torch.compile .* is for backend 'torch', not openvino"):
        Segmenter(model_file, backend="openvino", compile_mode="default")
    # CUDA graphs are a no-op off the GPU: the host path, said as much
    assert Segmenter(model_file, cuda_graphs=True).frame_path == "host: OpenCV resize + torch"


@pytest.fixture(scope="module")
def peaky_segmenter(tmp_path_factory):
    """A model whose SAM attention is far from uniform (a random init attends almost evenly)."""
    torch.manual_seed(1)
    model = build_model("attanet_r18").eval()
    with torch.no_grad():
        model.sam.query[1].weight.mul_(20)
        model.sam.key[1].weight.mul_(20)
    path = tmp_path_factory.mktemp("peaky") / "r18.pt"
    return Segmenter(save_checkpoint(path, model, ModelMeta.for_model(model, "attanet_r18")), input_scale=1.0), model


def test_pixel_attention_paints_the_strips_the_pixel_looks_at(peaky_segmenter):
    segmenter, model = peaky_segmenter
    img = frame(256, 512, seed=1)
    result = segmenter.segment(img, AttentionQuery(x=100, y=60))
    att = result.attention
    assert att.shape == (256, 512) and att.dtype == np.float32
    assert att.max() == pytest.approx(1.0)
    # Vertical strips: every row shows the same weights, constant within a 1/16 column block.
    np.testing.assert_array_equal(att[0], att[-1])
    assert np.unique(att[0, :16]).size == 1
    # ... and they are the model's own SAM weights for that pixel (feature cell y=60//16, x=100//16).
    with torch.no_grad():
        attention = model(
            torch.from_numpy(normalize_bgr(img, segmenter.meta.mean, segmenter.meta.std)), return_attention=True
        ).attention
    weights = attention[0, (60 // 16) * 32 + 100 // 16].numpy()
    # (the Segmenter runs with BatchNorm folded: fp32 rounding, amplified by this peaky softmax)
    np.testing.assert_allclose(att[0, ::16], weights / weights.max(), rtol=2e-3)


def test_column_attention_shows_the_reach_of_a_strip(peaky_segmenter):
    segmenter, _ = peaky_segmenter
    img = frame(256, 512, seed=1)
    col_a = segmenter.segment(img, AttentionQuery(x=40)).attention
    col_b = segmenter.segment(img, AttentionQuery(x=470)).attention
    assert col_a.shape == (256, 512) and col_a.max() == pytest.approx(1.0)
    assert np.abs(col_a - col_b).max() > 0.1


@pytest.mark.skipif(not this_cpu().torch_bf16, reason="this CPU has no native bf16 (refusal: test_engine_options)")
def test_bf16_on_cpu_mostly_agrees_with_fp32(model_file):
    img = frame(128, 256, seed=2)
    fp32 = Segmenter(model_file, backend="torch", precision="fp32").segment(img).labels
    seg = Segmenter(model_file, backend="torch", precision="bf16")
    assert seg.precision == "bf16" and seg.provider == "torch cpu bf16 (autocast, channels_last)"
    assert (fp32 == seg.segment(img).labels).mean() > 0.9


def test_bundled_default_model_loads():
    assert default_model_path().is_file()
    seg = Segmenter()
    assert len(seg.classes) == 19 and seg.classes[0].name == "road"
    assert seg.segment(frame(128, 256)).labels.shape == (128, 256)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here); the CPU path is tested above")
def test_cuda_fp16_agrees_with_fp32(model_file):
    img = frame(512, 1024, seed=4)
    fp32 = Segmenter(model_file, device="cuda").segment(img).labels
    fp16 = Segmenter(model_file, device="cuda", precision="fp16").segment(img).labels
    assert (fp32 == fp16).mean() >= 0.995


def test_confidence_every_frame_comes_with_the_labels_and_equals_the_lazy_one(model_file):
    """A caller that reads every frame's confidence gets it made in the labels' pass (already computed), with
    the values the lazy path computes when read; labels differ at most at ties (one-pass argmax vs label kernel)."""
    options = {"backend": "torch", "precision": "fp32", "output": "network"}  # no resize after the head
    lazy = Segmenter(model_file, **options)
    every_frame = Segmenter(model_file, **options, confidence_every_frame=True)
    img = frame(240, 320, seed=5)
    a, b = lazy.segment(img), every_frame.segment(img)
    assert every_frame.confidence_every_frame and not lazy.confidence_every_frame
    assert b.confidence_computed and not a.confidence_computed
    assert (a.labels == b.labels).mean() >= 0.9999
    np.testing.assert_array_equal(b.confidence, a.confidence)
