"""What a run says besides its plan: the hardware it ran on, its closing line, and the line of a
write that failed."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

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
