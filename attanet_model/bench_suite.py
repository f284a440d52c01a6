"""``attanet bench --suite cpu|gpu``: every variant of issue 7 in one run, next to the paper.

All rows of a suite are measured in the same process, one after another, so their ratios are
meaningful; absolute numbers move with machine load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from .bench import CALIBRATION_DIR, BenchRow, run_bench

PAPER = [
    ("AttaNet ResNet-18, GTX 1080Ti fp32, 1024x2048 -> 512x1024 (paper Table 1)", "130 FPS"),
    ("AttaNet light (8 convs), GTX 1080Ti fp32 (paper Table 1)", "180 FPS"),
    ("BiSeNetV1 TensorRT, A40, 1024x2048 fp32 / fp16 / int8", "112 / 239 / 435 FPS"),
]


def calibration_frames(folder: Path | None = None, limit: int = 8) -> list[np.ndarray]:
    from .quantize import read_images

    folder = folder or CALIBRATION_DIR
    return read_images(folder, limit) if folder.is_dir() else []


def label_agreement(a: Path, b: Path, frames: list[np.ndarray], size: tuple[int, int]) -> float:
    """Fraction of pixels on which two model files give the same label, over ``frames``."""
    from .segmenter import Segmenter

    seg_a, seg_b = Segmenter(a, input_size=size), Segmenter(b, input_size=size)
    same = total = 0
    for frame in frames:
        la, lb = seg_a.segment(frame).labels, seg_b.segment(frame).labels
        same += int((la == lb).sum())
        total += la.size
    return same / max(total, 1)


def cpu_suite(checkpoint: Path | None, calib: Path | None, repeats: int, progress) -> tuple[list[BenchRow], list[str]]:
    frames = calibration_frames(calib)
    notes = []
    rows = run_bench(
        "attanet_r18",
        ("torch", "onnxruntime", "onnxruntime-int8"),
        "cpu",
        ("fp32",),
        512,
        1024,
        repeats=repeats,
        calibration=frames or None,
        progress=progress,
    )
    from .segmenter import default_model_path

    light_ckpt = checkpoint or default_model_path()
    for h, w in ((512, 1024), (256, 512)):
        rows += run_bench(
            "attanet_light",
            ("torch", "onnxruntime", "onnxruntime-int8"),
            "cpu",
            ("fp32",),
            h,
            w,
            repeats=repeats,
            checkpoint=light_ckpt,
            calibration=frames or None,
            progress=progress,
        )
    by = {(r.arch, r.backend, r.height): r for r in rows}
    for arch, h in (("attanet_r18", 512), ("attanet_light", 512), ("attanet_light", 256)):
        fp32, int8 = by[(arch, "onnxruntime", h)], by[(arch, "onnxruntime-int8", h)]
        torch_row = by[(arch, "torch", h)]
        notes.append(
            f"{arch} {h}x{2 * h}: ONNX Runtime fp32 is {torch_row.latency_ms_median / fp32.latency_ms_median:.2f}x "
            f"torch; int8 is {fp32.latency_ms_median / int8.latency_ms_median:.2f}x ONNX Runtime fp32"
        )
    if frames:
        from .checkpoint import load_checkpoint
        from .onnx_export import export_onnx
        from .quantize import quantize_int8

        model, meta, _ = load_checkpoint(light_ckpt)
        with tempfile.TemporaryDirectory() as tmp:
            fp32_path = export_onnx(model, meta, Path(tmp) / "m.onnx", argmax=True)
            int8_path = quantize_int8(fp32_path, Path(tmp) / "m.int8.onnx", meta, frames, (256, 512))
            agreement = label_agreement(fp32_path, int8_path, frames, (256, 512))
        notes.append(
            f"int8 vs fp32 labels agree on {agreement:.2%} of pixels ({len(frames)} calibration frames, "
            f"{meta.arch} from {light_ckpt.name})"
        )
    return rows, notes


def gpu_suite(checkpoint: Path | None, repeats: int, progress) -> tuple[list[BenchRow], list[str]]:
    if not torch.cuda.is_available():
        raise RuntimeError("the GPU suite needs a CUDA GPU; torch sees none (run `attanet bench --suite cpu`)")
    rows = run_bench(
        "attanet_r18", ("torch",), "cuda", ("fp32", "fp16", "bf16"), 512, 1024, repeats=repeats, progress=progress
    )
    rows += run_bench(
        "attanet_r18", ("torch",), "cuda", ("fp16",), 512, 1024, batch=4, repeats=repeats, e2e=False, progress=progress
    )
    rows += run_bench(
        "attanet_light",
        ("torch",),
        "cuda",
        ("fp32", "fp16"),
        512,
        1024,
        repeats=repeats,
        checkpoint=checkpoint,
        progress=progress,
    )
    rows += run_bench("attanet_r18", ("onnxruntime",), "cuda", ("fp32",), 512, 1024, repeats=repeats, progress=progress)
    return rows, []
