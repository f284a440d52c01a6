"""normalize_bgr: OpenCV's one-pass blob equals the plain numpy normalization it replaced."""

import numpy as np
import pytest

from attanet_model.preprocess import normalize_bgr, resize_frame

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def numpy_reference(image: np.ndarray, mean, std) -> np.ndarray:
    """The previous implementation: BGR -> RGB, float32, x / (255 std) - mean / std, HWC -> 1xCxHxW."""
    scale = 1.0 / (255.0 * np.asarray(std, np.float32))
    shift = np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    out = image[:, :, ::-1].astype(np.float32) * scale - shift
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


@pytest.mark.parametrize("hw", [(256, 512), (97, 131), (8, 8)])
@pytest.mark.parametrize("mean,std", [IMAGENET, ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), ((0.3, 0.4, 0.5), (0.2, 0.3, 0.1))])
def test_normalize_equals_the_numpy_reference(hw, mean, std):
    image = np.random.default_rng(hw[0]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    image[0, :3] = [[0, 0, 0], [255, 255, 255], [0, 128, 255]]  # the extremes and a known channel order
    x = normalize_bgr(image, mean, std)
    assert x.shape == (1, 3, *hw) and x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable
    np.testing.assert_allclose(x, numpy_reference(image, mean, std), rtol=0, atol=1e-6)
    # channel 0 is red: the BGR pixel (0, 128, 255) has red 255
    assert x[0, 0, 0, 2] == pytest.approx((1.0 - mean[0]) / std[0], abs=1e-6)


def test_normalize_takes_views_of_a_larger_frame():
    """A crop or a channel-reversed view (not C-contiguous) normalizes like its copy."""
    big = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    for view in (big[5:37, 7:71], big[:, :, ::-1], big[::2, ::2]):
        np.testing.assert_allclose(
            normalize_bgr(view, *IMAGENET), numpy_reference(np.ascontiguousarray(view), *IMAGENET), atol=1e-6
        )


def test_normalize_after_resize_matches_resized_reference():
    frame = np.random.default_rng(2).integers(0, 256, (512, 1024, 3), dtype=np.uint8)
    small = resize_frame(frame, (256, 512))
    np.testing.assert_allclose(normalize_bgr(small, *IMAGENET), numpy_reference(small, *IMAGENET), atol=1e-6)


def test_normalize_refuses_a_zero_std():
    with pytest.raises(ValueError, match="std must be positive"):
        normalize_bgr(np.zeros((8, 8, 3), np.uint8), (0.5, 0.5, 0.5), (0.2, 0.0, 0.2))


def test_normalize_into_a_kept_buffer():
    """``out``: the same buffer is written in place frame after frame, each time equal to the reference."""
    out = np.full((1, 3, 32, 48), np.nan, np.float32)
    for seed in range(3):
        image = np.random.default_rng(seed).integers(0, 256, (32, 48, 3), dtype=np.uint8)
        x = normalize_bgr(image, *IMAGENET, out=out)
        assert x is out
        np.testing.assert_allclose(out, numpy_reference(image, *IMAGENET), atol=1e-6)
    with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape \(1, 3, 32, 48\)"):
        normalize_bgr(image, *IMAGENET, out=np.empty((1, 3, 32, 47), np.float32))


def test_the_segmenter_keeps_one_input_array_per_thread_and_results_do_not_share_it():
    """The Segmenter normalizes into a kept array (no multi-MB allocation per frame); results of earlier
    frames must stay what they were, and two threads never write into one array."""
    import threading

    from attanet_model import Segmenter

    segmenter = Segmenter(None)  # the bundled model
    a, b = (np.random.default_rng(seed).integers(0, 256, (64, 128, 3), dtype=np.uint8) for seed in (1, 2))
    first = segmenter.segment(a)
    labels_a, confidence_a = first.labels.copy(), first.confidence.copy()
    second = segmenter.segment(b)
    fresh = Segmenter(None).segment(a)
    assert np.array_equal(first.labels, labels_a) and np.array_equal(fresh.labels, labels_a)
    assert np.array_equal(first.confidence, confidence_a)  # read after the next frame: still frame a's
    assert not np.array_equal(second.labels, labels_a)
    main_buffer = segmenter._input_buffer((64, 128))
    other = []
    thread = threading.Thread(target=lambda: other.append(segmenter._input_buffer((64, 128))))
    thread.start()
    thread.join()
    assert other[0] is not main_buffer and segmenter._input_buffer((64, 128)) is main_buffer
