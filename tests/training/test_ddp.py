"""Two gloo processes under torchrun: both ranks train, weights stay in sync, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from test_train import tiny_config

from attanet_model.checkpoint import read_checkpoint

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp(mini_cityscapes, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_config(
        mini_cityscapes,
        out,
        iterations=6,
        batch_size=4,
        ckpt_interval=3,
        val_split="val",
        val_interval=6,
        val_max_images=2,
    )
    cfg_file = tmp_path / "ddp.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.to_dict()))
    reports = tmp_path / "reports"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(HERE / "ddp_worker.py"),
        str(cfg_file),
        str(reports),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((reports / f"rank{r}.json").read_text()) for r in range(2))
    # both ranks ran every step with half the batch each
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["iteration"] == r1["iteration"] == 6
    assert r0["per_rank_batch"] == r1["per_rank_batch"] == 2
    assert r0["optimizer_steps"] > 0 and r1["optimizer_steps"] > 0
    # same start, same end, and the weights moved
    assert r0["before"] == r1["before"]
    assert r0["after"] == r1["after"] != r0["before"]
    # rank 0 alone writes checkpoints and logs
    assert r0["probe"] and r1["probe"] is None
    assert (out / "probe_rank0.pt").exists() and not (out / "probe_rank1.pt").exists()
    iters = [
        json.loads(line)["iter"] for line in (out / "log.jsonl").read_text().splitlines() if "loss" in json.loads(line)
    ]
    assert iters == [1, 2, 3, 4, 5, 6]  # one line per step, not one per rank
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    ckpt = read_checkpoint(out / "last.pt")
    assert ckpt["extra"]["iteration"] == 6 and ckpt["meta"]["training"]["world_size"] == 2
    assert (out / "best.pt").exists()


def _torchrun_train(cfg_file: Path, *extra: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 -m attanet_cli train ...``, the documented command."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    cmd += ["--master_port", str(_free_port()), "-m", "attanet_cli", "train", "--config", str(cfg_file)]
    cmd += ["--device", "cpu", "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=HERE.parents[1], env=env)


def test_torchrun_rank_zero_alone_holds_the_run_folder(mini_cityscapes, tmp_path):
    out = tmp_path / "run"
    cfg_file = tmp_path / "ddp.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(mini_cityscapes, out, iterations=2, batch_size=4).to_dict()))
    proc = _torchrun_train(cfg_file)
    assert proc.returncode == 0, proc.stderr[-3000:]  # rank 1 was not refused by rank 0's lock
    assert [r["iter"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())] == [1, 2]
    assert json.loads((out / "run.lock").read_text())["command"].startswith("attanet train --config")

    # the folder now holds a finished run: every rank stops, rank 0 says why
    again = _torchrun_train(cfg_file)
    assert again.returncode != 0
    assert again.stderr.count(f"attanet train: error: --out {out} already holds a run") == 1, again.stderr
    assert f"attanet train: error: rank 0 could not claim --out {out} (its message says why)" in again.stderr

    # a batch of 2 over 2 processes is 1 per process: refused on every rank before anything is written
    small = _torchrun_train(cfg_file, "--batch-size", "2", "--out", str(tmp_path / "small"))
    assert small.returncode != 0
    assert "batch_size: 2 over 2 processes (expected at least 2 samples per process" in small.stderr
    assert "the smallest batch that works here is 4" in small.stderr
    assert not (tmp_path / "small").exists()
