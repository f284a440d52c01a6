"""The CPU label head against the full-size reference: F.interpolate(align_corners=True) + argmax + max softmax."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attanet_model.head import LabelHead, requested_kind

NUMBA = LabelHead(2, "numba")
TORCH = LabelHead(2, "torch")


def reference(coarse: np.ndarray, padded_hw, out_hw):
    full = F.interpolate(torch.from_numpy(coarse)[None], size=padded_hw, mode="bilinear", align_corners=True)
    full = full[0, :, : out_hw[0], : out_hw[1]]
    top, labels = full.max(dim=0)
    return labels.to(torch.uint8).numpy(), (1.0 / torch.exp(full - top[None]).sum(0)).numpy(), full.numpy()


def logits(kind: str, classes: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return (rng.standard_normal((classes, h, w)) * 4).astype(np.float32)
    small = rng.standard_normal((max(h // 8, 2), max(w // 8, 2), classes)).astype(np.float32) * 3
    smooth = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, classes)
    return np.ascontiguousarray(smooth.transpose(2, 0, 1))


def assert_labels_match(labels: np.ndarray, ref_labels: np.ndarray, full: np.ndarray) -> None:
    """Equal except exact/near ties: >= 99.999 % agree and every mismatch is within float rounding of a tie."""
    mismatch = labels != ref_labels
    assert mismatch.mean() <= 1e-5
    ys, xs = np.nonzero(mismatch)
    gap = full[ref_labels[ys, xs], ys, xs] - full[labels[ys, xs], ys, xs]
    assert (np.abs(gap) < 1e-4).all(), gap


# padded size = network size rounded up to 32; out = the input crop (equal when it is a multiple of 32)
SIZES = [((64, 128), (512, 1024), (512, 1024)), ((40, 60), (320, 480), (300, 470)), ((4, 4), (32, 32), (17, 5))]


@pytest.mark.parametrize("classes", [1, 19])
@pytest.mark.parametrize("kind", ["smooth", "random"])
@pytest.mark.parametrize(("coarse_hw", "padded_hw", "out_hw"), SIZES)
@pytest.mark.parametrize("head", [NUMBA, TORCH], ids=["numba", "torch"])
@pytest.mark.parametrize("with_confidence", [False, True], ids=["lazy", "one-pass"])
def test_head_matches_full_size_reference(head, coarse_hw, padded_hw, out_hw, kind, classes, with_confidence):
    coarse = logits(kind, classes, *coarse_hw)
    ref_labels, ref_conf, full = reference(coarse, padded_hw, out_hw)
    labels, confidence = head.run(coarse, padded_hw, out_hw, with_confidence=with_confidence)
    assert labels.shape == out_hw and labels.dtype == np.uint8
    assert_labels_match(labels, ref_labels, full)
    assert_labels_match(head.labels(coarse, padded_hw, out_hw), ref_labels, full)
    assert callable(confidence) != (with_confidence and head is NUMBA)  # one pass: computed already
    conf = confidence() if callable(confidence) else confidence
    assert conf.shape == out_hw and conf.dtype == np.float32
    np.testing.assert_allclose(conf, ref_conf, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(conf, head.confidence(coarse, padded_hw, out_hw))  # one pass: the same values
    if head is TORCH:  # the fallback is today's computation exactly
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_array_equal(conf, ref_conf)


# output widths around the kernels' vector widths (8 and 16 float32 lanes) and their remainders
ODD_WIDTHS = [1, 7, 8, 9, 15, 16, 17, 31, 33, 47, 100]


@pytest.mark.parametrize("classes", [1, 2, 19])
@pytest.mark.parametrize("width", ODD_WIDTHS)
def test_confidence_is_a_probability_at_every_width(width, classes):
    """Every pixel's confidence is the reference's, and a max softmax: 1/classes <= c <= 1 (exactly 1 for one class)."""
    coarse = logits("random", classes, 5, 14, seed=width)
    padded_hw, out_hw = (32, 104), (27, width)
    _, ref_conf, _ = reference(coarse, padded_hw, out_hw)
    conf = NUMBA.confidence(coarse, padded_hw, out_hw)
    labels, one_pass = NUMBA.run(coarse, padded_hw, out_hw, with_confidence=True)
    assert_labels_match(labels, *reference(coarse, padded_hw, out_hw)[::2])
    np.testing.assert_array_equal(one_pass, conf)
    assert conf.shape == out_hw and conf.dtype == np.float32
    np.testing.assert_allclose(conf, ref_conf, atol=1e-4, rtol=0)
    assert (conf <= 1.0).all() and (conf >= np.float32(1.0 / classes) * (1 - 1e-6)).all()
    if classes == 1:
        np.testing.assert_array_equal(conf, np.ones(out_hw, np.float32))


def test_confidence_is_as_accurate_as_torch_float32_against_float64():
    """The polynomial exp and the separable blend lose no more than torch's own float32 upsample + softmax does."""
    coarse = logits("random", 19, 32, 64, seed=3)
    full64 = F.interpolate(
        torch.from_numpy(coarse).double()[None], size=(256, 512), mode="bilinear", align_corners=True
    )
    exact = (1.0 / torch.exp(full64[0] - full64[0].max(dim=0)[0][None]).sum(0)).numpy()
    torch_error = np.abs(reference(coarse, (256, 512), (256, 512))[1] - exact).max()
    numba_error = np.abs(NUMBA.confidence(coarse, (256, 512), (256, 512)) - exact).max()
    assert numba_error <= 1.5 * torch_error + 1e-7, (numba_error, torch_error)


