"""Where the trainer's batches come from: data-loading workers reading the files, or the split
decoded once into device memory (``cache_on_device``).

Both follow one ``StreamSampler``: the sample and its augmentation at each stream position are
fixed by (seed, position), so the two sources give the same stream, and a resumed run continues
it. The loaders carry their own generators: drawing from the global RNG would shift the dropout
stream between a fresh and a resumed run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from .config import TrainConfig
from .datasets import DatasetLayoutError, SegmentationDataset
from .sample_stream import DecodedFrames, SampleStream, StreamSampler, collate_frames, single_threaded_worker
from .transforms import TrainTransform


@dataclass
class BatchSource:
    """Iterates this rank's batches: (images, labels, problem notes) from workers, or with
    ``device_augment`` (images, labels, drawn parameters, notes) for the device to augment.

    ``report_problems`` takes a worker's JSON note of bad files and returns the first problem when
    ``strict_data`` should stop the run (the trainer's reporting, so files are named once)."""

    cfg: TrainConfig
    train_set: SegmentationDataset
    transform: TrainTransform
    sampler: StreamSampler
    device: torch.device
    worker_start: str | None = None  # multiprocessing start method of the workers (None: fork)
    progress: bool = False
    report_problems: Callable[[str], dict | None] = lambda note: None

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._cached() if self.cfg.cache_on_device else self._from_workers())

    @contextmanager
    def open(self) -> Iterator[Iterator[tuple]]:
        """The batches, with the workers stopped on the way out, whichever way that is: an error
        must not leave them behind (they ignore SIGINT/SIGTERM, so nothing else would stop them)."""
        batches = iter(self)
        try:
            yield batches
        finally:
            stop_workers(batches)

    def _loader_kwargs(self) -> dict:
        workers = self.cfg.workers
        return dict(
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=single_threaded_worker,
            multiprocessing_context=self.worker_start if workers > 0 else None,
        )

    def _from_workers(self) -> DataLoader:
        """Batches from data-loading workers: augmented crops, or (device_augment) whole frames
        with their drawn parameters."""
        cfg = self.cfg
        return DataLoader(
            SampleStream(self.train_set, self.transform, cfg.seed, defer=cfg.device_augment),
            batch_size=self.sampler.per_rank_batch,
            collate_fn=collate_frames if cfg.device_augment else None,
            sampler=self.sampler,
            drop_last=True,
            persistent_workers=False,
            generator=torch.Generator().manual_seed(cfg.seed),
            **self._loader_kwargs(),
        )

    def cache_frames(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole training split decoded once into device memory: N x H x W x 3 and N x H x W uint8.

        Frames are decoded by the data workers only: OpenCV used in this process before they
        fork could leave them a thread pool without threads (a hang)."""
        n = len(self.train_set)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=n, desc="cache", unit="frame", dynamic_ncols=True)
        frames = iter(
            DataLoader(
                DecodedFrames(self.train_set), batch_size=None, generator=torch.Generator(), **self._loader_kwargs()
            )
        )
        try:
            return self._fill_cache(frames, n, bar)
        finally:
            stop_workers(frames)
            if bar is not None:
                bar.close()

    def _fill_cache(self, frames: Iterator, n: int, bar) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy each decoded frame into the cache, refusing a bad one or one of another size."""
        images = labels = None
        for index, image, label, note in frames:
            for problem in json.loads(note):
                if problem["skipped"]:
                    raise DatasetLayoutError(
                        f"cache_on_device needs every frame of the split: {problem['file']}: {problem['reason']}; "
                        "fix or remove the file, or set cache_on_device: false"
                    )
            problem = self.report_problems(note)
            if problem is not None:
                raise DatasetLayoutError(f"--strict-data: {problem['file']}: {problem['reason']}")
            if labels is None:
                images, labels = self._allocate_cache(n, *label.shape)
            if label.shape != labels.shape[1:]:
                h, w = labels.shape[1:]
                raise ValueError(
                    f"cache_on_device needs frames of one size: {self.train_set.samples[index][0]} is "
                    f"{label.shape[0]}x{label.shape[1]}, the first frame {h}x{w} (HxW); set cache_on_device: false"
                )
            images[index].copy_(image, non_blocking=True)
            labels[index].copy_(label, non_blocking=True)
            if bar is not None:
                bar.update(1)
        return images, labels

    def _allocate_cache(self, n: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        need = n * h * w * 4
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            if need > 0.5 * free:
                raise ValueError(
                    f"cache_on_device: {n} frames of {h}x{w} (HxW) need {need / 2**30:.1f} GiB, more than half of "
                    f"the {free / 2**30:.1f} GiB free on {self.device}; set cache_on_device: false"
                )
        images = torch.empty((n, h, w, 3), dtype=torch.uint8, device=self.device)
        return images, torch.empty((n, h, w), dtype=torch.uint8, device=self.device)

    def _cached(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]]:
        """The same stream as ``_from_workers`` with device_augment (same frames, same drawn
        parameters per position), read from ``cache_frames`` instead of files: no workers at all."""
        images, labels = self.cache_frames()
        h, w = labels.shape[1:]
        stream = SampleStream(self.train_set, self.transform, self.cfg.seed, defer=True)
        positions = iter(self.sampler)
        while chunk := list(itertools.islice(positions, self.sampler.per_rank_batch)):
            index = torch.tensor([stream.index_at(p) for p in chunk], device=self.device)
            params = torch.stack([self.transform.draw(h, w, stream.rng_at(p)).as_tensor() for p in chunk])
            yield images[index], labels[index], params, []  # problems were reported while caching


def stop_workers(batches: Iterator) -> None:
    """Shut down the worker processes behind a DataLoader iterator now (and close a generator).

    torch stops them only when the iterator is exhausted or garbage-collected; an exception's
    traceback keeps it alive, and at exit ``multiprocessing`` would then SIGTERM and join workers
    that ignore SIGTERM: a hang. torch has no public call for this; ``_shutdown_workers`` is what
    its own ``__del__`` runs (and what PyTorch Lightning calls)."""
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
    close = getattr(batches, "close", None)
    if close is not None:
        close()
