"""``attanet info | import-official | export``: the model-level subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli_args import add_json, add_model, add_out, add_size, add_sizes, command_parser
from .network import ARCHS


def _arch_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch", default="attanet_r18", choices=list(ARCHS), help="architecture (default: %(default)s)"
    )
    parser.add_argument("--num-classes", type=int, default=19, help="output classes (default: %(default)s)")
    parser.add_argument("--no-sam", action="store_true", help="ablation: switch the Strip Attention Module off")
    parser.add_argument("--sam-direction", choices=["vertical", "horizontal"], help="SAM striping direction")
    parser.add_argument("--fusion", choices=["attention", "add", "concat"], help="feature fusion (ablation)")


def fail(cmd: str, message: str, code: int = 2) -> int:
    """Report a user error of ``attanet <cmd>`` on stderr, one line, no traceback; return ``code``."""
    print(f"attanet {cmd}: {message}", file=sys.stderr)
    return code


def info_main(argv: list[str]) -> int:
    """Parameters and multiply-adds (GMACs, convs and matmuls) per module. At 1024x1024 SAM and AFM reproduce the
    paper's Table 3 (0.185 and 0.336 G)."""
    parser = command_parser("info", info_main.__doc__)
    _arch_args(parser)
    add_size(parser, (1024, 1024), "network input size")
    add_json(parser, "print one JSON object")
    args = parser.parse_args(argv)
    args.height, args.width = args.size
    if args.height < 32 or args.width < 32:
        return fail("info", f"input size {args.height}x{args.width} (HxW) is too small; at least 32x32")
    from .complexity import count_macs, count_params
    from .network import build_model

    model = build_model(
        args.arch,
        args.num_classes,
        use_sam=False if args.no_sam else None,
        sam_direction=args.sam_direction,
        fusion=args.fusion,
    )
    report = {
        "arch": args.arch,
        "input": [1, 3, args.height, args.width],
        "config": model.config.to_dict(),
        "params": count_params(model),
        "gmacs": count_macs(model, args.height, args.width),
    }
    compact = _compact_variant_report(args, model)
    if compact is not None:
        report["compact_variant"] = compact
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.arch}  input 1x3x{args.height}x{args.width}")
    params = report["params"]
    print(f"  params  {params['total'] / 1e6:8.3f} M (deployed; {params['total_with_aux'] / 1e6:.3f} M with aux heads)")
    for name, value in report["params"].items():
        if name not in ("total", "total_with_aux"):
            print(f"    {name:<14} {value / 1e6:8.3f} M")
    print(f"  GMACs   {report['gmacs']['total']:8.3f}")
    for name, value in report["gmacs"].items():
        if name != "total":
            print(f"    {name:<14} {value:8.3f}")
    if compact is not None:
        print(
            f"  compare {compact['arch']} (the light backbone under the ResNet decoder; the bundled model): "
            f"{compact['params']['total'] / 1e6:.3f} M params, {compact['gmacs']['total']:.3f} GMACs"
        )
    return 0


def _compact_variant_report(args: argparse.Namespace, model) -> dict | None:
    """For the official light network, the same figures for ``attanet_light_compact``, so the
    cost of following ``AttaNet_light.py`` is visible next to the variant shipped before it."""
    if args.arch != "attanet_light":
        return None
    from .complexity import count_macs, count_params
    from .network import build_model

    compact = build_model(
        "attanet_light_compact",
        args.num_classes,
        use_sam=False if args.no_sam else None,
        sam_direction=args.sam_direction,
        fusion=args.fusion,
    )
    return {
        "arch": "attanet_light_compact",
        "params": count_params(compact),
        "gmacs": count_macs(compact, args.height, args.width),
    }


def import_official_main(argv: list[str]) -> int:
    """Convert a state dict saved by the official AttaNet code (songqi-github/AttaNet train.py: bare,
    'module.'-prefixed or under a 'state_dict' key) into a self-describing attanet checkpoint that Segmenter,
    export, eval and the node load. Nothing is written if any tensor does not fit."""
    parser = command_parser("import-official", import_official_main.__doc__)
    parser.add_argument("checkpoint", type=Path, help="the official .pth file")
    parser.add_argument(
        "--arch",
        required=True,
        choices=["attanet_r18", "attanet_light"],
        help="attanet_r18 for AttaNet.py, attanet_light for AttaNet_light.py",
    )
    parser.add_argument("--num-classes", type=int, help="expected classes (default: the classifier's output count)")
    parser.add_argument(
        "--input-scale",
        type=float,
        default=0.5,
        help="frame -> network resize to deploy with (default: %(default)s, the paper's 512x1024 speed setting)",
    )
    add_out(parser, "output attanet checkpoint (.pt)", required=True, old=())
    add_json(parser, "print a JSON summary")
    args = parser.parse_args(argv)
    from .official import import_official

    try:
        out, meta = import_official(
            args.checkpoint, args.arch, args.out, num_classes=args.num_classes, input_scale=args.input_scale
        )
    except ValueError as exc:  # OfficialImportError, OutputError (the --out folder is full or read-only)
        return fail("import-official", str(exc))
    summary = {"checkpoint": str(out), "arch": meta.arch, "num_classes": meta.num_classes}
    summary["source"] = str(args.checkpoint)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {out}: {meta.arch}, {meta.num_classes} classes, input_scale {meta.input_scale}")
    return 0


