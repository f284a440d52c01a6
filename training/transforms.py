"""Training augmentation (paper "Implementation Details").

This project's default: random scale from a fixed set, pad with ignore and random-crop,
horizontal flip, colour jitter on the crop, then ImageNet normalization. The official recipe
(``official_augment``, chosen with ``augment: official``) follows the official ``cityscapes.py``
and ``transform.py`` instead: PIL colour jitter on the full frame, flip, a random 90 degree
rotation, random scale, and a crop that scales small frames *up* instead of padding them.

Every random choice is drawn up front into ``AugmentParams`` from the
``np.random.Generator`` passed in, so a sample's augmentation is a pure function of (seed,
position in the sample stream): runs are reproducible and ``--resume`` continues the same data.

The same parameters can be applied two ways:
- per sample with OpenCV in the data-loading workers (``TrainTransform.__call__``), or
- to a whole batch of full frames on the training device (``augment_batch``: one ``grid_sample``
  for scale + crop + flip, then jitter and normalization as tensor ops), so the workers only
  decode files. On a fast GPU this is what keeps the data loader from being the bottleneck.
Both follow the same geometry (pixel centres at +0.5, as ``cv2.resize``) and agree to within
interpolation rounding (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = 255


@dataclass(frozen=True)
class AugmentParams:
    """One sample's random choices. Sizes and offsets in pixels of the scaled (and padded) frame."""

    scaled_h: int  # frame size after the random scale
    scaled_w: int
    top: int  # padding above / left of the scaled frame (when it is smaller than the crop)
    left: int
    y: int  # crop window's top-left corner in the padded frame
    x: int
    flip: bool
    brightness: float = 1.0  # jitter factors, 1 = unchanged
    contrast: float = 1.0
    saturation: float = 1.0

    def as_tensor(self) -> torch.Tensor:
        return torch.tensor([float(v) for v in astuple(self)], dtype=torch.float64)


