"""``attanet synth | train``: argument parsing and exit codes; the work lives in the modules named
for it (``eval`` and ``predict``: eval_cli.py). User mistakes print one line to stderr and return 2."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from attanet_model import CheckpointError
from attanet_model.cli import fail
from attanet_model.cli_args import (
    add_json,
    add_no_progress,
    add_out,
    add_size,
    command_parser,
    parse_size,
)

from .datasets import DATASETS, DatasetLayoutError

USER_ERRORS = (DatasetLayoutError, CheckpointError, ValueError, FileNotFoundError)


def say_user_error(name: str, exc: BaseException) -> int:
    return fail(name, f"error: {exc}")


# ---- synth ------------------------------------------------------------------------------------


def synth_main(argv: list[str]) -> int:
    """Write a synthetic street-scene dataset in the Cityscapes layout (images, labelIds, labelTrainIds and colour
    masks), deterministic for a seed. All 19 Cityscapes classes appear."""
    parser = command_parser("synth", synth_main.__doc__)
    add_out(parser, "dataset root to write (leftImg8bit/ and gtFine/ go inside)", required=True, old=())
    parser.add_argument("--num", type=int, default=100, help="number of frames (default 100)")
    add_size(parser, (512, 1024), "image size in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed; use different seeds for train and val")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"], help="split folder name")
    parser.add_argument(
        "--sequence",
        action="store_true",
        help="one temporally coherent drive (a camera moving forward) instead of independent scenes",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes rendering independent scenes in parallel (same files as --jobs 1; default 1)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the split's existing frames (without it, frames of another size are refused)",
    )
    parser.add_argument(
        "--layout",
        default="cityscapes",
        choices=["cityscapes", "custom"],
        help="cityscapes (default) or custom: images/<split>/, palette label PNGs in labels/<split>/ and "
        "classes.yaml with background (0), road (1), vehicle (2) and ignore [255], as for --dataset custom",
    )
    add_json(parser, "print the written image paths as JSON")
    add_no_progress(parser)
    args = parser.parse_args(argv)
    args.height, args.width = args.size
    from .synth import existing_frame_size, generate_dataset
    from .synth_custom import generate_custom_dataset

    try:
        if args.layout == "custom" and (args.sequence or args.jobs != 1):
            raise ValueError("--layout custom renders independent scenes in one process; drop --sequence/--jobs")
        out = Path(args.out)
        existing = existing_frame_size(out, args.split) if args.layout == "cityscapes" else None
        if existing and args.overwrite:
            import shutil

            for kind in ("leftImg8bit", "gtFine"):
                shutil.rmtree(out / kind / args.split, ignore_errors=True)
        elif existing and existing[:2] != (args.height, args.width):
            h, w, example = existing
            raise ValueError(
                f"{out / 'leftImg8bit' / args.split} already holds {h}x{w} (HxW) frames (e.g. {example.name}), "
                f"this run would add {args.height}x{args.width}: pass --size {h}x{w}, "
                "another --out, or --overwrite to replace the split"
            )
        if args.layout == "custom":
            paths = generate_custom_dataset(args.out, args.num, args.height, args.width, args.seed, args.split)
        else:
            paths = generate_dataset(
                args.out,
                args.num,
                args.height,
                args.width,
                args.seed,
                args.split,
                args.sequence,
                progress=not (args.json or args.no_progress),
                jobs=args.jobs,
            )
    except USER_ERRORS as exc:
        return say_user_error("synth", exc)
    if args.json:
        print(json.dumps({"root": str(args.out), "split": args.split, "images": [str(p) for p in paths]}))
    else:
        folder = "images" if args.layout == "custom" else "leftImg8bit"
        print(f"wrote {len(paths)} frames to {Path(args.out) / folder / args.split}")
    return 0


# ---- train ------------------------------------------------------------------------------------


def train_main(argv: list[str]) -> int:
    """Train AttaNet with the paper's recipe (OHEM CE + 2 aux losses, SGD, warm-up + poly lr). Single process, or one
    process per GPU under torchrun: `torchrun --nproc_per_node 8 -m attanet_cli train --config cityscapes_r18 ...`.

    Shipped configs: cityscapes_r18, ade20k_r18, synthetic_light (CPU), synthetic_light_gpu, custom_cpu, custom_gpu.
    Any field can be overridden with --set field=value (e.g. --set crop_size=512,1024 --set warmup_iters=0)."""
    parser = command_parser("train", train_main.__doc__)
    parser.add_argument("--config", help="a shipped config name or a YAML file (default: the dataclass defaults)")
    parser.add_argument("--data-root", help="dataset root (Cityscapes/synthetic layout, ADEChallengeData2016, custom)")
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        help="dataset kind (synthetic data is 'cityscapes'); custom without --config picks a recipe for "
        "this machine (custom_cpu or custom_gpu, printed before training)",
    )
    parser.add_argument("--classes-file", help="classes YAML for --dataset custom (default: DATA_ROOT/classes.yaml)")
    parser.add_argument(
        "--arch", help="attanet_r18 | attanet_r50 | attanet_r101 | attanet_light | attanet_light_compact"
    )
    parser.add_argument("--pretrained", help="local torchvision ResNet ImageNet state dict (.pth) for the backbone")
    parser.add_argument(
        "--init-from",
        help="start from this AttaNet checkpoint's weights (fine-tuning, e.g. a Cityscapes model on your own "
        "data): tensors that fit are copied, a classifier for another class count starts fresh "
        "(the custom_cpu recipe's default: the bundled model; 'none': from scratch)",
    )
    add_out(
        parser,
        "run folder: last.pt, best.pt, log.jsonl, tensorboard/; one run owns it (a folder that holds another run is "
        "refused without --resume or --overwrite)",
        old=("--out-dir",),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an --out that holds one: its files move into OUT/replaced-<date>-<time>/",
    )
    parser.add_argument("--iterations", type=int, help="total iterations (paper: 200000 on Cityscapes)")
    parser.add_argument("--batch-size", type=int, help="total batch over all processes (paper: 16)")
    parser.add_argument("--lr", type=float, help="base learning rate (paper: 0.01)")
    parser.add_argument("--crop-size", type=parse_size, metavar="HxW", help="training crop (paper: 1024x1024)")
    parser.add_argument("--seed", type=int, help="seed for weights init, data order and augmentation")
    parser.add_argument("--workers", type=int, help="data-loading worker processes per training process")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process")
    parser.add_argument("--max-minutes", type=float, help="stop cleanly (and save) after this many minutes")
    parser.add_argument(
        "--budget-minutes",
        type=float,
        help="fit a whole schedule into this wall time: a short probe measures the speed, then the "
        "iteration count is chosen, and re-fitted as the run goes, so the poly lr reaches zero in time "
        "(replaces --iterations; one process)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override any config field")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: cuda if available")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        help="continue from a checkpoint with training state (no value: OUT/last.pt if present)",
    )
    parser.add_argument(
        "--release",
        help="after training, write the best (else last) checkpoint here as a "
        "half-precision deployment model without training state",
    )
    parser.add_argument(
        "--strict-data",
        action="store_true",
        help="stop (saving last.pt) at the first training file that cannot be read or has label values "
        "outside the class table; default: name it, skip it (unreadable) or ignore those pixels, and go on",
    )
    add_no_progress(parser)
    args = parser.parse_args(argv)

    from .config import load_config, parse_set
    from .console import survive_closed_pipes
    from .run_command import train_command
    from .run_errors import EXIT_FAILED, RunFailed

    survive_closed_pipes()  # `attanet train ... | tee log` must outlive tee

    flags = {
        "data_root": args.data_root,
        "dataset": args.dataset,
        "classes_file": args.classes_file,
        "arch": args.arch,
        "pretrained": args.pretrained,
        "init_from": args.init_from,
        "out_dir": None if args.out is None else str(args.out),
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "crop_size": args.crop_size,
        "seed": args.seed,
        "workers": args.workers,
        "threads": args.threads,
        "max_minutes": args.max_minutes,
    }
    try:
        overrides = {k: v for k, v in flags.items() if v is not None}
        overrides.update(parse_set(args.set))
        if args.strict_data:
            overrides["strict_data"] = True
        config_name, budget_minutes, recipe = args.config, args.budget_minutes, None
        if args.config in ("custom_cpu", "custom_gpu") or (not args.config and overrides.get("dataset") == "custom"):
            recipe = _custom_recipe(args, overrides)
            config_name, budget_minutes = recipe.config, recipe.budget_minutes
            overrides = {**recipe.defaults, **overrides}
        cfg = load_config(config_name, overrides)
        if recipe is not None:
            print(f"attanet train: {recipe.plan(cfg)}", file=sys.stderr)
        if not cfg.data_root:
            raise ValueError("no dataset given: pass --data-root (or set data_root in the config)")
        if args.resume and cfg.init_from:
            raise ValueError(
                f"--resume continues a run from its own checkpoint, --init-from {cfg.init_from} starts a new one "
                "from another model's weights; give one of them (--set init_from=none drops a config's init_from)"
            )
        return train_command(
            cfg,
            device=args.device,
            resume=args.resume,
            iterations_given="iterations" in overrides,
            overwrite=args.overwrite,
            budget_minutes=budget_minutes,
            command="attanet train " + shlex.join(argv),
            progress=not args.no_progress,
            release=args.release,
        )
    except (*USER_ERRORS, FloatingPointError) as exc:
        return say_user_error("train", exc)
    except RunFailed as exc:
        return fail("train", str(exc), EXIT_FAILED)


def _custom_recipe(args: argparse.Namespace, flags: dict):
    """The machine's recipe for ``--dataset custom`` without ``--config``, or the one named by
    ``--config custom_cpu|custom_gpu``, with its defaults (see ``recipes``)."""
    import os

    import torch

    from .recipes import custom_recipe

    return custom_recipe(
        args.device,
        torch.cuda.is_available(),
        flags,
        budget_minutes=args.budget_minutes,
        resume=bool(args.resume),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        requested=args.config,
    )