def test_the_kernels_exp_is_within_two_ulp_on_the_range_it_is_used():
    from numba import njit

    from attanet_model.head_kernels import exp_nonpositive

    @njit(fastmath=True)
    def evaluate(d):
        out = np.empty_like(d)
        for i in range(d.shape[0]):
            out[i] = exp_nonpositive(d[i])
        return out

    d = np.linspace(-27.0, 0.0, 270001, dtype=np.float32)
    relative = np.abs(evaluate(d).astype(np.float64) / np.exp(d.astype(np.float64)) - 1.0)
    assert relative.max() < 2.4e-7  # 2^-22: two float32 ulp
    assert evaluate(np.zeros(1, np.float32))[0] == 1.0


def test_head_refuses_more_classes_than_uint8_holds():
    with pytest.raises(ValueError, match="256 classes do not fit uint8"):
        NUMBA.labels(np.zeros((256, 4, 4), np.float32), (32, 32), (32, 32))


def test_env_var_forces_the_torch_head():
    assert requested_kind({"ATTANET_HEAD": "torch"}) == "torch"
    assert requested_kind({}) is None
    with pytest.raises(ValueError, match="ATTANET_HEAD='cuda' is not one of numba, torch"):
        requested_kind({"ATTANET_HEAD": "cuda"})


def test_head_runs_from_several_threads_at_once_on_the_workqueue_layer():
    """The node calls the head from its worker thread, next to other threads: workqueue must never see two
    parallel regions at once (numba aborts the process then), so every call is serialized."""
    import threading

    import numba

    coarse = logits("random", 19, 64, 128)
    expected = NUMBA.labels(coarse, (512, 1024), (512, 1024))
    assert numba.threading_layer() == "workqueue"
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(LabelHead(2, "numba").labels(coarse, (512, 1024), (512, 1024)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 20
    assert all(np.array_equal(r, expected) for r in results)


def test_without_numba_the_torch_head_runs_and_says_so_once(monkeypatch, caplog):
    import sys

    import attanet_model.head as head_module

    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.setattr(head_module, "_said_fallback", False)
    with caplog.at_level("WARNING", logger="attanet_model.head"):
        heads = [LabelHead(2), LabelHead(2)]
    assert [h.kind for h in heads] == ["torch", "torch"]
    assert [r.getMessage() for r in caplog.records].count(
        "numba is not installed: the label head runs in torch (F.interpolate + argmax), slower"
    ) == 1
    coarse = logits("smooth", 19, 40, 60)
    ref_labels, _, _ = reference(coarse, (320, 480), (300, 470))
    np.testing.assert_array_equal(heads[0].labels(coarse, (320, 480), (300, 470)), ref_labels)


def test_the_numba_kernels_release_the_gil_so_the_node_keeps_receiving_while_they_run():
    from attanet_model import head

    LabelHead(threads=1, kind="numba")  # builds the kernels once
    assert [k.targetoptions.get("nogil") for k in head._kernels] == [True, True]
    assert [k.targetoptions.get("parallel") for k in head._kernels] == [True, True]
