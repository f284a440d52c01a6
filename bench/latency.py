"""Latency benchmarks: network forward (+argmax) and camera-frame end to end, per backend.

Every row of one run is measured in that run, one after another on the same machine, so rows
compare with each other; compare across runs only as ratios. Each measurement warms up first,
then takes the median of repeated runs.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from attanet_model.checkpoint import ModelMeta, load_checkpoint
from attanet_model.engine_options import torch_dtype
from attanet_model.network import build_model
from attanet_model.onnx_export import export_onnx, labels_and_confidence


@dataclass
class BenchRow:
    arch: str
    backend: str
    device: str
    precision: str
    height: int
    width: int
    batch: int
    latency_ms_median: float
    fps: float
    e2e_ms_median: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def time_ms(fn: Callable[[], object], warmup: int, repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def _torch_forward(model, device: str, precision: str, batch: int, height: int, width: int):
    dtype = torch_dtype(precision)
    model = model.to(device).eval()
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, height, width, device=device)

    @torch.inference_mode()
    def run():
        with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
            return labels_and_confidence(model(x).logits.float())[0]

    return run


BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")


def ort_forward(onnx_path: Path, device: str, batch: int, height: int, width: int):
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        providers = [p for p in ("CUDAExecutionProvider",) if p in ort.get_available_providers()] + providers
    session = ort.InferenceSession(str(onnx_path), providers=providers)
    x = np.random.randn(batch, 3, height, width).astype(np.float32)
    return lambda: session.run(["labels"], {"input": x})


def run_bench(
    arch: str = "attanet_r18",
    backends=("torch", "onnxruntime"),
    device: str = "cpu",
    precisions=("fp32",),
    height: int = 512,
    width: int = 1024,
    batch: int = 1,
    warmup: int = 3,
    repeats: int = 10,
    checkpoint: Path | None = None,
    e2e: bool = True,
    workdir: Path | None = None,
    calibration: list[np.ndarray] | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> list[BenchRow]:
    """Measure every (backend, precision) on the same weights; ``e2e`` adds Segmenter timing from
    a uint8 BGR frame of twice the network size to labels at that size."""
    from attanet_model.segmenter import Segmenter

    if checkpoint is not None:
        model, meta, _ = load_checkpoint(checkpoint)
        arch = meta.arch
    else:
        torch.manual_seed(0)
        model = build_model(arch).eval()
        meta = ModelMeta.for_model(model, arch)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(workdir or tmp)
        ckpt_path = tmp / f"{arch}.pt"
        from attanet_model.checkpoint import save_checkpoint

        save_checkpoint(ckpt_path, model, meta)
        onnx_path = None
        camera = np.random.randint(0, 256, (height * 2, width * 2, 3), np.uint8)
        for backend in backends:
            for precision in precisions:
                if backend != "torch" and precision != "fp32":
                    continue  # half precision through ORT needs the CUDA/TensorRT providers
                progress(f"{arch} {backend} {device} {precision} {batch}x{height}x{width}")
                if backend == "torch":
                    fn = _torch_forward(model, device, precision, batch, height, width)
                    seg_path = ckpt_path
                else:
                    if onnx_path is None:
                        progress(f"exporting {arch} to ONNX")
                        onnx_path = export_onnx(model.cpu(), meta, tmp / f"{arch}.onnx", argmax=True)
                    seg_path = onnx_path
                    if backend == "onnxruntime-int8":
                        from attanet_model.quantize import quantize_int8

                        progress(f"quantizing {arch} to int8")
                        frames = calibration if calibration is not None else [camera]
                        seg_path = quantize_int8(onnx_path, tmp / f"{arch}.int8.onnx", meta, frames, (height, width))
                    fn = ort_forward(seg_path, device, batch, height, width)
                latency = time_ms(fn, warmup, repeats, sync) / batch
                e2e_ms = None
                if e2e and batch == 1:
                    engine = "torch" if backend == "torch" else "onnxruntime"
                    seg = Segmenter(
                        seg_path, backend=engine, device=device, precision=precision, input_size=(height, width)
                    )
                    e2e_ms = time_ms(lambda s=seg: s.segment(camera), warmup, repeats, sync)
                rows.append(
                    BenchRow(
                        arch,
                        backend,
                        device,
                        precision,
                        height,
                        width,
                        batch,
                        round(latency, 3),
                        round(1e3 / latency, 2),
                        None if e2e_ms is None else round(e2e_ms, 3),
                    )
                )
    return rows


def environment() -> dict:
    import onnxruntime

    from attanet_model.cpu_capabilities import openvino_installed, this_cpu

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "cpu": this_cpu().describe(),
        "threads": torch.get_num_threads(),
    }
    if openvino_installed():
        import openvino

        env["openvino"] = openvino.__version__.split("-")[0]
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def rows_markdown(rows: list[BenchRow]) -> str:
    lines = [
        "| arch | backend | device | precision | input | batch | net+argmax ms | FPS | e2e ms (2x frame) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e2e = f"{r.e2e_ms_median:.1f}" if r.e2e_ms_median is not None else "-"
        lines.append(
            f"| {r.arch} | {r.backend} | {r.device} | {r.precision} | {r.height}x{r.width} | {r.batch} | "
            f"{r.latency_ms_median:.1f} | {r.fps:.1f} | {e2e} |"
        )
    return "\n".join(lines)
