"""Augmentation invariants: image and labels stay aligned, padding is ignore, runs are reproducible."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from attanet_training.transforms import TrainTransform, pad_and_crop, random_scale, to_tensors

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


# ---- the batched (training-device) path ---------------------------------------------------------


def _textured(h=64, w=96, seed=0):
    """Blocks of labels under a smooth random texture, so interpolation differences show."""
    image, labels = _blocks(h, w)
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(0.6 * image + 0.4 * noise, 0, 255).astype(np.uint8), labels


def _both_paths(t, frames, seeds):
    """(OpenCV per-sample outputs, batched tensor outputs) for the same drawn parameters."""
    params = [t.draw(*lab.shape, np.random.default_rng(s)) for (_, lab), s in zip(frames, seeds, strict=True)]
    cpu = [t.apply(img, lab, p) for (img, lab), p in zip(frames, params, strict=True)]
    cpu = [to_tensors(img, lab, t.mean, t.std) for img, lab in cpu]
    images = torch.stack([torch.from_numpy(img) for img, _ in frames])
    labels = torch.stack([torch.from_numpy(lab) for _, lab in frames])
    x, y = t.batch(images, labels, torch.stack([p.as_tensor() for p in params]))
    return params, cpu, (x, y)


def test_batched_augmentation_equals_opencv_without_rescaling():
    t = TrainTransform((48, 80), scales=(1.0,))
    frames = [_textured(seed=s) for s in range(6)]
    params, cpu, (x, y) = _both_paths(t, frames, range(6))
    assert x.shape == (6, 3, 48, 80) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert any(p.flip for p in params) and not all(p.flip for p in params)
    level = 1 / 255 / min(t.std)  # one uint8 step after normalization
    for b, (cx, cy) in enumerate(cpu):
        assert torch.equal(y[b], cy), b
        diff = (x[b] - cx).abs()
        assert diff.max() <= level * 1.01, b  # jitter rounding at exact .5 may move one step
        assert (diff < level / 2).float().mean() > 0.99, b


def test_batched_augmentation_follows_opencv_through_scale_pad_and_crop():
    # scales below 1 pad (crop larger than the frame), above 1 upsample
    t = TrainTransform((64, 112), scales=(0.5, 0.75, 1.25, 2.0))
    frames = [_textured(seed=s) for s in range(8)]
    params, cpu, (x, y) = _both_paths(t, frames, range(100, 108))
    assert any(p.top or p.left for p in params)  # some frames were padded
    level = 1 / 255 / min(t.std)
    for b, (cx, cy) in enumerate(cpu):
        pad_cpu, pad_dev = cy == 255, y[b] == 255
        assert torch.equal(pad_cpu, pad_dev), b  # the padding is the same window
        assert (x[b][:, pad_dev] == cx[:, pad_cpu]).all()  # and black in both
        # nearest-neighbour rounding may differ on a 1-pixel seam at class borders only
        assert (y[b] == cy).float().mean() > 0.99, b
        # bilinear weights: OpenCV's are 11-bit fixed point, grid_sample's float
        diff = (x[b] - cx).abs()
        assert diff.mean() < 0.5 * level and diff.max() < 3.5 * level, b


def test_batched_augmentation_keeps_labels_aligned_with_the_image():
    image, labels = _blocks()
    t = TrainTransform((48, 48), scales=(0.75, 1.5, 2.0), brightness=0, contrast=0, saturation=0)
    params = torch.stack([t.draw(64, 96, np.random.default_rng(s)).as_tensor() for s in range(20)])
    n = len(params)
    x, y = t.batch(torch.from_numpy(image).expand(n, -1, -1, -1), torch.from_numpy(labels).expand(n, -1, -1), params)
    mean, std = torch.tensor(t.mean).view(3, 1, 1), torch.tensor(t.std).view(3, 1, 1)
    rgb = ((x * std + mean) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    lab = y.numpy()
    assert set(np.unique(lab)) <= {0, 1, 2, 3, 255}
    for b in range(n):
        valid = lab[b] != 255
        agree = np.all(rgb[b][valid] == PALETTE[lab[b][valid]], axis=1)
        assert agree.mean() > 0.9, (b, agree.mean())


def test_batched_augmentation_rejects_mismatched_inputs():
    t = TrainTransform((32, 32))
    images = torch.zeros(2, 40, 40, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="B x H x W labels"):
        t.batch(images, torch.zeros(2, 40, 41, dtype=torch.uint8), torch.zeros(2, 10))
    with pytest.raises(ValueError, match="one row of AugmentParams per frame"):
        t.batch(images, torch.zeros(2, 40, 40, dtype=torch.uint8), torch.zeros(3, 10))
