"""The official recipe (``--config cityscapes_*_official``) against the official code's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attanet_model import build_model
from attanet_training.config import load_config
from attanet_training.ohem_loss import OhemCrossEntropy
from attanet_training.optim import build_sgd
from attanet_training.schedule import warmup_poly_scheduler
from attanet_training.transforms import TrainTransform, check_augment, official_augment


def official_lr(it: int, lr0=1e-2, start=1e-5, warmup=1000, max_iter=200_000, power=0.9) -> float:
    """optimizer.py Optimizer.get_lr, written out."""
    if it <= warmup:
        return start * ((lr0 / start) ** (1.0 / warmup)) ** it
    return lr0 * (1 - (it - warmup) / (max_iter - warmup)) ** power


@pytest.mark.parametrize("name", ["cityscapes_r18_official", "cityscapes_light_official"])
def test_lr_follows_the_official_optimizer(name):
    cfg = load_config(name)
    model = build_model(cfg.arch, 19)
    opt = build_sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.head_lr_mult, cfg.head_lr_scope)
    sched = warmup_poly_scheduler(
        opt, cfg.iterations, cfg.poly_power, cfg.warmup_iters, cfg.warmup_ratio, cfg.warmup_mode
    )
    factor = sched.lr_lambdas[0]  # what LambdaLR multiplies every group's initial lr by at an iteration
    for it in (0, 250, 999, 1000, 5000, 199_999):
        assert cfg.lr * factor(it) == pytest.approx(official_lr(it), rel=1e-9), it
    for g in opt.param_groups:  # the lr_mul groups at 10x throughout
        assert g["initial_lr"] == pytest.approx(0.1 if g["name"].startswith("head") else 0.01)


@pytest.mark.parametrize("arch", ["attanet_r18", "attanet_light"])
def test_ten_times_lr_is_exactly_the_three_output_heads(arch):
    model = build_model(arch, 19)
    opt = build_sgd(model, 0.01, 0.9, 5e-4, 10.0, head_lr_scope="output_heads")
    names = {id(p): n for n, p in model.named_parameters()}
    fast = {names[id(p)] for g in opt.param_groups if g["lr"] == pytest.approx(0.1) for p in g["params"]}
    heads = {n for n in names.values() if n.split(".")[0] in ("head", "aux_head_res3", "aux_head_afm")}
    assert fast == heads and len(heads) == 3 * 4  # conv, bn weight, bn bias, classifier per head
    # the default gives it to the whole decoder
    opt = build_sgd(model, 0.01, 0.9, 5e-4, 10.0)
    fast = {names[id(p)] for g in opt.param_groups if g["lr"] == pytest.approx(0.1) for p in g["params"]}
    assert fast == {n for n in names.values() if not n.startswith("backbone.")}


def test_ohem_official_count_keeps_n_min_of_all_pixels_ignored_included():
    # 2 images of 8x8 = 128 pixels; 96 ignored; of the 32 valid pixels 4 are hard, 28 easy
    labels = torch.full((2, 8, 8), 255, dtype=torch.long)
    labels[:, :2, :] = 1  # 32 valid pixels
    logits = torch.zeros(2, 3, 8, 8)
    logits[:, 1] = 6.0  # easy: p(true) ~ 0.995
    logits[0, 1, 0, :4] = -6.0  # 4 hard pixels
    loss = F.cross_entropy(logits, labels, ignore_index=255, reduction="none").view(-1)
    hard = loss[loss > -np.log(0.7)]
    assert hard.numel() == 4
    n_min = 8 * 8 // 2  # train.py: cropsize[0] * cropsize[1] // 2 for this crop
    official = OhemCrossEntropy(0.7, min_kept_pixels=n_min)
    assert official.kept_count(loss, labels) == 32
    expected = loss.sort(descending=True).values[:n_min].mean()  # loss.py: loss[:n_min] of the sorted
    torch.testing.assert_close(official(logits, labels), expected)
    # this project's default: 1/16 of the 32 *valid* pixels = 2 < 4 hard: the 4 hard ones
    default = OhemCrossEntropy(0.7, 1 / 16)
    assert default.kept_count(loss, labels) == 4
    torch.testing.assert_close(default(logits, labels), hard.mean())
    # more hard pixels than n_min: all of them (loss.py: loss[loss > thresh])
    few = OhemCrossEntropy(0.7, min_kept_pixels=2)
    assert few.kept_count(loss, labels) == 4


def test_official_augment_steps():
    rng_image = np.random.default_rng(0)
    image = rng_image.integers(0, 256, (60, 120, 3), dtype=np.uint8)
    labels = (np.arange(60 * 120).reshape(60, 120) % 19).astype(np.uint8)
    seen_rotated = seen_upscaled = False
    for seed in range(12):
        out_image, out_labels = official_augment(image, labels, np.random.default_rng(seed), (64, 64), (0.5, 1.0))
        assert out_image.shape == (64, 64, 3) and out_labels.shape == (64, 64)
        assert set(np.unique(out_labels)) <= set(range(19))  # scaled up, never padded with ignore
        rng = np.random.default_rng(seed)
        [rng.uniform(0.5, 1.5) for _ in range(3)]
        rng.random()
        seen_rotated |= rng.random() <= 0.5
        seen_upscaled |= float(rng.choice((0.5, 1.0))) == 0.5  # 30x60 < 64: scaled up
    assert seen_rotated and seen_upscaled
    # rotation: a frame whose labels say the column; after ROTATE_90 (counter-clockwise) with
    # no jitter/flip/scale change, label rows are what the columns were
    cols = np.tile(np.arange(64, dtype=np.uint8), (64, 1))
    for seed in range(20):
        rng = np.random.default_rng(seed)
        rotated = rng.random() <= 0.5
        _, out = official_augment(
            np.zeros((64, 64, 3), np.uint8), cols, np.random.default_rng(seed), (64, 64), (1.0,), 0.0, False
        )
        expected = np.rot90(cols) if rotated else cols
        assert np.array_equal(out, expected)


def test_official_augment_is_workers_only():
    assert check_augment("official", False) is True and check_augment("default", True) is False
    with pytest.raises(ValueError, match="set device_augment: false"):
        check_augment("official", True)
    with pytest.raises(ValueError, match="augment must be one of default, official; got 'pil'"):
        check_augment("pil", False)
    transform = TrainTransform((64, 64), official=True)
    with pytest.raises(ValueError, match="no device path"):
        transform.draw(64, 64, np.random.default_rng(0))
    x, y = transform(np.zeros((80, 100, 3), np.uint8), np.zeros((80, 100), np.uint8), np.random.default_rng(1))
    assert x.shape == (3, 64, 64) and y.shape == (64, 64) and y.dtype == torch.int64


def test_trainer_runs_the_official_recipe(mini_cityscapes, tmp_path):
    from attanet_training.config import TrainConfig
    from attanet_training.trainer import Trainer

    official = load_config("cityscapes_light_official")
    recipe = {
        k: getattr(official, k)
        for k in ("arch", "augment", "head_lr_scope", "warmup_mode", "warmup_ratio", "color_jitter", "lr")
    }
    cfg = TrainConfig(
        **recipe,
        data_root=str(mini_cityscapes),
        crop_size=(64, 64),
        scales=(0.75, 1.0),
        batch_size=2,
        iterations=3,
        warmup_iters=2,
        ohem_min_kept_pixels=64 * 64 // 2,
        val_split="",
        val_interval=0,
        workers=0,
        threads=1,
        out_dir=str(tmp_path / "run"),
        log_interval=1,
        amp=False,
    )
    trainer = Trainer(cfg, device="cpu", progress=False, log_stdout=False)
    assert trainer.transform.official and trainer.criterion.criterion.min_kept_pixels == 2048
    result = trainer.run()
    assert result.exit_code == 0 and result.iteration == 3
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert len(losses) == 3 and all(np.isfinite(losses))
