"""The training step: a loss that turns NaN or Inf stops the run before the optimizer step (the
weights, the momentum and the schedule stay as they were after the last good iteration, the one
last.pt holds), and the loop reads values from the device once per iteration."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from test_train import tiny_config

from attanet_model.checkpoint import read_checkpoint
from attanet_training import trainer as trainer_module
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


def test_the_loop_reads_the_device_once_per_iteration(mini_cityscapes, tmp_path, monkeypatch):
    """The loss and its parts come to the host as one tensor: a read per value would make a GPU
    wait for the host several times per step. Counted: every way a tensor's value reaches Python,
    called from the trainer or from the deep-supervision loss that hands it the parts."""
    reads = []

    def from_the_loop(frame) -> bool:
        code = frame.f_code
        return code.co_filename == trainer_module.__file__ or code.co_qualname == "DeepSupervisionLoss.forward"

    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "cpu", "numpy"):

        def counted(self, *args, _original=getattr(torch.Tensor, name), _name=name, **kwargs):
            if from_the_loop(sys._getframe(1)):
                reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    cfg = tiny_config(mini_cityscapes, tmp_path / "run", iterations=5, log_interval=2)
    result = Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
    monkeypatch.undo()
    assert result.exit_code == 0 and result.iteration == 5
    assert reads == ["tolist"] * 5
    records = [r for r in result.history if "loss" in r]
    assert [r["iter"] for r in records] == [2, 4, 5]
    assert all(math.isfinite(r["loss"]) and r["loss_principal"] > 0 and "loss_aux2" in r for r in records)
