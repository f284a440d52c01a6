"""Outputs handed out the moment they are made (``FramePipeline.run_many(emit=...)``): what the node
publishes as it goes, so the labels leave before the colour, overlay and confidence images are made."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import street_image

from attanet_model import Segmenter
from attanet_ros.common.frame_pipeline import FrameOptions, FramePipeline

WANTED = frozenset({"labels", "color", "overlay", "confidence"})


@pytest.fixture(scope="module")
def pipeline():
    return FramePipeline(Segmenter(output="network"), "input", keep_buffers=True)


def test_each_wanted_output_is_emitted_once_labels_first_and_equal_to_the_result(pipeline):
    frames = [(street_image(96, 160, seed=1), WANTED), (street_image(64, 128, seed=2), frozenset({"overlay"}))]
    emitted = []

    def emit(i, name, array):
        emitted.append((i, name, array.copy()))  # as it was when handed out

    outputs, _ = pipeline.run_many(frames, FrameOptions(), emit)
    assert [(i, name) for i, name, _ in emitted] == [
        (0, "labels"),
        (0, "confidence"),
        (0, "color"),
        (0, "overlay"),
        (1, "overlay"),
    ]
    for i, name, array in emitted:
        np.testing.assert_array_equal(array, getattr(outputs[i], name))
    assert outputs[1].labels is None and outputs[1].color is None  # not wanted: neither emitted nor returned
    # the same outputs without emit
    plain, _ = pipeline.run_many(frames, FrameOptions())
    for i, name, array in emitted:
        np.testing.assert_array_equal(array, getattr(plain[i], name))


def test_time_spent_in_emit_is_not_counted_as_postprocessing(pipeline):
    """emit sleeps 0.3 s per output, four outputs: 1.2 s that belong to publishing, not postprocess."""
    outputs, _ = pipeline.run_many(
        [(street_image(64, 128, seed=3), WANTED)], FrameOptions(), lambda i, name, array: time.sleep(0.3)
    )
    assert outputs[0].timings_ms["postprocess"] < 300.0, outputs[0].timings_ms
