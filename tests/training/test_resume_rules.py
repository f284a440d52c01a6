"""``--resume`` never records what did not run: a flag the checkpoint's optimizer, schedule or
sample stream would not follow is refused, each named with its old and new value; the rest apply
and are said. One table decides, and it covers every config field."""

from __future__ import annotations

import json

import pytest
import yaml
from test_train import tiny_config
from train_process import records

from attanet_model.checkpoint import read_checkpoint
from attanet_training.cli import train_main
from attanet_training.config import FIELDS, TrainConfig
from attanet_training.resume_rules import (
    APPLIES,
    FROM_START,
    REFUSED,
    RESUME_RULES,
    check_resume_classes,
    resumed_config,
)


def test_the_table_decides_every_field():
    assert set(RESUME_RULES) == set(FIELDS)
    assert set(RESUME_RULES.values()) == {APPLIES, FROM_START, REFUSED}
    # what the checkpoint restores, or the stream position means, cannot change
    for name in ("lr", "momentum", "weight_decay", "poly_power", "warmup_ratio", "seed", "batch_size", "crop_size"):
        assert RESUME_RULES[name] == REFUSED, name


def test_resumed_config_keeps_the_start_refuses_state_changes_and_applies_the_rest():
    saved = TrainConfig(init_from="bundled.pt", workers=2).to_dict()
    del saved["ohem_min_kept_pixels"]  # a checkpoint older than the field ran with its default
    cfg, applied = resumed_config(TrainConfig(workers=1, iterations=10), saved, "last.pt")
    assert cfg.init_from == "bundled.pt"  # how the run began is the run's, not a change
    assert applied == ["iterations 200000 -> 10", "workers 2 -> 1"]
    with pytest.raises(ValueError) as refused:
        resumed_config(TrainConfig(init_from="other.pt", lr=0.1, crop_size=(512, 512)), saved, "last.pt")
    assert str(refused.value).startswith(
        "--resume last.pt: init_from bundled.pt -> other.pt, crop_size 1024,1024 -> 512,512, lr 0.01 -> 0.1: "
        "the checkpoint's optimizer, schedule and sample stream follow the run's values"
    )


def test_resume_with_new_optimisation_flags_is_refused_and_writes_nothing(mini_cityscapes, tmp_path, capsys):
    out = tmp_path / "run"
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(mini_cityscapes, out, iterations=3, ckpt_interval=3).to_dict()))
    argv = ["--config", str(cfg_file), "--device", "cpu", "--no-progress"]
    assert train_main(argv) == 0
    before = {name: (out / name).read_bytes() for name in ("last.pt", "log.jsonl", "config.json")}
    capsys.readouterr()

    changed = ["--lr", "0.01", "--seed", "1", "--batch-size", "2", "--crop-size", "32,32", "--set", "poly_power=1"]
    assert train_main([*argv, "--resume", "--iterations", "5", *changed]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"attanet train: error: --resume {out / 'last.pt'}: crop_size 64,64 -> 32,32, batch_size 4 -> 2, "
        "seed 0 -> 1, lr 0.05 -> 0.01, poly_power 0.9 -> 1.0: the checkpoint's optimizer, schedule and sample "
        "stream follow the run's values; drop these flags"
    ), line
    assert {name: (out / name).read_bytes() for name in before} == before

    # bookkeeping and the schedule's length apply, said in one line, and config.json holds what ran
    assert train_main([*argv, "--resume", "--iterations", "5", "--workers", "1", "--set", "log_interval=2"]) == 0
    err = capsys.readouterr().err
    assert (
        "--resume: changed from the run's config (applied): iterations 3 -> 5, log_interval 1 -> 2, workers 0 -> 1"
        in err
    ), err
    config = json.loads((out / "config.json").read_text())
    assert (config["iterations"], config["log_interval"], config["workers"], config["lr"]) == (5, 2, 1, 0.05)
    assert [r["iter"] for r in records(out / "log.jsonl") if "loss" in r] == [1, 2, 3, 4, 5]
    state = read_checkpoint(out / "last.pt")["extra"]
    assert state["iteration"] == 5 and state["config"]["workers"] == 1
    assert {g["initial_lr"] for g in state["optimizer"]["param_groups"]} == {0.05}  # the run's lr, as said


def test_a_resumed_run_trains_the_checkpoints_classes():
    saved = [{"name": "road"}, {"name": "car"}]
    check_resume_classes(saved, ["road", "car"], "last.pt")
    with pytest.raises(ValueError, match=r"the run trained classes road, car; this dataset has road, person"):
        check_resume_classes(saved, ["road", "person"], "last.pt")
