"""Every installed CPU backend at every precision this CPU runs, in one run, round-robin.

Rows: torch fp32 / bf16 (each also through ``torch.compile``), onnxruntime fp32 / int8, openvino
fp32 / bf16 / int8 (bf16 only where ``cpu_capabilities`` says the CPU has it natively). Each row
is the network + argmax at HxW through the same engines the ``Segmenter`` runs
(``engine_choice.build_engine``), timed with auto's own ``round_robin_ms`` (one forward of every
row per round, best of ``best_of``; the ratio to plain ONNX Runtime fp32 is taken per round,
then the median: robust to the load drift of a shared machine). Label agreement with torch fp32
and mIoU are measured on the labelled frames the model never saw (``eval_pairs``) when given:
int8 is calibrated on the calibration frames, so agreement there flatters it; without them, on
the calibration frames (each row says which, ``agreement_frames``). The row marked
``auto`` is what ``backend="auto"`` picks from these measurements (``auto_backend.pick``): the
fastest eager row whose labels agree with fp32 on >= 99.5 % of pixels (auto never compiles:
that costs every start seconds to minutes).
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from attanet_model.auto_backend import (
    MIN_AGREEMENT,
    ORDER,
    Candidate,
    label_agreement,
    median_ratios,
    pick,
    round_robin_ms,
)
from attanet_model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
from attanet_model.cpu_capabilities import CpuCapabilities, openvino_installed, this_cpu
from attanet_model.engine_choice import EngineRequest, build_engine
from attanet_model.metrics import ConfusionMatrix
from attanet_model.model_files import ModelFiles
from attanet_model.network import build_model
from attanet_model.preprocess import normalize_bgr, resize_frame

REFERENCE = "onnxruntime fp32"  # the plain session every ratio is to


@dataclass(frozen=True)
class Variant:
    """A row: a candidate, eager or through torch.compile."""

    backend: str
    precision: str
    compile_mode: str | None = None

    @property
    def name(self) -> str:
        return f"{self.backend} {self.precision}" + (" +compile" if self.compile_mode else "")

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.backend, self.precision)


@dataclass
class MatrixRow:
    arch: str
    variant: str
    height: int
    width: int
    ms: float
    fps: float
    speedup_vs_ort_fp32: float
    agreement_vs_torch_fp32: float | None
    miou: float | None
    auto_pick: bool = False
    agreement_frames: str = ""  # which frames the agreement is on, e.g. "20 eval frames"

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_variants(cpu: CpuCapabilities, compile_rows: bool = True, openvino: bool | None = None) -> list[Variant]:
    """Every row this CPU supports, in auto's order, the compiled torch rows after their eager ones."""
    openvino = openvino_installed() if openvino is None else openvino
    rows = []
    for c in ORDER:
        if c.backend == "openvino" and not openvino:
            continue
        if c.precision == "bf16" and not (cpu.torch_bf16 if c.backend == "torch" else cpu.openvino_bf16):
            continue
        rows.append(Variant(c.backend, c.precision))
        if c.backend == "torch" and compile_rows:
            rows.append(Variant(c.backend, c.precision, "default"))
    return rows


def network_inputs(frames: list[np.ndarray], meta: ModelMeta, hw: tuple[int, int]) -> list[np.ndarray]:
    return [normalize_bgr(resize_frame(f, hw), meta.mean, meta.std) for f in frames]


def miou(labels: list[np.ndarray], pairs: list[tuple[np.ndarray, np.ndarray]], num_classes: int) -> float:
    """mIoU (%) of network-size ``labels`` of each frame, resized back to the frame as the Segmenter does."""
    cm = ConfusionMatrix(num_classes)
    for frame_labels, (_, gt) in zip(labels, pairs, strict=True):
        cm.update(cv2.resize(frame_labels, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_NEAREST), gt)
    return 100.0 * cm.miou()


