"""ONNX Runtime on a GPU: TensorRT engine build time, cached start-up, and FPS per provider.

    python bench/ort_gpu_bench.py --out bench/RESULTS-ort-gpu.md [--size 1024x2048] [--frames 50]

Run by bench/run_gpu.sh. Needs onnxruntime-gpu (``make install GPU=1``); TensorRT rows need the
TensorRT libraries too. What is missing is written as a note, not guessed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from attanet_model.cli_args import add_out, add_size


def _fps(run, frames: int) -> tuple[float, float]:
    run()  # warm
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return median * 1e3, 1.0 / median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_out(parser, "markdown report", required=True, old=())
    add_size(parser, (1024, 2048), "camera size", old_sides=False)
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args(argv)
    import onnxruntime as ort

    from attanet_model import build_model, default_model_path, load_checkpoint
    from attanet_model.checkpoint import ModelMeta
    from attanet_model.engines import ort_session
    from attanet_model.onnx_export import export_onnx
    from attanet_model.ort_providers import CPU, CUDA, TENSORRT
    from attanet_model.preprocess import network_size

    height, width = args.size
    available = ort.get_available_providers()
    lines = [f"# ONNX Runtime {ort.__version__} on the GPU", "", f"providers installed: {', '.join(available)}", ""]
    if CUDA not in available:
        lines.append(
            "not measured: this onnxruntime has no CUDA provider (install onnxruntime-gpu: `make install GPU=1`)"
        )
        args.out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return 0
    rows = ["| model | provider | precision | network input | forward ms | FPS |", "|---|---|---|---|---|---|"]
    timings = ["| model | step | seconds |", "|---|---|---|"]
    notes = []
    camera = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        light, light_meta, _ = load_checkpoint(default_model_path())
        r18 = build_model("attanet_r18").eval()  # random weights: speed only
        models = {
            "attanet_light": export_onnx(light, light_meta, Path(tmp) / "light.onnx", argmax=True),
            "attanet_r18": export_onnx(
                r18, ModelMeta.for_model(r18, "attanet_r18", input_scale=0.5), Path(tmp) / "r18.onnx", argmax=True
            ),
        }
        for arch, path in models.items():
            net_h, net_w = network_size(height, width, 0.5)
            x = np.zeros((1, 3, net_h, net_w), np.float32)
            configs = [(CUDA, "fp32"), (CPU, "fp32")]
            if TENSORRT in available:
                configs = [(TENSORRT, "fp16"), (TENSORRT, "fp32"), *configs]
            for provider, precision in configs:
                cache = Path(tmp) / f"{arch}-{precision}.trt"
                if provider == TENSORRT:
                    try:
                        providers = _tensorrt_rows(arch, path, cache, precision, camera, args.frames, rows, timings)
                    except Exception as exc:  # a report, not a program: say what failed and go on
                        notes.append(f"{arch} TensorRT {precision}: {type(exc).__name__}: {exc}")
                        write(lines, rows, timings, notes, args.out)
                        continue
                elif provider == CUDA:
                    providers = [(CUDA, {"cudnn_conv_algo_search": "EXHAUSTIVE"}), CPU]
                else:
                    providers = [CPU]
                session = ort_session(path, providers)
                runs = session.get_providers()[0]
                ms, fps = _fps(lambda s=session, x=x: s.run(None, {"input": x}), args.frames if provider != CPU else 5)
                rows.append(f"| {arch} | {runs} | {precision} | {net_h}x{net_w} | {ms:.2f} | {fps:.1f} |")
                print(rows[-1], flush=True)
                write(lines, rows, timings, notes, args.out)  # what is done survives a timeout
    if TENSORRT not in available:
        notes.append("TensorRT rows not measured: this onnxruntime has no TensorRT provider")
    print(write(lines, rows, timings, notes, args.out))
    return 0


def write(lines, rows, timings, notes, out: Path) -> str:
    text = "\n".join([*lines, "## forward (session.run, batch 1)", "", *rows, "", "## TensorRT engines", "", *timings])
    text += "\n\n" + "".join(f"- {n}\n" for n in notes)
    out.write_text(text)
    return text


def _tensorrt_rows(arch, path, cache, precision, camera, frames, rows, timings) -> list:
    """Build the engine, time a cached start-up and the Segmenter end to end; the session's providers."""
    import onnxruntime as ort

    from attanet_model import Segmenter
    from attanet_model.ort_providers import ProviderRequest, provider_plan, read_profile
    from attanet_model.trt_engines import build_engines

    height, width = camera.shape[:2]
    built = build_engines(path, cache, [(height, width)], precision)
    timings.append(
        f"| {arch} | TensorRT {precision} engine build ({height}x{width}) | {sum(r['seconds'] for r in built):.1f} |"
    )
    t0 = time.perf_counter()
    seg = Segmenter(path, backend="onnxruntime", device="cuda", precision=precision, trt_cache=cache)
    seg.segment(camera)
    timings.append(f"| {arch} | TensorRT {precision} cached start-up + first frame | {time.perf_counter() - t0:.1f} |")
    print(timings[-2], timings[-1], sep="\n", flush=True)
    e2e_ms, e2e_fps = _fps(lambda: seg.segment(camera), frames)
    rows.append(
        f"| {arch} | Segmenter e2e on TensorRT | {precision} | camera {height}x{width} | {e2e_ms:.2f} | {e2e_fps:.1f} |"
    )
    request = ProviderRequest("cuda", precision, cache, False, read_profile(cache))
    return provider_plan(ort.get_available_providers(), request).providers


if __name__ == "__main__":
    sys.exit(main())
