"""A run folder after an interrupted run: what a resumed run removes and rewrites.

``attanet_model.save_checkpoint`` writes ``.<name>.<random>.tmp`` and renames it over the
checkpoint, so a process killed mid-write leaves the temp file and an intact previous checkpoint.
The JSON log is appended after every log step, so it runs ahead of the last checkpoint (and a kill
can tear its last line); the resumed run writes those iterations again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def remove_stale_temp_files(out_dir: Path) -> list[Path]:
    """Delete the temp files of interrupted checkpoint writes in ``out_dir``; return them."""
    stale = sorted(Path(out_dir).glob(".*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def truncate_log(path: Path, iteration: int) -> tuple[int, list[dict]]:
    """Keep the records of ``path`` (log.jsonl) up to ``iteration``, drop the rest and any line that
    is not JSON (rewritten atomically). Returns (records dropped, kept records)."""
    if not path.exists():
        return 0, []
    kept_lines, kept, dropped = [], [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            keep = int(record.get("iter", 0)) <= iteration
        except (ValueError, TypeError, AttributeError):
            keep = False
        if keep:
            kept_lines.append(line)
            kept.append(record)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept_lines))
        os.replace(tmp, path)
    return dropped, kept