def run_matrix(
    arch: str,
    checkpoint: Path | None,
    height: int,
    width: int,
    calibration: list[np.ndarray],
    eval_pairs: list[tuple[np.ndarray, np.ndarray]] | None = None,
    rounds: int = 10,
    best_of: int = 2,
    compile_rows: bool = True,
    cpu: CpuCapabilities | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> list[MatrixRow]:
    """The rows of one model at HxW (a random-init ``arch`` when ``checkpoint`` is None: speed and
    agreement only, no mIoU). Agreement (and mIoU) on ``eval_pairs`` when given, else on ``calibration``."""
    cpu = cpu or this_cpu()
    hw = (height, width)
    scored = checkpoint is not None  # random weights: agreement only, an mIoU would mean nothing
    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            torch.manual_seed(0)
            model = build_model(arch).eval()
            checkpoint = save_checkpoint(Path(tmp) / f"{arch}.pt", model, ModelMeta.for_model(model, arch))
        _, meta, _ = load_checkpoint(checkpoint)
        files = ModelFiles(checkpoint, Path(tmp) / "cache")
        inputs = network_inputs(calibration, meta, hw)
        engines = {}
        for v in cpu_variants(cpu, compile_rows):
            progress(f"{meta.arch} {height}x{width}: building {v.name}")
            engines[v] = build_engine(files, EngineRequest(v.backend, "cpu", v.precision, v.compile_mode), v.candidate)
        judged = network_inputs([image for image, _ in eval_pairs], meta, hw) if eval_pairs else inputs
        frames_said = f"{len(judged)} {'eval' if eval_pairs else 'calibration'} frames"
        progress(f"{meta.arch} {height}x{width}: labels of every row on the {frames_said}")
        labels = {v: [e.run(x, False)[0] for x in judged] for v, e in engines.items()}
        agreement = {v: label_agreement(labels[v], labels[Variant("torch", "fp32")]) for v in engines}
        progress(f"{meta.arch} {height}x{width}: {rounds} round-robin rounds of {len(engines)} rows")
        x = inputs[0]
        runs = {v.name: (lambda e=e: e.run(x, False)) for v, e in engines.items()}
        samples = round_robin_ms(runs, rounds, warmup=2, best_of=best_of)
        ratios = median_ratios(samples, REFERENCE)
        ms = {v: statistics.median(samples[v.name]) for v in engines}
        eager = {v.candidate: ratios[v.name] for v in engines if v.compile_mode is None}
        chosen, _ = pick(eager, {v.candidate: agreement[v] for v in engines if v.compile_mode is None}, MIN_AGREEMENT)
        rows = []
        for v in engines:
            score = round(miou(labels[v], eval_pairs, meta.num_classes), 2) if eval_pairs and scored else None
            rows.append(
                MatrixRow(
                    meta.arch,
                    v.name,
                    height,
                    width,
                    round(ms[v], 2),
                    round(1e3 / ms[v], 2),
                    round(1.0 / ratios[v.name], 3),
                    round(agreement[v], 5),
                    score,
                    v.compile_mode is None and v.candidate == chosen,
                    frames_said,
                )
            )
    return rows


def matrix_markdown(rows: list[MatrixRow]) -> str:
    """The rows as a markdown table; the agreement column names the frames it was measured on."""
    on = " / ".join(dict.fromkeys(r.agreement_frames for r in rows if r.agreement_frames))
    lines = [
        "| arch | backend precision | input | net+argmax ms | FPS | speed-up vs ORT fp32 | labels = torch fp32"
        + (f" (on {on})" if on else "")
        + " | mIoU | auto |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        agree = f"{r.agreement_vs_torch_fp32:.2%}" if r.agreement_vs_torch_fp32 is not None else "-"
        score = f"{r.miou:.2f}" if r.miou is not None else "-"
        lines.append(
            f"| {r.arch} | {r.variant} | {r.height}x{r.width} | {r.ms:.1f} | {r.fps:.1f} | "
            f"{r.speedup_vs_ort_fp32:.2f}x | {agree} | {score} | {'**picked**' if r.auto_pick else ''} |"
        )
    return "\n".join(lines)
