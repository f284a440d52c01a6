"""``attanet bench --suite cpu|gpu``: every CPU or GPU variant in one run, next to the paper.

All rows of a suite are measured in the same process, one after another, so their ratios are
meaningful; absolute numbers move with machine load.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from attanet_model.quantize import CALIBRATION_DIR

from .latency import BenchRow, run_bench

PAPER = [
    ("AttaNet ResNet-18, GTX 1080Ti fp32, 1024x2048 -> 512x1024 (paper Table 1)", "130 FPS"),
    ("AttaNet light (8 convs), GTX 1080Ti fp32 (paper Table 1)", "180 FPS"),
    ("BiSeNetV1 TensorRT, A40, 1024x2048 fp32 / fp16 / int8", "112 / 239 / 435 FPS"),
]


def calibration_frames(folder: Path | None = None, limit: int = 8) -> list[np.ndarray]:
    from attanet_model.quantize import read_images

    folder = folder or CALIBRATION_DIR
    return read_images(folder, limit) if folder.is_dir() else []


def label_agreement(a: Path, b: Path, frames: list[np.ndarray], size: tuple[int, int]) -> float:
    """Fraction of pixels on which two model files give the same label, over ``frames``."""
    from attanet_model.parity import segmenter_agreement
    from attanet_model.segmenter import Segmenter

    # explicit: auto could run another engine, or int8 for an fp32 file (an int8 file runs int8 anyway)
    seg_a, seg_b = (Segmenter(p, backend="onnxruntime", precision="fp32", input_size=size) for p in (a, b))
    return segmenter_agreement(seg_a, seg_b, frames)


def interleaved_speedup(slow: Path, fast: Path, height: int, width: int, repeats: int) -> tuple[float, float]:
    """Median ms of two ONNX models run alternately on the same input (fp32, int8, fp32, ...), so
    that load changes on a shared machine hit both alike: (slow ms, fast ms)."""
    import statistics

    from .latency import ort_forward

    run_slow, run_fast = (ort_forward(p, "cpu", 1, height, width) for p in (slow, fast))
    run_slow(), run_fast()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((run_slow, times[0]), (run_fast, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[0]), statistics.median(times[1])


def cpu_suite(
    checkpoint: Path | None, calib: Path | None, repeats: int, progress, evaluation=None
) -> tuple[list[BenchRow], list[str]]:
    """The ONNX Runtime fp32/int8 latency rows; int8's agreement with fp32 is judged on ``evaluation``'s
    unseen frames (``EvalFrames``) when given, else on the calibration frames themselves."""
    frames = calibration_frames(calib)
    notes = []
    from attanet_model.segmenter import default_model_path

    light_ckpt = checkpoint or default_model_path()
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, ckpt, (h, w) in (
            ("attanet_r18", None, (512, 1024)),
            ("attanet_light", light_ckpt, (512, 1024)),
            ("attanet_light", light_ckpt, (256, 512)),
        ):
            workdir = Path(tmp) / f"{arch}-{h}"
            workdir.mkdir()
            rows += run_bench(
                arch,
                ("torch", "onnxruntime", "onnxruntime-int8"),
                "cpu",
                ("fp32",),
                h,
                w,
                repeats=repeats,
                checkpoint=ckpt,
                workdir=workdir,
                calibration=frames or None,
                progress=progress,
            )
            progress(f"{arch} {h}x{w}: ONNX Runtime fp32 and int8 interleaved")
            fp32_ms, int8_ms = interleaved_speedup(
                workdir / f"{arch}.onnx", workdir / f"{arch}.int8.onnx", h, w, max(repeats, 10)
            )
            notes.append(
                f"{arch} {h}x{w}, fp32 and int8 ONNX Runtime run alternately ({max(repeats, 10)} pairs): "
                f"{fp32_ms:.1f} vs {int8_ms:.1f} ms, int8 {fp32_ms / int8_ms:.2f}x faster"
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
        notes.append(int8_agreement_note(light_ckpt, frames, evaluation))
    return rows, notes


def int8_agreement_note(checkpoint: Path, frames: list[np.ndarray], evaluation=None) -> str:
    """int8 (calibrated on ``frames``) vs fp32 label agreement of ``checkpoint`` at 256x512, on ``evaluation``'s
    unseen frames (``EvalFrames``) when given, else on the calibration frames themselves (which flatters int8)."""
    from attanet_model.checkpoint import load_checkpoint
    from attanet_model.onnx_export import export_onnx
    from attanet_model.quantize import quantize_int8

    model, meta, _ = load_checkpoint(checkpoint)
    judged = [image for image, _ in evaluation.pairs] if evaluation is not None else frames
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = export_onnx(model, meta, Path(tmp) / "m.onnx", argmax=True)
        int8_path = quantize_int8(fp32_path, Path(tmp) / "m.int8.onnx", meta, frames, (256, 512))
        agreement = label_agreement(fp32_path, int8_path, judged, (256, 512))
    on = f"{len(judged)} unseen eval frames" if evaluation is not None else f"the {len(frames)} calibration frames"
    return (
        f"int8 vs fp32 labels agree on {agreement:.2%} of pixels (on {on}; calibrated on {len(frames)} frames; "
        f"{meta.arch} from {checkpoint.name})"
    )


# The CPU targets: ResNet-18 at the paper's 512x1024 (random weights: speed and agreement) and the
# official light network at 256x512 (the bundled model, trained: mIoU too).
MATRIX_CASES = (("attanet_r18", None, (512, 1024)), ("attanet_light", "bundled", (256, 512)))


def cpu_matrix_suite(checkpoint: Path | None, calib: Path | None, evaluation, rounds: int, progress) -> list:
    """Every CPU backend and precision (``cpu_matrix.run_matrix``) for each of ``MATRIX_CASES``;
    ``checkpoint`` replaces the bundled light model; with ``evaluation`` (``EvalFrames``) agreement is
    measured on those frames, and mIoU added for trained models."""
    from attanet_model.segmenter import default_model_path

    from .cpu_matrix import run_matrix

    frames = calibration_frames(calib)
    rows = []
    for arch, weights, (h, w) in MATRIX_CASES:
        ckpt = (checkpoint or default_model_path()) if weights else None
        pairs = evaluation.pairs if evaluation is not None else None  # agreement on them; mIoU if trained
        rows += run_matrix(arch, ckpt, h, w, frames, pairs, rounds, progress=progress)
    return rows


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
    from attanet_model.attention import StripAttention

    from .latency import time_ms

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


def pipeline_rows(
    model,
    precision: str,
    batches,
    graphs: bool,
    repeats: int,
    progress,
    confidence: bool = True,
    zero_copy: bool = False,
    compile_mode: str | None = None,
) -> list[BenchRow]:
    """Uint8 1024x2048 frames on the host -> uint8 labels on the host, through DevicePipeline."""
    from attanet_model.device_pipeline import DevicePipeline
    from attanet_model.preprocess import size_plan

    from .latency import time_ms

    pipeline = DevicePipeline(
        model,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        lambda h, w: size_plan((h, w), 0.5),
        "cuda",
        precision,
        cuda_graphs=graphs,
        confidence=confidence,
        compile_mode=compile_mode,
    )
    rows = []
    for batch in batches:
        progress(f"pipeline {precision} graphs={graphs} compile={compile_mode} batch {batch}")
        frames = np.random.randint(0, 256, (batch, 1024, 2048, 3), np.uint8)
        if zero_copy:  # as if the frames had been decoded straight into the pinned input buffer
            pipeline.input_buffer(frames.shape)[...] = frames
            frames = pipeline.input_buffer(frames.shape)
        # zero-copy: frames already in the pinned input buffer, labels left in the pinned output one
        ms = time_ms(lambda f=frames: pipeline(f, copy=not zero_copy), 5, repeats) / batch
        rows.append(
            BenchRow(
                "attanet_r18",
                "pipeline"
                + ("+compile" if compile_mode else "")
                + ("+graphs" if graphs else "")
                + ("" if confidence else " labels")
                + (" zero-copy" if zero_copy else ""),
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


def graphed_net_rows(
    arch: str, precision: str, batches, repeats: int, progress, compile_mode: str | None = None
) -> list[BenchRow]:
    """Network + argmax alone (BatchNorm folded), weights in ``precision``, channels_last, replayed
    as one CUDA graph on a static 512x1024 input: the number to put next to the paper's network FPS.
    ``compile_mode``: the graph captures torch.compile's kernels instead of eager ones."""
    from attanet_model.device_pipeline import capture_cuda_graph, inductor_mode
    from attanet_model.engine_options import torch_dtype
    from attanet_model.layers import fold_batchnorm
    from attanet_model.network import build_model

    from .latency import time_ms

    dtype = torch_dtype(precision)
    torch.manual_seed(0)
    model = fold_batchnorm(build_model(arch).eval()).to("cuda", dtype).to(memory_format=torch.channels_last)

    def net(x):
        return model(x).logits.argmax(1).to(torch.uint8)

    if compile_mode:
        net = torch.compile(net, mode=inductor_mode(compile_mode, own_graphs=True), dynamic=False)
    rows = []
    for batch in batches:
        progress(f"{arch} net+argmax {precision} compile={compile_mode} CUDA graph batch {batch}")
        x = torch.randn(batch, 3, 512, 1024, device="cuda").to(dtype).contiguous(memory_format=torch.channels_last)
        graph, _ = capture_cuda_graph(lambda x=x: net(x))
        ms = time_ms(graph.replay, 10, repeats, torch.cuda.synchronize) / batch
        engine = "torch.compile+graphs" if compile_mode else "torch+graphs"
        rows.append(BenchRow(arch, engine, "cuda", precision, 512, 1024, batch, round(ms, 4), round(1e3 / ms, 1), None))
    return rows


