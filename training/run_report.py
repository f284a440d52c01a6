"""What a run says: its plan before the first iteration, the hardware it runs on, its closing
line, and the line of a write that failed."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from .config import TrainConfig
from .run_errors import WriteFailed


def hardware_description(device: str) -> str:
    """The GPU (with its CUDA version) or the CPU model and torch's thread count."""
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} torch threads"


def closing_line(
    iteration: int,
    wall_s: float,
    best_path: Path | None,
    best_miou: float | None,
    final_miou: float | None,
    last_path: Path | None,
    data_problems: dict[str, dict],
) -> str:
    """``done: N iterations in S s; best ... (val mIoU ..%); last ...`` and the bad files met."""
    best = (
        f"best {best_path} (val mIoU {best_miou * 100:.2f}%)"
        if best_path is not None and best_miou is not None
        else "no validation (no best.pt)"
    )
    if final_miou is not None and best_path is not None and final_miou != best_miou:
        # best.pt is chosen on the val split, so its number is the optimistic one: say the final too
        best += f"; final weights {final_miou * 100:.2f}%"
    skipped = sorted(f for f, p in data_problems.items() if p["skipped"])
    read_as_ignore = len(data_problems) - len(skipped)
    data = f"; {len(skipped)} unreadable file(s) skipped" if skipped else ""
    if read_as_ignore:
        data += f"; {read_as_ignore} label file(s) with values outside the table (read as ignore)"
    if data_problems:
        data += " (bad_data in log.jsonl)"
    return f"done: {iteration} iterations in {wall_s:.0f} s; {best}; last {last_path}{data}"


def failure_line(failure: WriteFailed, iteration: int, last_saved: int | None, out_dir: Path) -> str:
    """A failed write in one line: its cause and file, what is intact on disk (``last_saved``: the
    iteration of the last.pt this run knows it holds), how to go on."""
    go_on = "then --resume continues"
    if last_saved is not None:
        intact = f"last.pt at iteration {last_saved} is intact"
    elif (out_dir / "last.pt").exists():
        intact = "the last.pt that was there is intact"
    else:
        intact, go_on = "no last.pt was written yet", "then --resume starts the run again"
    fix = "free some space" if "space" in failure.cause or "quota" in failure.cause else "fix that"
    return f"{failure.cause} (writing {failure.file} at iteration {iteration}); {intact}; {fix}, {go_on}"


def plan_lines(
    cfg: TrainConfig,
    *,
    device: str,
    world_size: int,
    class_names: list[str],
    train_images: int,
    val_images: int | None,
    per_rank_batch: int,
    amp: bool,
    out_dir: Path,
    resumed_from: str | None,
    start_iteration: int,
    schedule: str | None = None,
) -> list[str]:
    """The run in a few lines, printed before the first iteration (``val_images`` None: no
    validation; ``schedule`` replaces the schedule line, as the budget's probe does)."""
    names = class_names
    shown = ", ".join(names if len(names) <= 8 else names[:6] + ["...", names[-1]])
    val = f", {cfg.val_split} {val_images} images" if val_images is not None else ", no validation"
    if resumed_from:
        weights = f"resumed at iteration {start_iteration} of {cfg.iterations} from {resumed_from}"
    elif cfg.init_from:
        weights = f"initialised from {cfg.init_from}"
    elif cfg.pretrained:
        weights = f"ImageNet backbone from {cfg.pretrained}, the rest from scratch"
    else:
        weights = "from scratch (no pretrained backbone)"
    crop_h, crop_w = cfg.crop_size
    schedule = schedule or (
        f"{cfg.iterations} iterations, warm-up {cfg.warmup_iters}, lr {cfg.lr:g} (heads x{cfg.head_lr_mult:g}), "
        f"poly {cfg.poly_power:g}"
    )
    return [
        "plan",
        f"  data      {cfg.dataset} {cfg.data_root}: {cfg.train_split} {train_images} images{val}",
        f"  classes   {len(names)}: {shown}",
        f"  model     {cfg.arch}, {weights}",
        f"  device    {hardware_description(device)}, {world_size} process(es), {cfg.workers} data worker(s) each",
        f"  batch     {cfg.batch_size} ({per_rank_batch} per process), crop {crop_h}x{crop_w} (HxW), "
        f"scales {', '.join(f'{x:g}' for x in cfg.scales)}{', AMP' if amp else ''}",
        f"  schedule  {schedule}",
        "  bad data  "
        + (
            "stop at the first unreadable file (strict_data)"
            if cfg.strict_data
            else "name and skip (--strict-data stops)"
        ),
        f"  output    {out_dir} (last.pt every {cfg.ckpt_interval} it"
        + (f", val every {cfg.val_interval} it" if val_images is not None else "")
        + ")",
    ]
