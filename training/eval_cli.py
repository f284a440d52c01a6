"""``attanet eval | predict``: argument parsing and exit codes; the work lives in evaluate.py,
official_eval.py and predict.py. User mistakes print one line to stderr and return 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from attanet_model.cli import fail
from attanet_model.cli_args import add_input_scale, add_json, add_model, add_no_progress, add_out, command_parser
from attanet_model.engine_options import add_engine_arguments
from attanet_model.segmenter import segmenter_from_args

from .cli import USER_ERRORS, say_user_error
from .datasets import DATASETS, DatasetLayoutError

# ---- eval / predict -----------------------------------------------------------------------------


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    add_model(parser)
    add_engine_arguments(parser)
    add_input_scale(parser, "the checkpoint's, 0.5 for 1024x2048 frames")
    parser.add_argument(
        "--scales",
        type=float,
        nargs="+",
        help="multi-scale: average softmax over these frame scales (e.g. 0.5 0.75 1.0)",
    )
    parser.add_argument("--flip", action="store_true", help="also average the horizontally mirrored frame")


def _check_classes_file(path: str | None) -> None:
    """Read ``--classes-file`` before any work, turning a YAML syntax error or a wrong type (a
    colour that is not three numbers, a value that is not an integer) into one line that names the file."""
    if not path:
        return
    import yaml

    from .datasets import load_classes_yaml

    try:
        load_classes_yaml(path)
    except DatasetLayoutError:
        raise
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ValueError(f"--classes-file {path} is not valid YAML: {problem}") from exc
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ValueError(
            f"--classes-file {path}: {exc}; expected classes: [{{name: road, color: [128, 64, 128], value: 7}}, ...]"
        ) from exc


def _say_bad_files(name: str, problems: list[dict], what: str) -> None:
    for problem in problems:
        print(f"attanet {name}: {problem['file']}: {problem['reason']}; {what}", file=sys.stderr)


def eval_main(argv: list[str]) -> int:
    """mIoU, per-class IoU and pixel accuracy of a model on a dataset split, through the same Segmenter the ROS node
    uses (single scale at the model's input scale unless --scales/--flip), or with --protocol official the official
    evaluate.py protocol (to compare with the paper's val mIoU)."""
    parser = command_parser("eval", eval_main.__doc__)
    _add_model_args(parser)
    parser.add_argument("--data-root", required=True, help="dataset root (Cityscapes layout for the synthetic set)")
    parser.add_argument("--dataset", default="cityscapes", choices=DATASETS, help="dataset kind")
    parser.add_argument("--classes-file", help="classes YAML for --dataset custom")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument("--max-images", type=int, default=0, help="evaluate only the first N images (0 = all)")
    parser.add_argument("--plots", help="folder for iou_bar.png and confusion_matrix.png")
    parser.add_argument(
        "--protocol",
        default="deploy",
        choices=["deploy", "official"],
        help="deploy: the node's single pass at the model's input scale (default); official: the official "
        "evaluate.py (full resolution, flip, 1024x1024 sliding window, --scales default 1.0), to compare with the "
        "paper's val mIoU (torch backend, fp32)",
    )
    parser.add_argument(
        "--window", type=int, default=1024, help="--protocol official: sliding window side (default: %(default)s)"
    )
    add_json(parser, "print one JSON object (fractions in [0, 1])")
    add_no_progress(parser)
    args = parser.parse_args(argv)
    from .datasets import build_dataset
    from .evaluate import evaluate_segmenter

    try:
        _check_classes_file(args.classes_file)
        if args.protocol == "official":
            cm, stats, described = _eval_official(args)
            dataset = stats.pop("dataset")
        else:
            segmenter = segmenter_from_args(args)
            dataset = build_dataset(args.dataset, args.data_root, args.split, classes_file=args.classes_file)
            cm, stats = evaluate_segmenter(
                segmenter,
                dataset,
                args.scales,
                args.flip,
                args.max_images,
                progress=not (args.json or args.no_progress),
            )
            described = {
                "checkpoint": str(segmenter.model_path),
                "provider": segmenter.provider,
                "input_scale": segmenter.input_scale,
                "scales": args.scales or [segmenter.input_scale],
                "flip": args.flip,
            }
    except USER_ERRORS as exc:
        return say_user_error("eval", exc)
    names = [c.name for c in dataset.classes]
    result = cm.summary(names)
    result.update(
        {
            "frames": stats["frames"],
            "skipped": stats["skipped"],
            "out_of_range": stats["out_of_range"],
            "split": args.split,
            "data_root": str(args.data_root),
            **described,
            "protocol": args.protocol,
            "ms_per_frame": round(stats["ms_per_frame"], 2),
        }
    )
    if args.plots:
        from .plots import confusion_matrix_image, iou_bar_chart

        result["plots"] = [
            str(
                iou_bar_chart(
                    cm, names, Path(args.plots) / "iou_bar.png", f"{Path(result['checkpoint']).name} on {args.split}"
                )
            ),
            str(confusion_matrix_image(cm, names, Path(args.plots) / "confusion_matrix.png")),
        ]
    # nothing scored is no result: exit 1, after the JSON / the named files
    code = 0 if result["frames"] else 1
    if args.json:
        print(json.dumps(result))
        if not result["frames"]:
            fail("eval", f"none of the {len(stats['skipped'])} images could be read; nothing was scored", code)
        return code
    _say_bad_files("eval", stats["skipped"], "skipped (not scored)")
    _say_bad_files("eval", stats["out_of_range"], "scored with those pixels ignored")
    if not result["frames"]:
        return fail("eval", f"none of the {len(stats['skipped'])} images could be read; nothing was scored", code)
    print(
        f"{result['frames']} frames of {args.data_root} {args.split}, {result['provider']}, "
        f"scales {result['scales']}{' + flip' if result['flip'] else ''}, protocol {args.protocol}"
        + (f"; {len(stats['skipped'])} unreadable skipped" if stats["skipped"] else "")
    )
    for name, value in result["iou"].items():
        print(f"  {name:<15} {'   n/a' if value is None else f'{value * 100:6.2f}'}")
    miou, acc = result["miou"], result["pixel_acc"]
    print(f"mIoU {miou * 100:.2f}%   pixel accuracy {acc * 100:.2f}%" if miou is not None else "mIoU n/a (no labels)")
    return 0


def _eval_official(args) -> tuple:
    """``--protocol official``: (confusion matrix, stats with the dataset, what was run)."""
    import torch

    from attanet_model import default_model_path, load_checkpoint

    from .datasets import build_dataset
    from .official_eval import evaluate_official

    if args.backend not in ("torch", "auto") or args.precision not in ("fp32", "auto"):  # auto: what it runs
        raise ValueError(
            f"--protocol official runs the torch model in fp32 (as evaluate.py), got --backend {args.backend} "
            f"--precision {args.precision}; give the .pt checkpoint"
        )
    if args.input_scale is not None:
        raise ValueError("--protocol official evaluates at full resolution; use --scales for other scales")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here")
    checkpoint = args.model or default_model_path()
    model, meta, _ = load_checkpoint(checkpoint)
    dataset = build_dataset(args.dataset, args.data_root, args.split, classes_file=args.classes_file)
    scales = args.scales or [1.0]
    cm, stats = evaluate_official(
        model,
        dataset,
        meta.mean,
        meta.std,
        scales,
        args.window,
        True,
        args.device,
        args.max_images,
        not args.json,
        classes=meta.classes,
    )
    stats["dataset"] = dataset
    described = {
        "checkpoint": str(checkpoint),
        "provider": f"torch-{args.device}",
        "input_scale": 1.0,
        "scales": list(scales),
        "flip": True,
        "window": args.window,
    }
    return cm, stats, described


def predict_main(argv: list[str]) -> int:
    """Write label images for a dataset split (--data-root/--split) or a plain image folder (--input). Cityscapes
    outputs keep the frame stem: OUT/<city>/<stem>_<format>.png."""
    parser = command_parser("predict", predict_main.__doc__)
    _add_model_args(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-root", help="dataset root (Cityscapes layout)")
    source.add_argument("--input", help="a folder of images (searched recursively)")
    parser.add_argument("--dataset", default="cityscapes", choices=DATASETS, help="dataset kind for --data-root")
    parser.add_argument("--classes-file", help="classes YAML for --dataset custom")
    parser.add_argument("--split", default="val", help="split for --data-root (default val)")
    add_out(parser, "output folder", required=True, old=())
    parser.add_argument(
        "--label-format",
        choices=["values", "trainIds", "labelIds", "color"],
        help="values: the classes.yaml pixel value of each class, as in your label files (default for a model "
        "trained on a custom dataset); trainIds: the class index 0..K-1 (default otherwise); labelIds (Cityscapes' "
        "official evaluation); color",
    )
    add_json(parser, "print a JSON summary")
    add_no_progress(parser)
    args = parser.parse_args(argv)
    from .datasets import CityscapesDataset, build_dataset
    from .predict import predict_to_folder, prediction_jobs, resolve_label_values

    try:
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out {args.out} is an existing file; predict writes a folder of label images there")
        _check_classes_file(args.classes_file)
        segmenter = segmenter_from_args(args)
        dataset = None
        if args.data_root:
            if args.dataset == "cityscapes":  # test splits have no labels; predictions need none
                dataset = CityscapesDataset(args.data_root, args.split, require_labels=False)
            else:
                dataset = build_dataset(args.dataset, args.data_root, args.split, classes_file=args.classes_file)
        label_values = resolve_label_values(segmenter.meta, dataset)
        label_format = args.label_format or ("values" if label_values is not None else "trainIds")
        jobs = list(prediction_jobs(Path(args.out), label_format, dataset, args.input))
        skipped: list[dict] = []
        count = predict_to_folder(
            segmenter,
            jobs,
            label_format,
            args.scales,
            args.flip,
            progress=not (args.json or args.no_progress),
            skipped=skipped,
            label_values=label_values,
        )
    except USER_ERRORS as exc:
        return say_user_error("predict", exc)
    bad = {s["file"] for s in skipped}
    if args.json:
        print(
            json.dumps(
                {
                    "written": count,
                    "out": str(args.out),
                    "label_format": label_format,
                    "checkpoint": str(segmenter.model_path),
                    "files": [str(o) for i, o in jobs if str(i) not in bad],
                    "skipped": skipped,
                }
            )
        )
    else:
        _say_bad_files("predict", skipped, "skipped")
        print(f"wrote {count} {label_format} predictions to {args.out}" + (f"; {len(bad)} skipped" if bad else ""))
    if not count:
        return fail("predict", f"none of the {len(jobs)} images could be read; nothing was written", 1)
    return 0