def fp16_agreement(checkpoint: Path | None, frames: list[np.ndarray]) -> list[str]:
    """fp16 vs true fp32 (TF32 off) labels through the device pipeline: a random-init ResNet-18 on
    random 1024x2048 frames, and the bundled (or given) trained model on street frames."""
    from attanet_model.checkpoint import load_checkpoint
    from attanet_model.device_pipeline import DevicePipeline
    from attanet_model.network import build_model
    from attanet_model.preprocess import size_plan
    from attanet_model.segmenter import default_model_path

    size = lambda h, w: size_plan((h, w), 0.5)  # noqa: E731
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    torch.manual_seed(0)
    cases = [
        (
            "random-init attanet_r18, 4 random 1024x2048 frames",
            build_model("attanet_r18"),
            np.random.default_rng(0).integers(0, 256, (4, 1024, 2048, 3), dtype=np.uint8),
        ),
    ]
    path = checkpoint or default_model_path()
    if frames:
        trained, _, _ = load_checkpoint(path)
        cases.append((f"{path.name} on {len(frames)} calibration street frames", trained, np.stack(frames)))
    notes = []
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    for what, model, batch in cases:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        # DevicePipeline casts the model it is given in place: each precision gets its own copy
        reference, _ = DevicePipeline(copy.deepcopy(model), mean, std, size, "cuda", "fp32", confidence=False)(batch)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
        for precision in ("fp16", "bf16"):
            labels, _ = DevicePipeline(copy.deepcopy(model), mean, std, size, "cuda", precision, confidence=False)(
                batch
            )
            notes.append(
                f"{precision} vs fp32 (TF32 off) labels agree on {(labels == reference).mean():.4%} of pixels: {what}"
            )
    return notes


