"""The node's host path: outputs made at the network size and resized once at the end, against the
Segmenter's own camera-size results (what the node published before) computed with plain numpy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from ros_harness import street_image

from attanet_model import IGNORE_INDEX, AttentionQuery, Segmenter
from attanet_ros.common.frame_pipeline import FrameOptions, FramePipeline

WANTED = frozenset({"labels", "color", "overlay", "confidence"})


def float_mono8(values: np.ndarray) -> np.ndarray:
    return np.floor(values.astype(np.float32) * np.float32(255) + np.float32(0.5)).astype(np.uint8)


@pytest.fixture(scope="module")
def models():
    """The node's Segmenter (network-size results) and the reference one (camera-size results)."""
    return Segmenter(output="network"), Segmenter()


@pytest.fixture(scope="module")
def bgr():
    return street_image(192, 320, seed=5)


def test_outputs_resized_at_the_end_match_the_camera_size_reference(models, bgr):
    node_model, reference_model = models
    pipeline = FramePipeline(node_model, "input")
    assert pipeline.output_size(192, 320) == (192, 320)
    out = pipeline.run(bgr, WANTED, FrameOptions(overlay_alpha=0.6))
    ref = reference_model.segment(bgr)  # labels nearest-resized, confidence bilinear in float
    assert out.size == (192, 320)
    np.testing.assert_array_equal(out.labels, ref.labels)
    lut = np.zeros((256, 3), np.uint8)
    for c in reference_model.classes:
        lut[c.id] = c.color
    color = lut[ref.labels.astype(np.intp)]
    np.testing.assert_array_equal(out.color, color)
    rgb = bgr[:, :, ::-1].astype(np.float32)
    expected_overlay = np.clip(0.4 * rgb + 0.6 * color.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(out.overlay.astype(int) - expected_overlay.astype(int)).max() <= 1
    # confidence: the network-size map as mono8, resized by nearest like the labels it belongs to
    small = node_model.segment(bgr).confidence
    expected_confidence = cv2.resize(float_mono8(small), (320, 192), interpolation=cv2.INTER_NEAREST)
    assert np.abs(out.confidence.astype(int) - expected_confidence.astype(int)).max() <= 1
    assert set(out.timings_ms) == {"preprocess", "inference", "postprocess"}


def test_only_wanted_outputs_and_the_threshold_at_network_size(models, bgr):
    node_model, _ = models
    small = node_model.segment(bgr)  # network-size labels and confidence
    threshold = float(np.median(small.confidence))
    out = FramePipeline(node_model, "input").run(bgr, {"labels"}, FrameOptions(confidence_threshold=threshold))
    assert out.color is None and out.overlay is None and out.confidence is None
    thresholded = np.where(small.confidence < threshold, IGNORE_INDEX, small.labels).astype(np.uint8)
    expected = cv2.resize(thresholded, (320, 192), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(out.labels, expected)
    assert (out.labels == IGNORE_INDEX).any() and (out.labels != IGNORE_INDEX).any()


def test_attention_query_is_in_output_pixels_and_peaks_at_255(models, bgr):
    node_model, reference_model = models
    out = FramePipeline(node_model, "input").run(bgr, {"attention"}, FrameOptions(attention_column=250))
    ref = reference_model.segment(bgr, AttentionQuery(250))
    assert out.attention.shape == (192, 320) and out.attention.max() == 255
    # the same strip's reach: the two maps agree where it looks (resized twice vs once)
    assert np.corrcoef(out.attention.ravel(), ref.attention.ravel())[0, 1] > 0.95


def test_network_outputs_need_a_network_size_segmenter(models):
    _, reference_model = models
    with pytest.raises(ValueError, match="output='network'"):
        FramePipeline(reference_model, "network")


def test_kept_buffers_give_the_same_outputs_and_are_reused(models):
    """keep_buffers: frame after frame, and for two frames of one run_many call, the outputs equal the
    pipeline's fresh arrays; a second frame writes into the first frame's arrays."""
    node_model, _ = models
    fresh, kept = FramePipeline(node_model, "input"), FramePipeline(node_model, "input", keep_buffers=True)
    options = FrameOptions(overlay_alpha=0.3)
    frames = [street_image(192, 320, seed=s) for s in (11, 12)]
    names = ("labels", "color", "overlay", "confidence")
    first = kept.run(frames[0], WANTED, options)
    first_arrays = {n: getattr(first, n) for n in names}
    for frame in frames:
        expected, got = fresh.run(frame, WANTED, options), kept.run(frame, WANTED, options)
        for name in names:
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
            assert getattr(got, name) is first_arrays[name], f"{name} was not written into the kept array"
    many, _ = kept.run_many([(f, WANTED) for f in frames], options)
    for frame, got in zip(frames, many, strict=True):  # two slots: the second frame did not overwrite the first
        expected = fresh.run(frame, WANTED, options)
        for name in names:
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
