"""Synthetic frames written in the Cityscapes layout (images, labelIds, labelTrainIds, colour)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from attanet_model.atomic_write import write_png

from ..cityscapes_labels import label_ids_to_color, label_ids_to_train_ids
from .render import render_frame, render_sequence

MAX_SIDE = 8192  # pixels: beyond any camera (8K video is 7680x4320)
RENDER_BYTES_PER_PIXEL = 100  # peak memory of one frame being rendered (measured: 95-102 B/px)


def write_frame(img_dir: Path, gt_dir: Path, stem: str, rgb: np.ndarray, label_ids: np.ndarray) -> Path:
    image_path = img_dir / f"{stem}_leftImg8bit.png"
    # checked writes: cv2.imwrite reports success for a PNG a full disk left empty
    write_png(image_path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    write_png(gt_dir / f"{stem}_gtFine_labelIds.png", label_ids)
    write_png(gt_dir / f"{stem}_gtFine_labelTrainIds.png", label_ids_to_train_ids(label_ids))
    write_png(gt_dir / f"{stem}_gtFine_color.png", cv2.cvtColor(label_ids_to_color(label_ids), cv2.COLOR_RGB2BGR))
    return image_path


class FrameJob(NamedTuple):
    """One independent scene to render and write (picklable, for ``--jobs`` worker processes)."""

    img_dir: Path
    gt_dir: Path
    city: str
    seed: int
    index: int
    height: int
    width: int


def render_and_write(job: FrameJob) -> Path:
    """One independent scene, rendered and written in a worker process (``--jobs``)."""
    cv2.setNumThreads(1)
    rgb, label_ids = render_frame(job.seed, job.index, job.height, job.width)
    return write_frame(job.img_dir, job.gt_dir, f"{job.city}_{job.index:06d}_000019", rgb, label_ids)


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(height: int, width: int, processes: int) -> None:
    """Refuse a size no camera has, or one whose frames would not fit in memory while rendering."""
    need = RENDER_BYTES_PER_PIXEL * height * width * processes
    what = f"{height}x{width} (HxW) frames need about {need / 2**30:.1f} GiB to render ({processes} at a time)"
    if max(height, width) > MAX_SIDE:
        raise ValueError(f"image size {height}x{width} (HxW) is larger than {MAX_SIDE} per side: {what}")
    available = available_memory()
    if available is not None and need > 0.8 * available:
        raise ValueError(f"{what}, but {available / 2**30:.1f} GiB are available; use a smaller size or fewer --jobs")


def existing_frame_size(out_dir: str | Path, split: str) -> tuple[int, int, Path] | None:
    """(height, width, file) of a frame already in ``out_dir``'s ``split``, or None if it has none."""
    split_dir = Path(out_dir) / "leftImg8bit" / split
    first = next(iter(sorted(split_dir.glob("*/*_leftImg8bit.png"))), None) if split_dir.is_dir() else None
    if first is None:
        return None
    image = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{first} is not a readable image; remove it or write with --overwrite")
    return image.shape[0], image.shape[1], first


def check_frames(num: int, height: int, width: int) -> None:
    """A request for ``num`` frames of ``height`` x ``width``: at least one, at least 32x32."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    if height < 32 or width < 32:
        raise ValueError(f"image size {height}x{width} (HxW) is too small; use at least 32x32 (e.g. 512x1024)")


def generate_dataset(
    out_dir: str | Path,
    num: int,
    height: int = 512,
    width: int = 1024,
    seed: int = 0,
    split: str = "train",
    sequence: bool = False,
    progress: bool = False,
    jobs: int = 1,
) -> list[Path]:
    """Write ``num`` synthetic frames in the Cityscapes layout under ``out_dir``; return image paths.

    City name ``synth<seed>``; stems ``synth<seed>_<sequence:06d>_<frame:06d>`` like Cityscapes'
    ``aachen_000000_000019``. Deterministic for a seed: the same call writes the same files, with
    any number of ``jobs`` (independent scenes render in parallel; a sequence renders in order).
    """
    check_frames(num, height, width)
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    check_memory(height, width, min(jobs, num))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is an existing file; give a folder (the dataset root) instead")
    city = f"synth{seed}"
    img_dir = out_dir / "leftImg8bit" / split / city
    gt_dir = out_dir / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num, desc=f"synth {split}", unit="img")
    paths = []
    if sequence:
        for i, (rgb, label_ids) in enumerate(render_sequence(seed, num, height, width)):
            paths.append(write_frame(img_dir, gt_dir, f"{city}_000000_{i:06d}", rgb, label_ids))
            if bar is not None:
                bar.update(1)
    else:
        work = [FrameJob(img_dir, gt_dir, city, seed, i, height, width) for i in range(num)]
        if jobs == 1:
            results = map(render_and_write, work)
        else:
            import multiprocessing

            pool = multiprocessing.get_context("spawn").Pool(min(jobs, num))
            results = pool.imap(render_and_write, work, chunksize=1)
        try:
            for path in results:
                paths.append(path)
                if bar is not None:
                    bar.update(1)
        finally:
            if jobs > 1:
                pool.close()
                pool.join()
    if bar is not None:
        bar.close()
    return paths