def scaled_size(h: int, w: int, scale: float) -> tuple[int, int]:
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def random_scale(image: np.ndarray, labels: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (bilinear) and labels (nearest, so no invented classes) by ``scale``."""
    if scale == 1.0:
        return image, labels
    sh, sw = scaled_size(*labels.shape, scale)
    return _resize(image, labels, sh, sw)


def _resize(image: np.ndarray, labels: np.ndarray, sh: int, sw: int) -> tuple[np.ndarray, np.ndarray]:
    if labels.shape == (sh, sw):
        return image, labels
    return (
        cv2.resize(image, (sw, sh), interpolation=cv2.INTER_LINEAR),
        cv2.resize(labels, (sw, sh), interpolation=cv2.INTER_NEAREST),
    )


def _crop_window(h: int, w: int, crop: tuple[int, int], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, y, x): centred padding up to ``crop`` and a random window in the padded frame."""
    ch, cw = crop
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    y = int(rng.integers(0, h + ph - ch + 1))
    x = int(rng.integers(0, w + pw - cw + 1))
    return ph // 2, pw // 2, y, x


def _pad_and_cut(
    image: np.ndarray, labels: np.ndarray, crop: tuple[int, int], window: tuple[int, int, int, int], ignore_index: int
) -> tuple[np.ndarray, np.ndarray]:
    ch, cw = crop
    top, left, y, x = window
    h, w = labels.shape
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    if ph or pw:
        image = cv2.copyMakeBorder(image, top, ph - top, left, pw - left, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        labels = cv2.copyMakeBorder(labels, top, ph - top, left, pw - left, cv2.BORDER_CONSTANT, value=ignore_index)
    return image[y : y + ch, x : x + cw], labels[y : y + ch, x : x + cw]


def pad_and_crop(
    image: np.ndarray,
    labels: np.ndarray,
    crop: tuple[int, int],
    rng: np.random.Generator,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad to at least ``crop`` (image 0, labels ``ignore_index``) and cut a random ``crop`` window."""
    window = _crop_window(*labels.shape, tuple(crop), rng)
    return _pad_and_cut(image, labels, tuple(crop), window, ignore_index)


def apply_jitter(image: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Multiply brightness, contrast (around the mean grey) and saturation by the given factors."""
    out = image.astype(np.float32)
    if brightness != 1.0:
        out *= brightness
    if contrast != 1.0:
        mean = out.mean()
        out = (out - mean) * contrast + mean
    if saturation != 1.0:
        grey = out.mean(axis=2, keepdims=True)
        out = (out - grey) * saturation + grey
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _draw_jitter(rng: np.random.Generator, *amounts: float) -> tuple[float, ...]:
    """A factor in [1-j, 1+j] per jitter amount j (1 where j is 0, drawing nothing)."""
    return tuple(float(rng.uniform(1 - j, 1 + j)) if j > 0 else 1.0 for j in amounts)


def to_tensors(
    image_rgb: np.ndarray, labels: np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """HxWx3 uint8 RGB -> 3xHxW float normalized; labels -> HxW int64."""
    x = (image_rgb.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), torch.from_numpy(labels.astype(np.int64))


@dataclass
class TrainTransform:
    """The paper's augmentation. ``base_scale`` first resizes every image (e.g. 0.5 to train at the
    0.5-scale deployment resolution), then one of ``scales`` is applied on top."""

    crop_size: tuple[int, int]
    scales: tuple[float, ...] = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    base_scale: float = 1.0
    flip: bool = True
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    ignore_index: int = IGNORE_INDEX
    official: bool = False  # the official code's augmentation (official_augment), workers only

    def draw(self, h: int, w: int, rng: np.random.Generator) -> AugmentParams:
        """Every random choice for one ``h`` x ``w`` frame (scale, crop window, flip, jitter)."""
        if self.official:
            raise ValueError("the official augmentation (a 90 degree rotation, PIL jitter) has no device path")
        scale = self.base_scale * float(rng.choice(self.scales))
        sh, sw = (h, w) if scale == 1.0 else scaled_size(h, w, scale)
        top, left, y, x = _crop_window(sh, sw, tuple(self.crop_size), rng)
        flip = bool(self.flip and rng.random() < 0.5)
        jitter = _draw_jitter(rng, self.brightness, self.contrast, self.saturation)
        return AugmentParams(sh, sw, top, left, y, x, flip, *jitter)

    def apply(self, image: np.ndarray, labels: np.ndarray, p: AugmentParams) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 image and labels after ``p``'s scale, crop, flip and jitter (OpenCV, one sample)."""
        image, labels = _resize(image, labels, p.scaled_h, p.scaled_w)
        window = (p.top, p.left, p.y, p.x)
        image, labels = _pad_and_cut(image, labels, tuple(self.crop_size), window, self.ignore_index)
        if p.flip:
            image, labels = image[:, ::-1], labels[:, ::-1]
        image = apply_jitter(image, p.brightness, p.contrast, p.saturation)
        return np.ascontiguousarray(image), np.ascontiguousarray(labels)

    def augment(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 image and labels after all random steps (before normalization)."""
        if self.official:
            scales = tuple(self.base_scale * s for s in self.scales)
            return official_augment(image, labels, rng, tuple(self.crop_size), scales, self.brightness, self.flip)
        return self.apply(image, labels, self.draw(*labels.shape, rng))

    def __call__(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        image, labels = self.augment(image, labels, rng)
        return to_tensors(image, labels, self.mean, self.std)

    def batch(
        self, images: torch.Tensor, labels: torch.Tensor, params: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``augment_batch`` with this transform's crop, normalization and ignore index."""
        return augment_batch(images, labels, params, tuple(self.crop_size), self.mean, self.std, self.ignore_index)


AUGMENTS = ("default", "official")


def check_augment(augment: str, device_augment: bool) -> bool:
    """True for the official augmentation; a ValueError for what cannot run."""
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got {augment!r}")
    if augment == "official" and device_augment:
        raise ValueError(
            "augment: official runs in the data-loading workers (PIL, a 90 degree rotation); set device_augment: false"
        )
    return augment == "official"


def official_augment(
    image: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    crop: tuple[int, int],
    scales: Sequence[float],
    jitter: float = 0.5,
    flip: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The official ``cityscapes.py`` training transform, step by step (``transform.py``).

    image: HxWx3 uint8 RGB, labels: HxW uint8; ``crop`` is (H, W). With ``rng`` in place of
    Python's ``random``:

    1. ``ColorJitter(0.5, 0.5, 0.5)`` on the full frame: PIL ``ImageEnhance`` Brightness,
       Contrast, Color by factors uniform in [max(1 - j, 0), 1 + j];
    2. ``HorizontalFlip`` with p = 0.5;
    3. ``Rotation``: ``Image.ROTATE_90`` (counter-clockwise, so a 1024x2048 frame becomes
       2048x1024) with p = 0.5, as ``cityscapes.py`` lists it (the paper does not mention it);
    4. ``RandomScale``: PIL resize to (int(W * s), int(H * s)), bilinear / nearest;
    5. ``RandomCrop``: a frame smaller than the crop is scaled *up* (factor crop_w / w if w < h
       else crop_h / h, sizes int(scale * side + 1)), then a window at (int(u * (w - W)),
       int(u' * (h - H))).
    """
    from PIL import Image, ImageEnhance

    im, lb = Image.fromarray(image), Image.fromarray(labels)
    if jitter > 0:
        low, high = max(1 - jitter, 0), 1 + jitter
        factors = [float(rng.uniform(low, high)) for _ in range(3)]
        enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)
        for enhancer, factor in zip(enhancers, factors, strict=True):
            im = enhancer(im).enhance(factor)
    if flip and rng.random() <= 0.5:  # transform.py: "if random.random() > p: return unchanged"
        im, lb = im.transpose(Image.FLIP_LEFT_RIGHT), lb.transpose(Image.FLIP_LEFT_RIGHT)
    if rng.random() <= 0.5:
        im, lb = im.transpose(Image.ROTATE_90), lb.transpose(Image.ROTATE_90)
    scale = float(rng.choice(scales))
    w, h = int(im.size[0] * scale), int(im.size[1] * scale)
    im, lb = im.resize((w, h), Image.BILINEAR), lb.resize((w, h), Image.NEAREST)
    crop_h, crop_w = crop
    if (w, h) != (crop_w, crop_h):
        if w < crop_w or h < crop_h:
            up = crop_w / w if w < h else crop_h / h
            if int(up * w + 1) < crop_w or int(up * h + 1) < crop_h:
                # only for crops that are not square, which the official code never uses:
                # PIL would pad the window with label 0 (road) there
                up = max(crop_w / w, crop_h / h)
            w, h = int(up * w + 1), int(up * h + 1)
            im, lb = im.resize((w, h), Image.BILINEAR), lb.resize((w, h), Image.NEAREST)
        left, top = int(rng.random() * (w - crop_w)), int(rng.random() * (h - crop_h))
        box = (left, top, left + crop_w, top + crop_h)
        im, lb = im.crop(box), lb.crop(box)
    return np.ascontiguousarray(np.asarray(im)), np.ascontiguousarray(np.asarray(lb))


def augment_batch(
    images: torch.Tensor,
    labels: torch.Tensor,
    params: torch.Tensor,
    crop: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale, pad, crop, flip, jitter and normalize a batch of full frames where they are (GPU).

    images: B x H x W x 3 uint8 RGB; labels: B x H x W uint8; params: B x 10 (``AugmentParams``
    rows). Returns B x 3 x ch x cw float32 normalized and B x ch x cw int64 with ``ignore_index``
    in the padding. Output pixel (i, j) reads the scaled frame at (y + i - top, x + j' - left),
    j' = cw - 1 - j when flipped; that maps to source pixel (u + 0.5) * W / scaled_w - 0.5, as
    in cv2.resize. Image bilinear (border replicate, like cv2), labels nearest.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or labels.shape != images.shape[:3]:
        raise ValueError(
            f"augment_batch needs B x H x W x 3 images and B x H x W labels, got {tuple(images.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if params.shape != (images.shape[0], len(AugmentParams.__dataclass_fields__)):
        raise ValueError(f"augment_batch needs one row of AugmentParams per frame, got {tuple(params.shape)}")
    dev = images.device
    ch, cw = crop
    p = params.to(dev, torch.float32)
    sh, sw, top, left, y, x, flip, brightness, contrast, saturation = p.unbind(1)
    rows = torch.arange(ch, device=dev, dtype=torch.float32)
    cols = torch.arange(cw, device=dev, dtype=torch.float32)
    cols = torch.where(flip[:, None] > 0.5, cw - 1 - cols, cols)  # B x cw
    v = y[:, None] + rows[None] - top[:, None]  # rows of the scaled frame, B x ch
    u = x[:, None] + cols - left[:, None]  # columns, B x cw
    gy = (2 * (v + 0.5) / sh[:, None] - 1)[:, :, None].expand(-1, ch, cw)
    gx = (2 * (u + 0.5) / sw[:, None] - 1)[:, None, :].expand(-1, ch, cw)
    grid = torch.stack((gx, gy), dim=-1)
    inside = ((v >= 0) & (v < sh[:, None]))[:, :, None] & ((u >= 0) & (u < sw[:, None]))[:, None, :]

    frames = images.permute(0, 3, 1, 2).float()
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = torch.where(inside[:, None], out.round(), 0.0)  # round: the OpenCV path resizes to uint8
    lab = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="border", align_corners=False)
    lab = torch.where(inside, lab[:, 0], float(ignore_index)).long()

    out = out * brightness[:, None, None, None]
    grey_all = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - grey_all) * contrast[:, None, None, None] + grey_all
    grey = out.mean(dim=1, keepdim=True)
    out = (out - grey) * saturation[:, None, None, None] + grey
    out = torch.floor(torch.clamp(out + 0.5, 0, 255))
    m = torch.tensor(mean, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
    return (out / 255.0 - m) / s, lab
