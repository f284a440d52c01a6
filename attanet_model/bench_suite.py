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


class NonLocalBlock(torch.nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018), Table 3's first comparison."""

    def __init__(self, channels: int, key_channels: int = 64) -> None:
        super().__init__()
        self.query = torch.nn.Conv2d(channels, key_channels, 1)
        self.key = torch.nn.Conv2d(channels, key_channels, 1)
        self.value = torch.nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)
        k = self.key(x).flatten(2)
        attention = torch.softmax(torch.bmm(q, k), dim=-1)  # N x N
        return x + torch.bmm(self.value(x).flatten(2), attention.transpose(1, 2)).view(b, c, h, w)


def attention_memory_and_time(device: str, repeats: int) -> list[str]:
    """Peak extra memory and time of SAM vs a non-local block on the 1/16 feature of a 1x3x1024x1024
    input (1x128x64x64), the setting of paper Table 3 (SAM 8 MB, NL 334 MB there)."""
    from .attention import StripAttention
    from .bench import time_ms

    x = torch.randn(1, 128, 64, 64, device=device)
    notes = []
    for name, module in (("SAM", StripAttention(128, 64)), ("non-local", NonLocalBlock(128, 64))):
        module = module.to(device).eval()
        with torch.inference_mode():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            module(x)
            torch.cuda.synchronize()
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            ms = time_ms(lambda m=module: m(x), 3, repeats, torch.cuda.synchronize)
        notes.append(f"{name} on 1x128x64x64: peak extra memory {peak:.1f} MiB, {ms:.3f} ms")
    return notes


def pipeline_rows(model, precision: str, batches, graphs: bool, repeats: int, progress) -> list[BenchRow]:
    """Uint8 1024x2048 frames on the host -> uint8 labels on the host, through DevicePipeline."""
    from .bench import time_ms
    from .device_pipeline import DevicePipeline
    from .preprocess import network_size

    pipeline = DevicePipeline(
        model,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        lambda h, w: network_size(h, w, 0.5),
        "cuda",
        precision,
        cuda_graphs=graphs,
    )
    rows = []
    for batch in batches:
        progress(f"pipeline {precision} graphs={graphs} batch {batch}")
        frames = np.random.randint(0, 256, (batch, 1024, 2048, 3), np.uint8)
        ms = time_ms(lambda f=frames: pipeline(f), 5, repeats) / batch
        rows.append(
            BenchRow(
                "attanet_r18",
                "torch-pipeline" + ("+graphs" if graphs else ""),
                "cuda",
                precision,
                512,
                1024,
                batch,
                round(ms, 3),
                round(1e3 / ms, 1),
                round(ms, 3),
            )
        )
    return rows


def gpu_suite(checkpoint: Path | None, repeats: int, progress) -> tuple[list[BenchRow], list[str]]:
    if not torch.cuda.is_available():
        raise RuntimeError("the GPU suite needs a CUDA GPU; torch sees none (run `attanet bench --suite cpu`)")
    from .network import build_model
    from .preprocess import network_size

    repeats = max(repeats, 50)
    rows = run_bench(
        "attanet_r18", ("torch",), "cuda", ("fp32", "fp16", "bf16"), 512, 1024, repeats=repeats, progress=progress
    )
    rows += run_bench(
        "attanet_r18", ("torch",), "cuda", ("fp16",), 512, 1024, batch=4, repeats=repeats, e2e=False, progress=progress
    )
    rows += run_bench(
        "attanet_light", ("torch",), "cuda", ("fp32", "fp16"), 512, 1024, repeats=repeats, progress=progress
    )
    rows += run_bench("attanet_r18", ("onnxruntime",), "cuda", ("fp32",), 512, 1024, repeats=repeats, progress=progress)
    torch.manual_seed(0)
    for graphs in (False, True):
        rows += pipeline_rows(build_model("attanet_r18"), "fp16", (1, 4), graphs, repeats, progress)
    from .device_pipeline import DevicePipeline

    frames = np.random.default_rng(0).integers(0, 256, (4, 1024, 2048, 3), dtype=np.uint8)
    size = lambda h, w: network_size(h, w, 0.5)  # noqa: E731
    torch.manual_seed(0)
    model = build_model("attanet_r18")
    fp32, _ = DevicePipeline(model, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size, "cuda", "fp32")(frames)
    fp16, _ = DevicePipeline(model, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size, "cuda", "fp16")(frames)
    notes = [f"fp16 vs fp32 labels agree on {(fp32 == fp16).mean():.4%} of pixels (random-init r18, 4 frames)"]
    notes += attention_memory_and_time("cuda", repeats)
    return rows, notes
