"""Which training recipe ``attanet train --dataset custom`` uses when no ``--config`` is given.

The Cityscapes recipe (ResNet-18, 1024 crops, batch 16, 200k iterations) takes months on a CPU,
so the choice follows the machine: without CUDA the light network fine-tuned from the bundled
model's weights, to a wall-time budget (``custom_cpu``); with CUDA the paper's recipe
(``custom_gpu``, from ``--pretrained`` ImageNet weights when given). The recipe only sets
defaults: ``--config``, every flag and every ``--set`` still win, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attanet_model import default_model_path

from .config import TrainConfig

# The bundled model's network (the compact light variant): the CPU recipe starts from its weights.
BUNDLED_ARCH = "attanet_light_compact"

CPU_RECIPE, GPU_RECIPE = "custom_cpu", "custom_gpu"
RECIPES = (CPU_RECIPE, GPU_RECIPE)
CPU_BUDGET_MINUTES = 8.0  # the whole run, probe and validations included, fits in 10 minutes


@dataclass(frozen=True)
class Recipe:
    """A shipped config chosen for the machine, the defaults it adds under the user's flags, the
    time budget it fits the schedule to (None: the config's iterations) and why it was chosen."""

    config: str
    reason: str
    defaults: dict[str, Any] = field(default_factory=dict)
    budget_minutes: float | None = None

    def plan(self, cfg: TrainConfig) -> str:
        """One line for the log, before the first iteration: what will run, why, how to change it."""
        if cfg.init_from:
            start = f"from {'the bundled model' if cfg.init_from == str(default_model_path()) else cfg.init_from}"
            start += " (backbone and decoder; classifier fresh for a new class set)"
        elif cfg.pretrained:
            start = f"backbone from {cfg.pretrained}"
        else:
            start = "from scratch"
        schedule = (
            f"a schedule fitted to {self.budget_minutes:g} minutes"
            if self.budget_minutes is not None
            else f"{cfg.iterations} iterations"
        )
        other = GPU_RECIPE if self.config == CPU_RECIPE else CPU_RECIPE
        return (
            f"{self.reason}: recipe {self.config}: {cfg.arch} {start}, crop {cfg.crop_size[0]}x{cfg.crop_size[1]} "
            f"(HxW), batch {cfg.batch_size}, {schedule}; pass --config {other} or cityscapes_r18 (or any flag) "
            f"to override"
        )


def custom_recipe(
    device: str,
    cuda_available: bool,
    flags: dict[str, Any],
    budget_minutes: float | None = None,
    resume: bool = False,
    world_size: int = 1,
    requested: str | None = None,
) -> Recipe:
    """The recipe for a custom dataset on this machine.

    ``device`` is ``--device`` (auto/cpu/cuda); ``flags`` the config fields the user set (flags and
    ``--set``), which the recipe never replaces. On a CPU the bundled model's weights are the
    start for its network (``attanet_light_compact``) unless ``--init-from``/``--pretrained``
    says otherwise (``--init-from none``: from scratch), and the schedule is fitted to ``CPU_BUDGET_MINUTES``
    unless ``--iterations``, ``--budget-minutes`` or ``--resume`` is given. ``requested`` (a
    ``--config custom_cpu``/``custom_gpu``) takes that recipe, with its defaults, on any machine.
    """
    if requested is not None and requested not in RECIPES:
        raise ValueError(f"{requested!r} is not a custom-data recipe; choose one of {', '.join(RECIPES)}")
    on_gpu = device == "cuda" or (device == "auto" and cuda_available)
    if requested is not None:
        on_gpu = requested == GPU_RECIPE
    if on_gpu:
        reason = f"--config {requested}" if requested else "--device cuda" if device == "cuda" else "CUDA device found"
        if not flags.get("pretrained") and "init_from" not in flags:
            reason += " (no --pretrained: the backbone starts from scratch; the paper starts from ImageNet weights)"
        return Recipe(GPU_RECIPE, reason, {}, budget_minutes)
    reason = f"--config {requested}" if requested else "--device cpu" if device == "cpu" else "no CUDA device"
    defaults: dict[str, Any] = {}
    if (
        flags.get("arch", BUNDLED_ARCH) == BUNDLED_ARCH
        and "init_from" not in flags
        and not flags.get("pretrained")
        and not resume
    ):
        defaults["init_from"] = str(default_model_path())
    budget = budget_minutes
    if budget is None and "iterations" not in flags and not resume and world_size == 1:
        budget = CPU_BUDGET_MINUTES
    return Recipe(CPU_RECIPE, reason, defaults, budget)