def export_main(argv: list[str]) -> int:
    """Export a checkpoint to ONNX with dynamic batch/height/width (padded to multiples of 32 inside the graph) and the
    model's metadata (classes, mean/std, input scale) embedded."""
    parser = command_parser("export", export_main.__doc__)
    add_model(parser, help="attanet checkpoint (.pt) to export (default: the bundled model)")
    add_out(parser, "output .onnx path", required=True, old=())
    parser.add_argument(
        "--argmax",
        action="store_true",
        help="a graph for the argmax: with --head coarse it ends at the network's 1/8 logits (input padded to a "
        "multiple of 32; the label head upsamples, crops and takes the argmax, the fastest on a CPU: the full-size "
        "logits cost more than the network there); with --head graph it ends with full-size labels (uint8) + "
        "confidence, for runtimes that run the graph alone (TensorRT, GPUs). Without --argmax: full-size logits",
    )
    parser.add_argument(
        "--head",
        choices=("coarse", "graph"),
        default=None,
        help="with --argmax: where the upsample + argmax run (default: graph with --trt-cache, else coarse)",
    )
    parser.add_argument(
        "--opset", type=int, default=18, help="ONNX opset, 18 or newer; written exactly (default: %(default)s)"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write a static int8 (QDQ) model calibrated on synthetic frames, <out>.int8.onnx (runs on "
        "onnxruntime and openvino; precision int8 picks it up beside <out>.onnx)",
    )
    parser.add_argument(
        "--int8-weight-bits",
        choices=("auto", "8", "7"),
        default="auto",
        help="weight width of the int8 model: 8 for CPUs with VNNI or AMX-INT8, 7 for CPUs without (AVX2 only: "
        "their int8 kernels add u8 x s8 pairs in int16, which 8-bit weights saturate); auto: for the CPU "
        "exporting (default: %(default)s; give it for the CPU that will run the file)",
    )
    parser.add_argument(
        "--calib",
        type=Path,
        help="folder of the camera's own frames to calibrate int8 on (default: six bundled synthetic street frames)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare ONNX Runtime with torch at three sizes; with --int8 also the int8 model's labels with fp32's",
    )
    parser.add_argument(
        "--trt-cache",
        type=Path,
        help="build TensorRT engines now (on the target machine, onnxruntime-gpu) into this folder; the node's "
        "trt_cache parameter then loads them instead of building at start-up",
    )
    add_sizes(parser, None, "with --trt-cache: camera sizes to build engines for, e.g. 1080x1920 720x1280")
    parser.add_argument(
        "--trt-precision",
        choices=["fp16", "fp32"],
        default="fp16",
        help="with --trt-cache: engine precision, the node's `precision` (default: %(default)s)",
    )
    add_json(parser, "print a JSON summary")
    args = parser.parse_args(argv)
    trt_sizes = None
    if args.trt_cache is not None or args.sizes is not None:
        # checked before anything is written: no .onnx left behind for engines that cannot be built
        from .ort_providers import ProviderError
        from .trt_engines import check_sizes, require_tensorrt

        if args.trt_cache is None or args.sizes is None:
            return fail("export", "--trt-cache and --sizes go together (the folder, and the camera sizes to build for)")
        try:
            trt_sizes = check_sizes(args.sizes)
            import onnxruntime

            require_tensorrt(onnxruntime.get_available_providers())
        except ValueError as exc:  # ProviderError is a ValueError
            return fail("export", str(exc))
    from .atomic_write import output_error
    from .checkpoint import CheckpointError, load_checkpoint
    from .onnx_export import export_onnx, read_onnx_meta, supported_opsets, written_opset
    from .segmenter import default_model_path

    ckpt = args.model or default_model_path()
    try:
        model, meta, _ = load_checkpoint(ckpt)
    except CheckpointError as exc:
        return fail("export", str(exc))
    if args.out.suffix != ".onnx":
        return fail("export", f"--out should end in .onnx, got {args.out}")
    if args.opset not in supported_opsets():
        opsets = supported_opsets()
        return fail("export", f"--opset {args.opset} cannot be written; this exporter writes {opsets[0]}..{opsets[-1]}")
    if args.head is not None and not args.argmax:
        return fail("export", "--head goes with --argmax (without it the graph ends with full-size logits)")
    if args.int8_weight_bits != "auto" and not args.int8:
        return fail(
            "export", f"--int8-weight-bits {args.int8_weight_bits} goes with --int8 (it sets the int8 model's weights)"
        )
    head = args.head or ("graph" if trt_sizes is not None else "coarse")
    graph_output = ("coarse_logits" if head == "coarse" else "labels") if args.argmax else "logits"
    calibration = None
    if args.int8:  # read the frames first: a bad --calib should not wait for the export
        from .quantize import CALIBRATION_DIR, load_calibration

        try:
            calibration = load_calibration(args.calib or CALIBRATION_DIR)
        except ValueError as exc:
            return fail("export", str(exc))
        for path, why in calibration.skipped:
            print(f"attanet export: warning: calibration image {path} skipped: {why}", file=sys.stderr)
    try:
        out = export_onnx(model, meta, args.out, output=graph_output, opset=args.opset)
    except ValueError as exc:
        return fail("export", str(exc))
    summary = {
        "onnx": str(out),
        "checkpoint": str(ckpt),
        "argmax": args.argmax,
        "output": graph_output,
        "opset": written_opset(read_onnx_proto(out)),
        "bytes": out.stat().st_size,
    }
    if calibration is not None:
        from .cpu_capabilities import this_cpu_flags
        from .quantize import Int8Recipe, quantize_int8

        int8_path = out.with_suffix(".int8.onnx")
        bits = this_cpu_flags().int8_weight_bits if args.int8_weight_bits == "auto" else int(args.int8_weight_bits)
        try:
            quantize_int8(out, int8_path, meta, calibration.images, recipe=Int8Recipe(weight_bits=bits))
        except OSError as exc:  # OutputError for int8_path; the quantizer's temporary folder otherwise
            return fail("export", f"{output_error(int8_path, exc)} (the fp32 model {out} was written)")
        summary["int8"] = str(int8_path)
        summary["int8_weight_bits"] = bits
        summary["calibration_frames"] = len(calibration.images)
        summary["calibration_skipped"] = [{"file": str(p), "reason": why} for p, why in calibration.skipped]
    if trt_sizes is not None:
        from .trt_engines import build_engines

        try:
            summary["trt_engines"] = build_engines(
                out, args.trt_cache, trt_sizes, args.trt_precision, progress=lambda line: print(line, file=sys.stderr)
            )
        except ProviderError as exc:
            return fail("export", str(exc))
        summary["trt_cache"] = str(args.trt_cache)
    if args.check:
        from .parity import onnx_parity

        summary["parity"] = onnx_parity(model, out)
        if calibration is not None:
            from .parity import int8_label_agreement

            read_onnx_meta(int8_path)  # its weights hash, as every consumer will check it
            summary["int8_check"] = {
                "label_agreement_vs_fp32": int8_label_agreement(out, int8_path, calibration.images),
                "frames": f"the {len(calibration.images)} calibration frames, at the model's input scale",
            }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def seal_main(argv: list[str]) -> int:
    """Add the integrity hash to model files written before model files carried one (checkpoints: metadata and weights;
    ONNX: graph, weights and metadata), so that any later damage or edit is refused instead of warned about. Every
    other check runs first (archive CRCs, an older weights hash, finite weights, class count); a file that fails one
    is not sealed. Seal only files you trust."""
    parser = command_parser("seal", seal_main.__doc__)
    parser.add_argument("models", type=Path, nargs="+", help="checkpoint (.pt) or .onnx files, rewritten in place")
    args = parser.parse_args(argv)
    from .checkpoint import seal_checkpoint
    from .onnx_export import seal_onnx

    for path in args.models:
        try:
            sealed = seal_onnx(path) if path.suffix == ".onnx" else seal_checkpoint(path)
        except ValueError as exc:  # CheckpointError, OutputError
            return fail("seal", str(exc))
        print(f"{path}: {'sealed' if sealed else 'already sealed (its hash verified)'}")
    return 0


def read_onnx_proto(path: Path):
    import onnx

    return onnx.load(str(path), load_external_data=False)
