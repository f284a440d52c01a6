"""Fixtures of the bag-tool tests: one tiny synthetic split, bags made from it, one Segmenter.

Everything is session-scoped and small (6 frames of 128x256) so the whole folder stays within
a few CPU minutes on two shared cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from bag_helpers import FRAMES, HEIGHT, IMAGE_TOPIC, RATE_HZ, START_S, WIDTH, Probe

from attanet_cli import main as attanet

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory) -> Path:
    from attanet_training.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, FRAMES, HEIGHT, WIDTH, seed=7, split="val", sequence=True)
    return root


@pytest.fixture(scope="session")
def dataset(dataset_root):
    from attanet_training.datasets import CityscapesDataset

    return CityscapesDataset(dataset_root, "val")


@pytest.fixture(scope="session")
def segmenter():
    from attanet_model import Segmenter

    return Segmenter()


@pytest.fixture(scope="session")
def reference_summary(segmenter, dataset) -> dict:
    """What ``attanet eval`` computes on the split: Segmenter + ConfusionMatrix, per class name."""
    from attanet_training.evaluate import evaluate_segmenter

    cm, _ = evaluate_segmenter(segmenter, dataset)
    return cm.summary([c.name for c in dataset.classes])


@pytest.fixture(scope="session")
def made_bags(tmp_path_factory, dataset_root) -> dict[str, Path]:
    """bag-make output in both storages (uncompressed bgr8), keyed by storage."""
    out = tmp_path_factory.mktemp("bags")
    bags = {}
    for storage in ("mcap", "sqlite3"):
        bag = out / f"made_{storage}"
        code = attanet(
            [
                "bag-make",
                "--data-root",
                str(dataset_root),
                "--split",
                "val",
                "--out",
                str(bag),
                "--storage",
                storage,
                "--start-time",
                str(START_S),
                "--rate",
                str(RATE_HZ),
                "--no-progress",
            ]
        )
        assert code == 0, f"bag-make {storage} failed with {code}"
        bags[storage] = bag
    return bags


@pytest.fixture
def domain_id() -> int:
    """A ROS domain no other test module uses (tests/ros takes 1..96), shifted by pid for parallel runs."""
    return 150 + os.getpid() % 80


@pytest.fixture
def probe_factory(domain_id):
    probes: list[Probe] = []

    def make(topic: str = IMAGE_TOPIC, count: int = FRAMES, timeout: float = 60.0, ros_args: tuple = ()) -> Probe:
        probes.append(Probe(domain_id, topic, count, timeout, ros_args))
        return probes[-1]

    yield make
    for p in probes:
        p.close()
