"""Run by test_ddp.py under torchrun: train, then report this rank's view as JSON.

Not a test itself: each rank writes ``report_dir/rank<r>.json`` with its final iteration, a
digest of its weights before and after training, and what ``Trainer.save`` did on this rank.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
import yaml

from attanet_training.config import config_from_dict
from attanet_training.trainer import Trainer


def digest(model: torch.nn.Module) -> str:
    """Of the parameters: DDP keeps those identical; BN running stats are rank-local between
    forwards (DDP re-broadcasts rank 0's at the next one), so they are left out."""
    h = hashlib.sha256()
    for key, value in sorted(model.named_parameters()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> int:
    cfg_path, report_dir = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = config_from_dict(yaml.safe_load(cfg_path.read_text()))
    trainer = Trainer(cfg, device="cpu", progress=False, log_stdout=False)
    before = digest(trainer.model)
    result = trainer.run()
    probe = trainer.save(f"probe_rank{trainer.info.rank}.pt", result.iteration)
    report = {
        "rank": trainer.info.rank,
        "world_size": trainer.info.world_size,
        "iteration": result.iteration,
        "before": before,
        "after": digest(trainer.model),
        "probe": str(probe) if probe else None,
        "optimizer_steps": sum(1 for s in trainer.optimizer.state.values() if "momentum_buffer" in s),
        "per_rank_batch": trainer.per_rank_batch,
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / f"rank{trainer.info.rank}.json").write_text(json.dumps(report))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
