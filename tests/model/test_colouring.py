"""Colour and overlay by lookup table in uint8, against the plain float numpy blend they replace."""

from __future__ import annotations

import numpy as np
import pytest

from attanet_model import CITYSCAPES_CLASSES, IGNORE_INDEX, labels_to_color, overlay
from attanet_model.classes import palette


def reference_color(labels: np.ndarray, classes) -> np.ndarray:
    """A class's colour per pixel, written out with a loop over the classes (black elsewhere)."""
    out = np.zeros((*labels.shape, 3), np.uint8)
    for c in classes:
        out[labels == c.id] = c.color
    return out


def reference_overlay(rgb: np.ndarray, labels: np.ndarray, alpha: float, classes) -> np.ndarray:
    """The float32 blend the node published before: (1 - a) * image + a * colour, rounded half up."""
    out = rgb.astype(np.float32)
    color = reference_color(labels, classes).astype(np.float32)
    mask = labels != IGNORE_INDEX
    out[mask] = (1.0 - alpha) * out[mask] + alpha * color[mask]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, len(CITYSCAPES_CLASSES), (97, 131), dtype=np.uint8)
    labels[rng.random(labels.shape) < 0.1] = IGNORE_INDEX
    rgb = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    return rgb, labels


def test_color_is_the_palette_bit_for_bit(frame):
    _, labels = frame
    expected = reference_color(labels, CITYSCAPES_CLASSES)
    np.testing.assert_array_equal(labels_to_color(labels, CITYSCAPES_CLASSES), expected)
    np.testing.assert_array_equal(labels_to_color(labels, lut=palette(CITYSCAPES_CLASSES)), expected)
    assert (labels_to_color(labels)[labels == IGNORE_INDEX] == 0).all()  # unlabeled is black
    with pytest.raises(ValueError, match="uint8"):
        labels_to_color(labels.astype(np.int64))


def test_color_every_id_every_layout_and_into_a_kept_array(frame):
    """All 256 ids through a 255-class table (ids past it black), non-contiguous labels, a batch of label
    maps, and ``out=``: each the reference gather bit for bit."""
    from attanet_model.classes import generic_classes

    classes = generic_classes(255)
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(labels_to_color(ids, classes), reference_color(ids, classes))
    _, labels = frame
    strided = labels[:, ::2]
    np.testing.assert_array_equal(labels_to_color(strided), reference_color(strided, CITYSCAPES_CLASSES))
    batch = np.stack([labels, labels[::-1]])
    np.testing.assert_array_equal(labels_to_color(batch), reference_color(batch, CITYSCAPES_CLASSES))
    out = np.zeros((*labels.shape, 3), np.uint8)
    made = labels_to_color(labels, out=out)
    assert made is out or np.shares_memory(made, out)
    np.testing.assert_array_equal(out, reference_color(labels, CITYSCAPES_CLASSES))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.77, 1.0])
def test_overlay_within_one_grey_level_of_the_float_blend(frame, alpha):
    rgb, labels = frame
    ours = overlay(rgb, labels, alpha, CITYSCAPES_CLASSES)
    expected = reference_overlay(rgb, labels, alpha, CITYSCAPES_CLASSES)
    assert ours.dtype == np.uint8 and ours.shape == rgb.shape
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1
    unlabeled = labels == IGNORE_INDEX
    np.testing.assert_array_equal(ours[unlabeled], rgb[unlabeled])  # exactly the camera there
    if alpha in (0.0, 1.0):  # the ends are exact: the camera, or the palette colour
        np.testing.assert_array_equal(ours, expected)


def test_overlay_with_a_given_colour_image_is_the_same(frame):
    rgb, labels = frame
    color = labels_to_color(labels)
    np.testing.assert_array_equal(overlay(rgb, labels, 0.6, color=color), overlay(rgb, labels, 0.6))
    out = np.zeros_like(rgb)  # written in place when given
    assert overlay(rgb, labels, 0.6, color=color, out=out) is out
    np.testing.assert_array_equal(out, overlay(rgb, labels, 0.6))
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        overlay(rgb, labels, 1.5)
