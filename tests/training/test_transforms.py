"""Augmentation invariants: image and labels stay aligned, padding is ignore, runs are reproducible."""

from __future__ import annotations

import numpy as np

from attanet_training.transforms import TrainTransform, pad_and_crop, random_scale

# each class a distinct, far-apart colour: the image says which label a pixel should carry
PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)


def _blocks(h=64, w=96):
    labels = np.zeros((h, w), np.uint8)
    labels[:, w // 3 :] = 1
    labels[h // 2 :, :] = 2
    labels[h // 2 :, 2 * w // 3 :] = 3
    return PALETTE[labels], labels


def test_image_and_labels_stay_aligned_through_scale_crop_flip():
    image, labels = _blocks()
    t = TrainTransform((48, 48), scales=(0.75, 1.5, 2.0), brightness=0, contrast=0, saturation=0)
    for seed in range(20):
        img, lab = t.augment(image, labels, np.random.default_rng(seed))
        assert img.shape == (48, 48, 3) and lab.shape == (48, 48)
        valid = lab != 255
        # bilinear image vs nearest labels may differ only on a 1-pixel seam at class borders
        agree = np.all(img[valid] == PALETTE[lab[valid]], axis=1)
        assert agree.mean() > 0.9, (seed, agree.mean())


def test_padding_is_ignore_in_labels_and_zero_in_image():
    image, labels = _blocks(20, 30)
    img, lab = pad_and_crop(image, labels, (40, 50), np.random.default_rng(0))
    assert img.shape == (40, 50, 3)
    pad = lab == 255
    assert pad.sum() == 40 * 50 - 20 * 30
    assert (img[pad] == 0).all()
    assert set(np.unique(lab[~pad])) == {0, 1, 2, 3}


def test_nearest_label_scaling_invents_no_classes():
    image, labels = _blocks()
    _, lab = random_scale(image, labels, 1.37)
    assert set(np.unique(lab)) <= {0, 1, 2, 3}


def test_same_rng_same_sample_and_flip_happens():
    image, labels = _blocks()
    t = TrainTransform((32, 32), scales=(1.0,))
    a = t(image, labels, np.random.default_rng(5))
    b = t(image, labels, np.random.default_rng(5))
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b, strict=True))
    x, y = a
    assert x.shape == (3, 32, 32) and str(x.dtype) == "torch.float32" and str(y.dtype) == "torch.int64"
    # full-frame crops with flips: the left column's class must sometimes be the right one's
    full = TrainTransform((64, 96), scales=(1.0,), brightness=0, contrast=0, saturation=0)
    flipped = [full.augment(image, labels, np.random.default_rng(s))[1][0, 0] == 1 for s in range(16)]
    assert any(flipped) and not all(flipped)