def run_suite_steps(named_steps, rows, notes, progress, started, time_limit_s=None, checkpointed=None) -> None:
    """Run (name, step) pairs, each returning rows, into ``rows``: a step that raises is a note and
    the rest still run; none starts once ``time_limit_s`` since ``started`` (perf_counter) has
    passed; ``checkpointed(rows, notes)`` after each step that ran."""
    for name, step in named_steps:
        if time_limit_s is not None and time.perf_counter() - started > time_limit_s:
            notes.append(f"step '{name}' skipped: the suite's time limit of {time_limit_s:g} s had passed")
            progress(f"SKIPPED {name} (time limit)")
            continue
        try:
            new = step()
        except Exception as exc:  # one broken variant must not lose the others
            notes.append(f"step '{name}' failed: {type(exc).__name__}: {exc}")
            progress(f"FAILED {name}: {exc}")
            new = []
        for row in new:
            progress("row " + json.dumps(row.to_dict()))
        rows.extend(new)
        if checkpointed is not None:
            checkpointed(rows, notes)


def gpu_suite(
    checkpoint: Path | None,
    repeats: int,
    progress,
    time_limit_s: float | None = None,
    checkpointed=None,
) -> tuple[list[BenchRow], list[str]]:
    """Every GPU variant, step by step; a step that fails is reported in the notes and
    the rest still run. Each step's rows are printed through ``progress`` as they are measured.
    ``time_limit_s``: no step starts after that many seconds (those left are named in the notes),
    so the table and notes are written even where an outer time limit would kill the suite.
    ``checkpointed(rows, notes)`` is called after every step with everything so far (the CLI
    rewrites its markdown file there: a suite killed mid-step still leaves what it measured)."""
    if not torch.cuda.is_available():
        raise RuntimeError("the GPU suite needs a CUDA GPU; torch sees none (run `attanet bench --suite cpu`)")
    import onnxruntime as ort

    from attanet_model.network import build_model

    repeats = max(repeats, 50)
    torch.backends.cudnn.benchmark = True
    rows: list[BenchRow] = []
    notes: list[str] = []

    def r18_pipeline(graphs: bool, confidence: bool, zero_copy: bool = False, compile_mode: str | None = None):
        torch.manual_seed(0)
        model = build_model("attanet_r18")
        return pipeline_rows(model, "fp16", (1, 4), graphs, repeats, progress, confidence, zero_copy, compile_mode)

    steps = [
        (
            "r18 net+argmax, CUDA graphs",
            lambda: (
                graphed_net_rows("attanet_r18", "fp16", (1, 4), repeats, progress)
                + graphed_net_rows("attanet_r18", "bf16", (1,), repeats, progress)
                + graphed_net_rows("attanet_r18", "fp32", (1,), repeats, progress)
            ),
        ),
        ("light net+argmax, CUDA graphs", lambda: graphed_net_rows("attanet_light", "fp16", (1,), repeats, progress)),
        ("e2e labels only, CUDA graphs", lambda: r18_pipeline(True, False)),
        (
            "e2e labels only, CUDA graphs, frames in / labels out of the pinned buffers",
            lambda: r18_pipeline(True, False, True),
        ),
        ("e2e labels + confidence, CUDA graphs", lambda: r18_pipeline(True, True)),
        ("e2e labels only, eager", lambda: r18_pipeline(False, False)),
        (
            "r18 eager autocast + Segmenter",
            lambda: run_bench(
                "attanet_r18",
                ("torch",),
                "cuda",
                ("fp32", "fp16", "bf16"),
                512,
                1024,
                repeats=repeats,
                progress=progress,
            ),
        ),
        (
            "light eager autocast + Segmenter",
            lambda: run_bench(
                "attanet_light", ("torch",), "cuda", ("fp32", "fp16"), 512, 1024, repeats=repeats, progress=progress
            ),
        ),
    ]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        steps.append(
            (
                "ONNX Runtime CUDA",
                lambda: run_bench(
                    "attanet_r18", ("onnxruntime",), "cuda", ("fp32",), 512, 1024, repeats=repeats, progress=progress
                ),
            )
        )
    else:
        notes.append(
            f"ONNX Runtime {ort.__version__} here has no CUDA provider (providers: "
            f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu for its rows"
        )

    started = time.perf_counter()

    def run_steps(named_steps) -> None:
        run_suite_steps(named_steps, rows, notes, progress, started, time_limit_s, checkpointed)

    run_steps(steps)
    for name, step in (
        ("fp16/bf16 agreement", lambda: fp16_agreement(checkpoint, calibration_frames())),
        ("SAM vs non-local memory", lambda: attention_memory_and_time("cuda", repeats)),
    ):
        try:
            new_notes = step()
        except Exception as exc:
            new_notes = [f"step '{name}' failed: {type(exc).__name__}: {exc}"]
        for note in new_notes:
            progress(note)
        notes += new_notes
        if checkpointed is not None:
            checkpointed(rows, notes)
    # last: torch.compile spends tens of seconds per variant compiling (and autotuning), so a
    # time limit on the suite loses these rows, not the ones above
    compiled = [
        (
            "r18 net+argmax, torch.compile max-autotune, CUDA graphs",
            lambda: graphed_net_rows("attanet_r18", "fp16", (1,), repeats, progress, "max-autotune"),
        ),
        ("e2e labels only, torch.compile, CUDA graphs", lambda: r18_pipeline(True, False, compile_mode="default")),
    ]
    run_steps(compiled)
    return rows, notes
