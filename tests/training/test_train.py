"""End-to-end training on tiny synthetic frames: learning, interrupt + resume equivalence, bad checkpoints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from attanet_model import load_checkpoint
from attanet_model.checkpoint import CheckpointError, read_checkpoint
from attanet_model.metrics import ConfusionMatrix
from attanet_training.budget import fit_iterations, train_for_minutes
from attanet_training.cli import train_main
from attanet_training.config import TrainConfig
from attanet_training.datasets import CityscapesDataset
from attanet_training.evaluate import evaluate_model
from attanet_training.sample_stream import StreamSampler
from attanet_training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


def tiny_config(root, out_dir, **overrides) -> TrainConfig:
    base = dict(
        arch="attanet_light",
        data_root=str(root),
        crop_size=(64, 64),
        base_scale=1.0,
        scales=(0.75, 1.0, 1.25),
        batch_size=4,
        iterations=20,
        lr=0.05,
        head_lr_mult=1.0,
        warmup_iters=2,
        val_split="",
        val_interval=0,
        input_scale=1.0,
        log_interval=1,
        ckpt_interval=1000,
        workers=0,
        threads=1,
        out_dir=str(out_dir),
        seed=0,
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_short_run_loss_falls_and_miou_beats_the_trivial_baseline(learnable_cityscapes, tmp_path):
    cfg = tiny_config(
        learnable_cityscapes, tmp_path / "run", iterations=80, val_split="val", val_interval=80, val_max_images=4
    )
    result = Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
    assert result.exit_code == 0 and result.iteration == 80
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5]), (losses[:5], losses[-10:])
    # trivial baseline: the most frequent training class everywhere
    val = CityscapesDataset(learnable_cityscapes, "val")
    train = CityscapesDataset(learnable_cityscapes, "train")
    counts = sum(np.bincount(train[i][1].ravel(), minlength=256) for i in range(len(train)))
    majority = int(np.argmax(counts[:19]))
    trivial = ConfusionMatrix(19)
    for i in range(len(val)):
        labels = val[i][1]
        trivial.update(np.full_like(labels, majority), labels)
    model, meta, extra = load_checkpoint(result.best_checkpoint)
    ours = evaluate_model(model, val, input_scale=1.0).miou()
    assert ours > trivial.miou() + 0.05, (ours, trivial.miou())
    assert ours == pytest.approx(result.best_miou)
    # the checkpoint describes how it was made
    assert meta.arch == "attanet_light" and meta.input_scale == 1.0
    assert meta.training["iterations"] == 80 and meta.training["val_miou"] == pytest.approx(ours)
    assert extra["iteration"] == 80 and "optimizer" in extra
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {"iter", "loss", "lr", "img_s", "eta_s"} <= set(log[0])
    assert any("val_miou" in r for r in log)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_interrupted_run_resumes_on_the_same_loss_curve(mini_cityscapes, tmp_path):
    iterations = 24
    reference = Trainer(
        tiny_config(mini_cityscapes, tmp_path / "ref", iterations=iterations),
        device="cpu",
        progress=False,
        log_stdout=False,
    ).run()
    ref_losses = {r["iter"]: r["loss"] for r in reference.history if "loss" in r}

    cfg = tiny_config(mini_cityscapes, tmp_path / "cut", iterations=iterations)
    cfg_file = tmp_path / "cut.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.to_dict()))
    cmd = [sys.executable, "-m", "attanet_cli", "train", "--config", str(cfg_file), "--no-progress", "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "cut" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 3:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume continues" in err and "Traceback" not in err
    stopped_at = read_checkpoint(tmp_path / "cut" / "last.pt")["extra"]["iteration"]
    assert 3 <= stopped_at < iterations

    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r.get("stopped") == "signal SIGINT" for r in records)
    cut_losses = {r["iter"]: r["loss"] for r in records if "loss" in r}
    assert sorted(cut_losses) == list(range(1, iterations + 1))
    for it in range(1, iterations + 1):
        assert cut_losses[it] == pytest.approx(ref_losses[it], rel=1e-5, abs=1e-6), it
    a = read_checkpoint(tmp_path / "ref" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "cut" / "last.pt")["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_corrupt_or_wrong_resume_checkpoint_is_reported(mini_cityscapes, tmp_path, capsys):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a whole zip archive")
    argv = [
        "--config",
        "synthetic_light",
        "--data-root",
        str(mini_cityscapes),
        "--out",
        str(tmp_path),
        "--iterations",
        "2",
        "--set",
        "val_interval=0",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert train_main(argv + ["--resume", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "truncated or corrupt" in err[0], err
    assert train_main(argv + ["--set", "no_such_field=1"]) == 2
    assert "unknown field(s) no_such_field" in capsys.readouterr().err
    assert train_main(["--config", "synthetic_light", "--data-root", str(tmp_path / "missing"), "--device", "cpu"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_ranks_draw_disjoint_samples():
    world = [list(StreamSampler(0, 5, 3, rank, 2)) for rank in range(2)]
    assert not set(world[0]) & set(world[1])
    assert sorted(world[0] + world[1]) == list(range(5 * 3 * 2))
    resumed = list(StreamSampler(2, 5, 3, 0, 2))
    assert resumed == world[0][2 * 3 :]


def test_fit_iterations_uses_the_time_left():
    assert fit_iterations(done=100, seconds_per_iteration=0.5, seconds_left=100, safety=0.9) == 100 + 180
    assert fit_iterations(done=10, seconds_per_iteration=2.0, seconds_left=0) == 11  # at least one more
    with pytest.raises(ValueError, match="seconds per iteration must be positive"):
        fit_iterations(1, 0.0, 10)


def test_budget_run_probes_then_finishes_a_whole_schedule(mini_cityscapes, tmp_path):
    # one data worker: the main phase starts its workers with spawn (they must pickle and run)
    # a warm-up far longer than the budget allows: the fitted schedule shortens it so lr still decays
    cfg = tiny_config(
        mini_cityscapes, tmp_path / "run", iterations=5, workers=1, val_split="val", val_interval=3, warmup_iters=10**4
    )
    trainer, result = train_for_minutes(cfg, minutes=0.4, device="cpu", progress=False, probe_fraction=0.25)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    fitted = [r for r in records if "fitted_iterations" in r]
    assert len(fitted) == 1, records
    probe_iters, total = fitted[0]["iter"], fitted[0]["fitted_iterations"]
    assert probe_iters >= 1 and total > probe_iters and total != cfg.iterations  # cfg.iterations is replaced
    # the main run re-fits the length to the speed it measures (DeadlineFit); the log says each change
    refits = [r["schedule_iterations"] for r in records if "schedule_iterations" in r]
    final_total = (refits or [total])[-1]
    assert trainer.cfg.iterations == final_total
    assert fitted[0]["warmup_iters"] == max(total // 5, probe_iters)
    # a re-fit that shortens the schedule shortens the warm-up with it, and logs the new one
    warmups = [
        r["warmup_iters"]
        for r in records
        if "warmup_iters" in r and ({"fitted_iterations", "schedule_iterations"} & r.keys())
    ]
    assert trainer.cfg.warmup_iters == warmups[-1]
    assert trainer.worker_start == "spawn"
    assert not [r for r in records if "val_miou" in r and r["iter"] <= probe_iters]  # the probe never validates
    stopped = [r for r in records if r.get("stopped") == "time limit"]
    assert stopped and stopped[0]["iter"] == probe_iters  # the probe stopped on its share of the budget
    # the main run resumed the probe and, unless the machine stalled in its last seconds, ran its schedule out
    assert result.exit_code == 0 and probe_iters < result.iteration <= final_total
    meta = read_checkpoint(result.last_checkpoint)["meta"]
    assert meta["training"]["iterations"] == result.iteration
    if result.stopped is None:
        assert result.iteration == final_total
        # the last loss record's lr (a validation record follows it at the schedule's last iteration)
        assert [r for r in records if "lr" in r][-1]["lr"] < 0.1 * cfg.lr  # the poly decay reached (close to) zero


def test_budget_cli_refuses_resume(mini_cityscapes, tmp_path, capsys):
    code = train_main(
        ["--data-root", str(mini_cityscapes), "--out", str(tmp_path), "--budget-minutes", "1", "--resume"]
    )
    assert code == 2
    assert "--budget-minutes starts a new run; --resume alone continues one" in capsys.readouterr().err


def test_init_from_copies_the_weights_that_fit(mini_cityscapes, tmp_path):
    from attanet_model import CITYSCAPES_CLASSES, ModelMeta, build_model, default_model_path, save_checkpoint

    bundled = read_checkpoint(default_model_path())["state_dict"]  # a --release file: fp16, no aux heads
    # the bundled model predates the official light decoder: it is an attanet_light_compact
    compact = tiny_config(
        mini_cityscapes, tmp_path / "a", arch="attanet_light_compact", init_from=str(default_model_path())
    )
    with pytest.raises(
        CheckpointError, match="holds a attanet_light_compact model but the config trains attanet_light"
    ):
        Trainer(tiny_config(mini_cityscapes, tmp_path / "x", init_from=str(default_model_path())), device="cpu")
    trainer = Trainer(compact, device="cpu")
    own = trainer.model.state_dict()
    for name, tensor in bundled.items():
        torch.testing.assert_close(own[name], tensor.float() if tensor.is_floating_point() else tensor, msg=name)
    assert trainer.init_report["fresh_modules"] == ["aux_head_afm", "aux_head_res3"]

    # another class count: the classifiers start fresh, everything else is copied
    torch.manual_seed(5)
    five = build_model("attanet_light", 5)
    path = save_checkpoint(
        tmp_path / "five.pt", five, ModelMeta.for_model(five, "attanet_light", CITYSCAPES_CLASSES[:5])
    )
    trainer = Trainer(tiny_config(mini_cityscapes, tmp_path / "b", init_from=str(path)), device="cpu")
    assert set(trainer.init_report["fresh_modules"]) == {"head", "aux_head_afm", "aux_head_res3"}
    torch.testing.assert_close(trainer.model.state_dict()["head.0.0.weight"], five.state_dict()["head.0.0.weight"])

    code = train_main(
        [
            "--config",
            "synthetic_light",
            "--data-root",
            str(mini_cityscapes),
            "--arch",
            "attanet_r18",
            "--init-from",
            str(path),
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    assert code == 2


def test_device_augment_and_cache_train_on_the_same_samples_as_the_workers(mini_cityscapes, tmp_path):
    # the same seed draws the same AugmentParams; applied in the workers (OpenCV) or to the batch
    # (grid_sample) they give the same crops up to interpolation rounding, hence the same losses;
    # the device cache feeds the batched path the very same frames and parameters
    modes = {
        "workers": {},
        "device": {"device_augment": True},
        "cache": {"device_augment": True, "cache_on_device": True},
    }
    runs = {}
    for mode, flags in modes.items():
        cfg = tiny_config(mini_cityscapes, tmp_path / mode, iterations=6, workers=1, **flags)
        runs[mode] = Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()
        assert runs[mode].exit_code == 0 and runs[mode].iteration == 6, mode
    losses = {mode: [r["loss"] for r in run.history if "loss" in r] for mode, run in runs.items()}
    assert len(losses["workers"]) == 6
    assert len(set(losses["workers"])) == 6  # the curve moves: equal curves below are not trivial
    # lr 0.05 amplifies rounding differences from step to step: compare the first steps
    np.testing.assert_allclose(losses["device"][:3], losses["workers"][:3], rtol=0.01)
    np.testing.assert_allclose(losses["cache"], losses["device"], rtol=1e-6)
    waits = [r["data_wait"] for r in runs["workers"].history if "data_wait" in r]
    assert waits and all(0.0 <= w <= 1.0 for w in waits)


def test_cache_on_device_resumes_on_the_same_curve(mini_cityscapes, tmp_path):
    flags = {"device_augment": True, "cache_on_device": True, "ckpt_interval": 3}
    whole = Trainer(tiny_config(mini_cityscapes, tmp_path / "whole", iterations=6, **flags), device="cpu").run()
    first = Trainer(tiny_config(mini_cityscapes, tmp_path / "cut", iterations=6, max_minutes=1e-9, **flags), "cpu")
    assert first.run().iteration == 1  # stopped by its time limit after one step, last.pt saved
    rest = Trainer(
        tiny_config(mini_cityscapes, tmp_path / "cut", iterations=6, **flags),
        device="cpu",
        resume=str(tmp_path / "cut" / "last.pt"),
    ).run()
    cut = {r["iter"]: r["loss"] for r in first.history + rest.history if "loss" in r}
    ref = {r["iter"]: r["loss"] for r in whole.history if "loss" in r}
    assert sorted(cut) == sorted(ref) == list(range(1, 7))
    for it in ref:
        assert cut[it] == pytest.approx(ref[it], rel=1e-5, abs=1e-6), it


def test_device_augment_needs_frames_of_one_size(tmp_path):
    # the device cache reads the whole split first and names the frame that does not fit
    from attanet_training.synth import generate_dataset

    generate_dataset(tmp_path / "mixed", 1, 64, 128, seed=0, split="train")
    generate_dataset(tmp_path / "mixed", 1, 64, 96, seed=1, split="train")
    cfg = tiny_config(tmp_path / "mixed", tmp_path / "run", device_augment=True, cache_on_device=True, batch_size=2)
    expected = r"cache_on_device needs frames of one size: .* is 64x96, the first frame 64x128 \(HxW\)"
    with pytest.raises(ValueError, match=expected):
        Trainer(cfg, device="cpu", progress=False, log_stdout=False).run()

    from attanet_training.sample_stream import collate_frames

    def item(h, w):
        return torch.zeros(h, w, 3, dtype=torch.uint8), torch.zeros(h, w, dtype=torch.uint8), torch.zeros(10)

    images, labels, params = collate_frames([item(8, 16), item(8, 16)])
    assert images.shape == (2, 8, 16, 3) and labels.shape == (2, 8, 16) and params.shape == (2, 10)
    with pytest.raises(ValueError, match=r"frames of sizes 8x16, 8x20 \(HxW\).*device_augment: false"):
        collate_frames([item(8, 16), item(8, 20)])
