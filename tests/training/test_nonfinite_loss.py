"""A loss that turns NaN or Inf stops the run before the optimizer step: the weights, the momentum
and the schedule stay as they were after the last good iteration (the one last.pt holds)."""

from __future__ import annotations

import math

import pytest
import torch
from test_train import tiny_config

from attanet_model.checkpoint import read_checkpoint
from attanet_training.trainer import Trainer


class NonFiniteFrom:
    """The trainer's own loss, times ``factor`` from the ``first``-th call on: a diverging run's
    loss turning NaN or Inf at a known iteration."""

    def __init__(self, criterion, first: int, factor: float) -> None:
        self.criterion, self.first, self.factor, self.calls = criterion, first, factor, 0

    def __call__(self, outputs, labels):
        self.calls += 1
        total, parts = self.criterion(outputs, labels)
        return (total * self.factor if self.calls >= self.first else total), parts


@pytest.mark.parametrize("factor", [math.nan, math.inf])
def test_a_non_finite_loss_stops_the_run_with_the_weights_untouched(mini_cityscapes, tmp_path, factor):
    cfg = tiny_config(mini_cityscapes, tmp_path / "run", iterations=6, ckpt_interval=1)
    trainer = Trainer(cfg, device="cpu", progress=False, log_stdout=False)
    trainer.criterion = NonFiniteFrom(trainer.criterion, first=4, factor=factor)
    with pytest.raises(FloatingPointError, match=f"loss became {factor} at iteration 4; lower --lr"):
        trainer.run()
    saved = read_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["extra"]["iteration"] == 3  # saved after the last good step
    for name, param in trainer.model.named_parameters():
        assert torch.equal(param.detach(), saved["state_dict"][name]), name
    momentum = {k: s["momentum_buffer"] for k, s in trainer.optimizer.state_dict()["state"].items()}
    saved_momentum = {k: s["momentum_buffer"] for k, s in saved["extra"]["optimizer"]["state"].items()}
    assert momentum.keys() == saved_momentum.keys() and momentum
    assert all(torch.equal(momentum[k], saved_momentum[k]) for k in momentum)
    assert trainer.scheduler.last_epoch == saved["extra"]["scheduler"]["last_epoch"] == 3
