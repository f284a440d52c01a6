"""``attanet bench``: the latency table for chosen variants, or a whole suite (``--suite cpu|gpu``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from attanet_model.checkpoint import CheckpointError
from attanet_model.cli_args import add_json, add_model, add_size, command_parser
from attanet_model.engine_options import engine_problems
from attanet_model.network import ARCHS
from attanet_model.segmenter import model_file_meta

from . import suite as bench_suite
from .cpu_matrix import matrix_markdown, run_matrix
from .eval_frames import read_eval_frames
from .latency import BACKENDS, BenchRow, environment, rows_markdown, run_bench


def bench_cli(argv: list[str]) -> int:
    """Without --backends/--precision on the CPU: every installed backend at every precision this CPU runs (torch
    fp32/bf16 and their torch.compile, onnxruntime fp32/int8, openvino fp32/bf16/int8), timed round-robin in one
    run, each with its speed-up over plain ONNX Runtime fp32, its label agreement with torch fp32 and its mIoU on
    the unseen --eval-data frames (agreement on the calibration frames without them), and the row backend=auto
    picks. With --backends/--precision: the median latency of the network
    forward with argmax at HxW and of the whole Segmenter from a 2Hx2W frame."""
    parser = command_parser("bench", bench_cli.__doc__)
    parser.add_argument("--arch", default="attanet_r18", help=f"one of {', '.join(ARCHS)}; comma-separated for several")
    add_model(parser, help="benchmark this model file (.pt or .onnx) instead of a random init")
    parser.add_argument(
        "--backends", help=f"comma-separated, of {', '.join(BACKENDS)} (default: every installed CPU backend)"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", help="comma-separated: fp32,fp16,bf16 (default: every precision of this CPU)")
    parser.add_argument("--rounds", type=int, default=10, help="round-robin rounds of every row (default: %(default)s)")
    parser.add_argument(
        "--eval-data",
        type=Path,
        help="labelled frames the model never saw (Cityscapes layout, e.g. `attanet synth --out DIR --num 20 "
        "--seed 1000 --split val`): each row's label agreement with torch fp32 is measured on them (without: on "
        "the calibration frames int8 is calibrated on, which flatters int8) and, for a trained --model or the "
        "suite's bundled model, its mIoU",
    )
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows (minutes)")
    add_size(parser, (512, 1024), "network input size")
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
    add_json(parser, "print one JSON row per line")
    args = parser.parse_args(argv)
    if args.suite:
        return _suite_cli(args, argv)
    if args.backends is None and args.precision is None and args.device == "cpu":
        return _matrix_cli(args, argv)
    args.backends = args.backends or "torch,onnxruntime"
    args.precision = args.precision or "fp32"
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
    # torch rows set the rules (ONNX Runtime rows of an unsupported precision are skipped and said)
    problems = dict.fromkeys(msg for p in precisions for msg in engine_problems("torch", args.device, p))
    if problems:
        print(f"attanet bench: {'; '.join(problems)}", file=sys.stderr)
        return 2
    if args.model is not None:
        try:
            model_file_meta(args.model)  # a damaged file is one line, before any row is timed
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
            *args.size,
            args.batch,
            args.warmup,
            args.repeats,
            args.model,
            not args.no_e2e,
            progress=_progress,
        )
    _print_rows(rows, args.json, rows_markdown(rows))
    if args.markdown:
        write_markdown(args.markdown, rows, [], argv)
    return 0


def _matrix_cli(args, argv: list[str]) -> int:
    """Every CPU backend and precision of each --arch at HxW (``cpu_matrix.py``)."""
    try:
        for arch in args.arch.split(","):
            if arch.strip() not in ARCHS:
                raise ValueError(f"unknown arch {arch.strip()!r}; known: {', '.join(ARCHS)}")
        if args.model is not None:
            model_file_meta(args.model)  # a damaged file is one line, before any row is timed
        frames = bench_suite.calibration_frames(args.calib)
        evaluation = read_eval_frames(args.eval_data) if args.eval_data else None
    except (CheckpointError, ValueError) as exc:
        print(f"attanet bench: {exc}", file=sys.stderr)
        return 2
    notes = [f"eval frame skipped: {why}" for why in (evaluation.skipped if evaluation else [])]
    rows = []
    for arch in args.arch.split(","):
        rows += run_matrix(
            arch.strip(),
            args.model,
            *args.size,
            frames,
            evaluation.pairs if evaluation else None,
            args.rounds,
            compile_rows=not args.no_compile,
            progress=_progress,
        )
    _print_rows(rows, args.json, matrix_markdown(rows) + "\n" + "\n".join(notes))
    if args.markdown:
        write_markdown(args.markdown, [], notes, argv, matrix_markdown(rows))
    return 0


def _progress(step: str) -> None:
    print(f"[bench] {step}", file=sys.stderr, flush=True)


def _print_rows(rows: list, as_json: bool, table: str) -> None:
    """The timed rows on stdout: one JSON object a line (--json), else ``table``."""
    if as_json:
        for row in rows:
            print(json.dumps(row.to_dict()))
    else:
        print(table)


def write_markdown(path: Path, rows: list[BenchRow], notes: list[str], argv: list[str], matrix: str = "") -> None:
    env = environment()
    text = [
        "# Benchmark results",
        "",
        "Measured by `attanet bench " + " ".join(argv) + "`, all rows in one run "
        "(compare rows with each other; absolute times move with machine load).",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
    ]
    if matrix:
        text += [
            "Every CPU backend and precision, timed round-robin (speed-up = median over rounds of ORT fp32's time "
            "/ the row's time in the same round); labels compared with torch fp32 on the frames the column names; "
            "**picked** = what `backend=auto` picks from these measurements:",
            "",
            matrix,
            "",
        ]
    if rows:
        text += [rows_markdown(rows), ""]
    text += [f"- {n}" for n in notes]
    text += ["", "Published figures, for context (other hardware):", ""]
    text += [f"- {what}: {value}" for what, value in bench_suite.PAPER]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n")


def _suite_cli(args, argv: list[str]) -> int:
    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    matrix_rows, matrix = [], ""
    try:
        if args.suite == "cpu":
            evaluation = read_eval_frames(args.eval_data) if args.eval_data else None
            rows, notes = bench_suite.cpu_suite(args.model, args.calib, args.repeats, progress, evaluation)
            matrix_rows = bench_suite.cpu_matrix_suite(args.model, args.calib, evaluation, args.rounds, progress)
            matrix = matrix_markdown(matrix_rows)
            notes += [f"eval frame skipped: {why}" for why in (evaluation.skipped if evaluation else [])]
        else:
            partial = None
            if args.markdown:

                def partial(rows_so_far, notes_so_far):
                    write_markdown(args.markdown, rows_so_far, notes_so_far + ["(suite still running)"], argv)

            rows, notes = bench_suite.gpu_suite(args.model, args.repeats, progress, args.time_limit, partial)
    except (RuntimeError, ValueError) as exc:
        print(f"attanet bench: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for row in rows + matrix_rows:
            print(json.dumps(row.to_dict()))
    else:
        print(matrix)
        print(rows_markdown(rows))
        print("\n".join(notes))
    if args.markdown:
        write_markdown(args.markdown, rows, notes, argv, matrix)
    return 0
