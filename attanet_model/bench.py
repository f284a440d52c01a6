"""Latency benchmarks: network forward (+argmax) and camera-frame end to end, per backend.

Every row of one run is measured in that run, one after another on the same machine, so rows
compare with each other; compare across runs only as ratios. Each measurement warms up first,
then takes the median of repeated runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, ModelMeta, load_checkpoint
from .network import ARCHS, build_model
from .onnx_export import export_onnx, labels_and_confidence


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
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    model = model.to(device).eval()
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, height, width, device=device)

    @torch.inference_mode()
    def run():
        with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
            return labels_and_confidence(model(x).float())[0]

    return run


BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
CALIBRATION_DIR = Path(__file__).parent / "assets" / "calibration"


def _ort_forward(onnx_path: Path, device: str, batch: int, height: int, width: int):
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
    from .segmenter import Segmenter

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
        from .checkpoint import save_checkpoint

        save_checkpoint(ckpt_path, model, meta)
        onnx_path = None
        camera = np.random.randint(0, 256, (height * 2, width * 2, 3), np.uint8)
        for backend in backends:
            for precision in precisions:
                if backend != "torch" and precision != "fp32":
                    continue  # half precision through ORT needs the CUDA/TensorRT providers (issue 7)
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
                        from .quantize import quantize_int8

                        progress(f"quantizing {arch} to int8")
                        frames = calibration if calibration is not None else [camera]
                        seg_path = quantize_int8(onnx_path, tmp / f"{arch}.int8.onnx", meta, frames, (height, width))
                    fn = _ort_forward(seg_path, device, batch, height, width)
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

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
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


def bench_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="attanet bench",
        description="Median latency of the network forward with argmax at HxW (latency_ms_median) and of the whole "
        "Segmenter from a uint8 BGR frame of 2Hx2W to labels at that size (e2e_ms_median), per backend and "
        "precision, all rows measured in one run.",
    )
    parser.add_argument("--arch", default="attanet_r18", help=f"one of {', '.join(ARCHS)}; comma-separated for several")
    parser.add_argument("--checkpoint", type=Path, help="benchmark these weights instead of a random init")
    parser.add_argument("--backends", default="torch,onnxruntime", help="comma-separated (default: %(default)s)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", help="comma-separated: fp32,fp16,bf16 (default: %(default)s)")
    parser.add_argument("--height", type=int, default=512, help="network input height (default: %(default)s)")
    parser.add_argument("--width", type=int, default=1024, help="network input width (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end Segmenter rows")
    parser.add_argument("--markdown", type=Path, help="also write the table (with versions) to this file")
    parser.add_argument(
        "--suite",
        choices=["cpu", "gpu"],
        help="run every variant of that suite (ignores --arch/--backends/--precision/sizes)",
    )
    parser.add_argument(
        "--calib",
        type=Path,
        help="folder of frames for int8 calibration and agreement (default: the bundled synthetic frames)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        help="--suite gpu: start no step after this many seconds (the slow torch.compile rows run last)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON row per line")
    args = parser.parse_args(argv)
    if args.suite:
        return _suite_cli(args, argv)
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    for arch in archs:
        if arch not in ARCHS:
            print(f"attanet bench: unknown arch {arch!r}; known: {', '.join(ARCHS)}", file=sys.stderr)
            return 2
    backends = [b.strip() for b in args.backends.split(",")]
    if bad := [b for b in backends if b not in BACKENDS]:
        print(f"attanet bench: unknown backend(s) {bad}; use {', '.join(BACKENDS)}", file=sys.stderr)
        return 2
    precisions = [p.strip() for p in args.precision.split(",")]
    if bad := [p for p in precisions if p not in ("fp32", "fp16", "bf16")]:
        print(f"attanet bench: unknown precision(s) {bad}; use fp32, fp16, bf16", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("attanet bench: --device cuda but torch sees no CUDA GPU", file=sys.stderr)
        return 2
    if args.device == "cpu" and "fp16" in precisions:
        print("attanet bench: fp16 needs --device cuda; on the CPU use fp32 or bf16", file=sys.stderr)
        return 2
    if args.checkpoint is not None:
        from .segmenter import model_file_meta

        try:
            model_file_meta(args.checkpoint)
        except CheckpointError as exc:
            print(f"attanet bench: {exc}", file=sys.stderr)
            return 2
    rows = []
    for arch in archs:
        rows += run_bench(
            arch,
            backends,
            args.device,
            precisions,
            args.height,
            args.width,
            args.batch,
            args.warmup,
            args.repeats,
            args.checkpoint,
            not args.no_e2e,
            progress=lambda s: print(f"[bench] {s}", file=sys.stderr, flush=True),
        )
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict()))
    else:
        print(rows_markdown(rows))
    if args.markdown:
        write_markdown(args.markdown, rows, [], argv)
    return 0


def write_markdown(path: Path, rows: list[BenchRow], notes: list[str], argv: list[str]) -> None:
    from .bench_suite import PAPER

    env = environment()
    text = [
        "# Benchmark results",
        "",
        "Measured by `attanet bench " + " ".join(argv) + "`, all rows in one run "
        "(compare rows with each other; absolute times move with machine load).",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        rows_markdown(rows),
        "",
    ]
    text += [f"- {n}" for n in notes]
    text += ["", "Published figures, for context (other hardware):", ""]
    text += [f"- {what}: {value}" for what, value in PAPER]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n")


def _suite_cli(args, argv: list[str]) -> int:
    from . import bench_suite

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    try:
        if args.suite == "cpu":
            rows, notes = bench_suite.cpu_suite(args.checkpoint, args.calib, args.repeats, progress)
        else:
            partial = None
            if args.markdown:

                def partial(rows_so_far, notes_so_far):
                    write_markdown(args.markdown, rows_so_far, notes_so_far + ["(suite still running)"], argv)

            rows, notes = bench_suite.gpu_suite(args.checkpoint, args.repeats, progress, args.time_limit, partial)
    except (RuntimeError, ValueError) as exc:
        print(f"attanet bench: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict()))
    else:
        print(rows_markdown(rows))
        print("\n".join(notes))
    if args.markdown:
        write_markdown(args.markdown, rows, notes, argv)
    return 0
