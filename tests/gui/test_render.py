"""What each view draws, checked pixel by pixel against the palette and the model's own overlay."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gui_helpers import street_image, two_class_frame

from attanet_gui.render import ViewSettings, class_shares, hide_classes, readout_text, render_view
from attanet_model import CITYSCAPES_CLASSES, IGNORE_INDEX, AttentionQuery, overlay


def test_labels_view_is_the_palette():
    frame = two_class_frame(left=0, right=10)
    frame.labels[:5] = IGNORE_INDEX
    rgb = render_view(frame, ViewSettings("labels"))
    assert tuple(rgb[30, 10]) == CITYSCAPES_CLASSES[0].color  # road
    assert tuple(rgb[30, 70]) == CITYSCAPES_CLASSES[10].color  # sky
    assert tuple(rgb[0, 0]) == (0, 0, 0)  # unlabeled


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_overlay_matches_the_models_overlay(alpha):
    rng = np.random.default_rng(1)
    frame = replace(
        two_class_frame(), image_bgr=street_image(60, 80), labels=rng.integers(0, 19, (60, 80)).astype(np.uint8)
    )
    frame.labels[:3] = IGNORE_INDEX
    ours = render_view(frame, ViewSettings("overlay", alpha)).astype(int)
    reference = overlay(frame.image_bgr[:, :, ::-1].copy(), frame.labels, alpha, CITYSCAPES_CLASSES).astype(int)
    assert np.abs(ours - reference).max() <= 1
    assert np.array_equal(ours[:3], frame.image_bgr[:3, :, ::-1])  # unlabeled keeps the camera


def test_hidden_classes_are_not_drawn():
    frame = two_class_frame(left=0, right=10)
    shown = render_view(frame, ViewSettings("overlay", 1.0, frozenset({10})))
    assert tuple(shown[30, 10]) == CITYSCAPES_CLASSES[0].color
    assert tuple(shown[30, 70]) == (100, 100, 100)  # sky hidden: the grey camera shows through
    labels_view = render_view(frame, ViewSettings("labels", hidden=frozenset({0})))
    assert tuple(labels_view[30, 10]) == (0, 0, 0)
    assert np.array_equal(hide_classes(frame.labels, []), frame.labels)


def test_confidence_and_attention_views():
    frame = two_class_frame()
    conf = render_view(frame, ViewSettings("confidence"))
    # inferno: brighter for higher confidence, which grows left to right
    assert conf[30, 79].sum() > conf[30, 40].sum() > conf[30, 0].sum()
    dimmed = render_view(frame, ViewSettings("attention"))  # no click yet: dimmed camera
    assert np.array_equal(dimmed, frame.image_bgr[:, :, ::-1] // 3)
    attention = np.zeros((60, 80), np.float32)
    attention[:, 20:30] = 1.0
    clicked = replace(frame, attention=attention, attention_query=AttentionQuery(25, 40))
    rgb = render_view(clicked, ViewSettings("attention")).astype(int)
    # jet: attended columns red, the rest blue
    assert rgb[10, 22, 0] > rgb[10, 22, 2] + 50
    assert rgb[10, 60, 2] > rgb[10, 60, 0] + 50


def test_class_shares_and_readout():
    frame = two_class_frame(left=0, right=10)
    frame.labels[:15] = IGNORE_INDEX
    shares = class_shares(frame.labels, CITYSCAPES_CLASSES)
    assert shares[0] == pytest.approx(45 * 40 / (60 * 80))
    assert shares[10] == pytest.approx(45 * 40 / (60 * 80))
    assert shares[13] == 0.0
    text = readout_text(frame, 79, 30)
    assert "sky" in text and "x=79 y=30" in text and "confidence 1.00" in text
    assert "unlabeled" in readout_text(frame, 0, 0)
    assert readout_text(frame, 80, 0) == ""


def test_bad_settings_are_refused_with_the_value():
    with pytest.raises(ValueError, match="'heat'"):
        ViewSettings("heat")
    with pytest.raises(ValueError, match="1.5"):
        ViewSettings("overlay", 1.5)
