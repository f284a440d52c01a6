"""The training sample stream: data order and augmentation as pure functions of (seed, position).

``SampleStream`` maps a position of an endless stream to an augmented sample, ``StreamSampler``
gives each rank its positions from an iteration on (so ``--resume`` continues the same stream),
``collate_frames`` batches whole frames for device-side augmentation and ``DecodedFrames`` feeds
the device cache. ``single_threaded_worker`` is the data workers' ``worker_init_fn``.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .datasets import BadSampleError, DatasetLayoutError, SegmentationDataset, describe_out_of_range
from .transforms import TrainTransform


class SampleStream(Dataset):
    """Position p of an endless stream -> an augmented sample. Epoch e = p // N visits the
    dataset in a seeded permutation; the augmentation RNG is seeded by (seed, p).

    A sample whose files cannot be used is replaced by the next readable one in the epoch's order
    (a function of the data alone, so a resumed run makes the same choices). Every sample carries
    a last element, ``problems``: a JSON list of what was skipped or read as ignore on the way (the
    trainer reports each file once, and with ``strict_data`` stops on the first).

    ``defer=True`` (config ``device_augment``): the sample is the decoded full frame, its labels
    and its drawn ``AugmentParams`` as a tensor row; the trainer applies them to the whole batch
    on the training device (``TrainTransform.batch``)."""

    def __init__(self, dataset: SegmentationDataset, transform: TrainTransform, seed: int, defer: bool = False) -> None:
        self.dataset, self.transform, self.seed, self.defer = dataset, transform, seed, defer
        self._perm_epoch, self._perm = -1, np.arange(0)

    def __len__(self) -> int:
        return 2**62

    def index_at(self, position: int) -> int:
        epoch, k = divmod(position, len(self.dataset))
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
            self._perm_epoch = epoch
        return int(self._perm[k])

    def rng_at(self, position: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, position])

    def readable(self, position: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """(image, labels, problems) for ``position``: the sample there or the next readable one."""
        n = len(self.dataset)
        epoch, k = divmod(position, n)
        problems: list[dict] = []
        for step in range(n):
            index = self.index_at(epoch * n + (k + step) % n)
            try:
                image, labels, out_of_range = self.dataset.load(index)
            except BadSampleError as exc:
                problems.append({**exc.as_dict(), "skipped": True})
                continue
            if out_of_range:
                reason = describe_out_of_range(out_of_range, self.dataset.LABEL_TABLE)
                problems.append({"file": str(self.dataset.samples[index][1]), "reason": reason, "skipped": False})
            return image, labels, problems
        raise DatasetLayoutError(
            f"none of the {n} samples of the training split can be read; the first: {problems[0]['file']}: "
            f"{problems[0]['reason']}"
        )

    def __getitem__(self, position: int):
        image, labels, problems = self.readable(position)
        note = json.dumps(problems)
        if self.defer:
            params = self.transform.draw(*labels.shape, self.rng_at(position))
            return torch.from_numpy(image), torch.from_numpy(labels), params.as_tensor(), note
        return *self.transform(image, labels, self.rng_at(position)), note


def collate_frames(batch: list[tuple]) -> tuple:
    """Stack full frames for device-side augmentation; they must share one size. Columns that are
    not tensors (the samples' problem notes) stay lists."""
    sizes = sorted({tuple(item[0].shape[:2]) for item in batch})
    if len(sizes) > 1:
        raise ValueError(
            f"device_augment stacks whole frames into a batch, but this batch holds frames of sizes "
            f"{', '.join(f'{h}x{w}' for h, w in sizes)} (HxW); resize the dataset to one size or set "
            "device_augment: false"
        )
    columns = zip(*batch, strict=True)
    return tuple(torch.stack(c) if isinstance(c[0], torch.Tensor) else list(c) for c in columns)


class DecodedFrames(Dataset):
    """Index -> (image HxWx3 uint8, labels HxW uint8) tensors, as decoded, for the device cache."""

    def __init__(self, dataset: SegmentationDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        """(index, image, labels, problems as JSON): the cache needs every frame, so a bad one comes
        back as its problem (empty tensors) for the trainer to report; no frame is made up for it."""
        try:
            image, labels, out_of_range = self.dataset.load(index)
        except BadSampleError as exc:
            return index, torch.zeros(0), torch.zeros(0), json.dumps([{**exc.as_dict(), "skipped": True}])
        problems = []
        if out_of_range:
            reason = describe_out_of_range(out_of_range, self.dataset.LABEL_TABLE)
            problems.append({"file": str(self.dataset.samples[index][1]), "reason": reason, "skipped": False})
        return index, torch.from_numpy(image), torch.from_numpy(labels), json.dumps(problems)


def single_threaded_worker(worker_id: int) -> None:
    """Data-loading workers each use one thread: N workers with OpenCV's and torch's default pools
    would oversubscribe the cores the training process needs. They ignore SIGINT/SIGTERM: a signal
    to the process group would otherwise kill them first and the trainer with them, unsaved; the
    trainer stops them itself once it has saved (and they exit with it if it dies)."""
    del worker_id
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class StreamSampler(Sampler):
    """This rank's stream positions from ``start_iteration``: rank r of W takes slots
    [r*b, (r+1)*b) of every global batch of W*b, so ranks never see the same sample."""

    def __init__(self, start_iteration: int, iterations: int, per_rank_batch: int, rank: int, world_size: int) -> None:
        self.start, self.end = start_iteration, iterations
        self.b, self.rank, self.world = per_rank_batch, rank, world_size

    def __iter__(self) -> Iterator[int]:
        for it in range(self.start, self.end):
            base = it * self.b * self.world + self.rank * self.b
            yield from range(base, base + self.b)

    @property
    def per_rank_batch(self) -> int:
        return self.b

    def __len__(self) -> int:
        return max(self.end - self.start, 0) * self.b
