"""What ``attanet train`` says: the plan before the first iteration, a WARN for a schedule shorter than
its warm-up, and the closing line with the best checkpoint and its val mIoU."""

from __future__ import annotations

from attanet_model.checkpoint import read_checkpoint
from attanet_training.cli import train_main


def test_plan_warning_and_closing_line(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--config", "synthetic_light", "--data-root", str(mini_cityscapes), "--out", str(out)]
    argv += ["--crop-size", "64,64", "--batch-size", "2", "--workers", "0", "--no-progress", "--device", "cpu"]
    argv += ["--set", "warmup_iters=10", "--set", "val_interval=3", "--set", "input_scale=1.0"]
    assert train_main(argv + ["--iterations", "3"]) == 0
    err = capsys.readouterr().err.splitlines()
    plan = err[err.index("attanet train: plan") :]
    text = "\n".join(plan)
    assert f"cityscapes {mini_cityscapes}: train 6 images, val 3 images" in text
    assert "classes   19: road, sidewalk, building, wall, fence, pole, ..., bicycle" in text
    assert "model     attanet_light, from scratch" in text
    assert "crop 64x64 (HxW)" in text and "batch     2 (2 per process)" in text
    assert "schedule  3 iterations, warm-up 10, lr 0.03" in text
    assert f"output    {out} (last.pt every 25 it, val every 3 it)" in text
    assert any("WARN: iterations (3) is shorter than the warm-up (10)" in line for line in err)

    best = read_checkpoint(out / "best.pt")["meta"]["training"]["val_miou"]
    closing = err[-1]
    assert closing.startswith("attanet train: done: 3 iterations in ")
    assert f"best {out / 'best.pt'} (val mIoU {best * 100:.2f}%); last {out / 'last.pt'}" in closing

    # the resumed run's plan says where it starts
    assert train_main(argv + ["--iterations", "4", "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"resumed at iteration 3 of 4 from {out / 'last.pt'}" in err
    assert read_checkpoint(out / "last.pt")["extra"]["iteration"] == 4


def test_plan_names_the_weights_source(mini_cityscapes, tmp_path, capsys):
    from attanet_model import default_model_path

    argv = ["--config", "synthetic_light", "--data-root", str(mini_cityscapes), "--out", str(tmp_path / "run")]
    argv += ["--iterations", "1", "--crop-size", "64,64", "--batch-size", "2", "--workers", "0", "--no-progress"]
    argv += ["--device", "cpu", "--set", "val_interval=0", "--init-from", str(default_model_path())]
    argv += ["--arch", "attanet_light_compact"]  # the bundled model's network
    assert train_main(argv) == 0
    assert f"model     attanet_light_compact, initialised from {default_model_path()}" in capsys.readouterr().err


def test_a_stop_signal_ends_validation_early_without_recording_it(mini_cityscapes, tmp_path):
    import signal

    from test_train import tiny_config

    from attanet_training.trainer import Trainer

    trainer = Trainer(tiny_config(mini_cityscapes, tmp_path / "run", val_split="val", val_interval=5), device="cpu")
    (tmp_path / "run").mkdir()
    assert trainer.validate(5) is not None
    trainer.stop_signal = signal.SIGTERM  # what the handler sets when SIGTERM arrives mid-validation
    assert trainer.validate(10) is None
    assert trainer.history[-1] == {"iter": 10, "val_interrupted": True}
    assert [r["iter"] for r in trainer.history if "val_miou" in r] == [5]
