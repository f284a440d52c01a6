"""ConfusionMatrix against a direct per-class computation."""

from __future__ import annotations

import numpy as np
import pytest

from attanet_model.metrics import ConfusionMatrix


def _direct_iou(pred, gt, k):
    valid = gt != 255
    out = []
    for c in range(k):
        inter = np.sum((pred == c) & (gt == c) & valid)
        union = np.sum(((pred == c) | (gt == c)) & valid)
        out.append(inter / union if union else np.nan)
    return np.array(out)


def test_iou_miou_and_pixel_accuracy_match_direct_computation():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 5, (40, 50)).astype(np.uint8)
    gt[rng.random(gt.shape) < 0.1] = 255
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 5, gt.shape)).astype(np.uint8)
    pred[gt == 255] = 3
    cm = ConfusionMatrix(6).update(pred, gt)  # class 5 never occurs
    iou = cm.iou()
    np.testing.assert_allclose(iou, _direct_iou(pred, gt, 6), equal_nan=True)
    assert np.isnan(iou[5])
    assert cm.miou() == pytest.approx(np.mean(iou[:5]))
    valid = gt != 255
    assert cm.pixel_acc() == pytest.approx(np.mean(pred[valid] == gt[valid]))
    s = cm.summary([f"c{i}" for i in range(6)])
    assert s["iou"]["c5"] is None and s["miou"] == pytest.approx(cm.miou()) and 0 <= s["pixel_acc"] <= 1


def test_merge_equals_one_matrix_over_all_images():
    rng = np.random.default_rng(1)
    pairs = [(rng.integers(0, 3, (8, 8)), rng.integers(0, 3, (8, 8))) for _ in range(4)]
    whole = ConfusionMatrix(3)
    parts = [ConfusionMatrix(3), ConfusionMatrix(3)]
    for i, (p, g) in enumerate(pairs):
        whole.update(p, g)
        parts[i % 2].update(p, g)
    np.testing.assert_array_equal((parts[0] + parts[1]).counts, whole.counts)
    np.testing.assert_array_equal(parts[0].merge(parts[1]).counts, whole.counts)


def test_out_of_range_predictions_count_as_misses_and_shapes_must_match():
    cm = ConfusionMatrix(2).update(np.array([0, 255, 1]), np.array([0, 0, 1]))
    np.testing.assert_allclose(cm.iou(), [0.5, 1.0])
    with pytest.raises(ValueError, match=r"prediction shape \(2,\) does not match ground truth shape \(3,\)"):
        cm.update(np.zeros(2), np.zeros(3))
