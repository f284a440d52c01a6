"""Shared fixtures: tiny synthetic Cityscapes trees (64x128 .. 128x256 frames) generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attanet_training.synth import generate_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mini_cityscapes(tmp_path_factory) -> Path:
    """train: 6 frames (seed 0), val: 3 frames (seed 1), 64x128."""
    root = tmp_path_factory.mktemp("mini_cityscapes")
    generate_dataset(root, 6, 64, 128, seed=0, split="train")
    generate_dataset(root, 3, 64, 128, seed=1, split="val")
    return root


@pytest.fixture(scope="session")
def learnable_cityscapes(tmp_path_factory) -> Path:
    """A slightly larger set for the short training run: 16 train frames, 4 val frames at 64x128."""
    root = tmp_path_factory.mktemp("learnable")
    generate_dataset(root, 16, 64, 128, seed=10, split="train")
    generate_dataset(root, 4, 64, 128, seed=11, split="val")
    return root
