"""The label head on the CPU: labels (and, when read, confidence) from the network's coarse logits.

The official network ends with a bilinear upsample of the 1/8 logits to the input size
(``align_corners=True``, AttaNet.py ``F.interpolate``), then argmax. On the CPU that full-size
K x H x W tensor costs more than the convolutions (ResNet-18 at 512x1024: ~60-80 ms of 127 ms in
ONNX Runtime/OpenVINO, shared/notes/CPU-SPEED.md). Bilinear interpolation is a convex combination
of a cell's four coarse corners, so where one class is the argmax at all four corners it is the
argmax of every pixel in that cell (ties aside): only cells whose corners disagree need the K-class
interpolation. The confidence (max softmax of the interpolated logits) needs every pixel's K
values; it is computed only when asked, separably as ``F.interpolate`` does (each coarse row blended
along x once, then two rows blended per output row), with loops over pixels innermost so they run
as vector instructions, and an exp that vectorizes (range reduction to [-ln2/2, ln2/2], a degree-7
polynomial, 2^-n made from its exponent bits; relative error < 2e-7, two float32 ulp).

Kernels are numba (``head_kernels.py``; ``parallel=True``, ``cache=True``), compiled or loaded from numba's cache once
when the head is built. Threading layer: ``workqueue``, numba's own pthread pool. The OpenMP
layer would load a second OpenMP runtime beside torch's bundled libgomp, and TBB beside
OpenVINO's; workqueue's threads sleep when idle (no spinning against torch's or OpenVINO's
pools) and it is fork-safe. It must not run two parallel regions at once, so every call holds
``_NUMBA_LOCK`` (the layer is per process; the node calls the head from its worker thread). The
kernels release the GIL (``nogil``): the node's executor keeps receiving frames while they run.

Without numba, or with ``ATTANET_HEAD=torch``, the torch head computes exactly what the exported
full-size graph does (``F.interpolate`` + max + softmax max), said once in the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

HEAD_ENV = "ATTANET_HEAD"
HEAD_KINDS = ("numba", "torch")
MAX_CLASSES = 255  # labels are uint8 and 255 is "unlabeled"
THREADING_LAYER = "workqueue"
_NUMBA_LOCK = threading.Lock()  # workqueue runs one parallel region per process at a time
_kernels = None  # the compiled numba kernels, built once per process
_said_fallback = False


def requested_kind(environ: Mapping[str, str] = os.environ) -> str | None:
    """``ATTANET_HEAD`` (numba or torch), None when unset; ValueError in words for anything else."""
    value = environ.get(HEAD_ENV, "").strip().lower()
    if not value:
        return None
    if value not in HEAD_KINDS:
        raise ValueError(f"{HEAD_ENV}={value!r} is not one of {', '.join(HEAD_KINDS)}")
    return value


def axis_map(coarse: int, full: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``full`` output positions: the two coarse neighbours and their weights, as
    ``F.interpolate(..., align_corners=True)`` computes them (float32). Both weights are given so the
    kernels stay in float32 (numba would promote ``1 - w`` to float64)."""
    scale = np.float32((coarse - 1) / (full - 1)) if full > 1 else np.float32(0.0)
    src = scale * np.arange(full, dtype=np.float32)
    i0 = np.minimum(src.astype(np.int32), coarse - 1)
    i1 = np.minimum(i0 + 1, coarse - 1).astype(np.int32)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, (np.float32(1.0) - w1).astype(np.float32), w1


def _build_kernels():
    import numba

    numba.config.THREADING_LAYER = THREADING_LAYER  # before the first parallel region starts a pool
    from attanet_model import head_kernels

    return head_kernels.labels_kernel, head_kernels.confidence_kernel


class LabelHead:
    """Labels and lazy confidence at the padded network size cropped to the input size.

    Args:
        threads: threads of the numba kernels (the engine's inference threads).
        kind: "numba", "torch", or None: numba when it imports (else torch, said once).
        confidence_every_frame: the caller reads every frame's confidence: ``run`` then makes labels and
            confidence in one pass (cheaper than both kernels) instead of leaving the confidence for later.
    """

    def __init__(self, threads: int, kind: str | None = None, confidence_every_frame: bool = False) -> None:
        global _kernels, _said_fallback
        self.threads = max(1, int(threads))
        if kind not in (None, *HEAD_KINDS):
            raise ValueError(f"label head {kind!r} is not one of {', '.join(HEAD_KINDS)}")
        if kind is None:
            try:
                import numba
            except ImportError:
                kind = "torch"
                if not _said_fallback:
                    log.warning("numba is not installed: the label head runs in torch (F.interpolate + argmax), slower")
                    _said_fallback = True
            else:
                kind = "numba"
        self.kind = kind
        self.confidence_every_frame = confidence_every_frame
        if kind == "numba":
            import numba

            self.threads = min(self.threads, numba.config.NUMBA_NUM_THREADS)
            if _kernels is None:
                started = time.perf_counter()
                _kernels = _build_kernels()
                self._warm()
                log.info(
                    "label head: numba kernels ready in %.2f s (compiled or cached; threading layer %s, %d threads)",
                    time.perf_counter() - started,
                    numba.threading_layer(),
                    self.threads,
                )
        elif requested_kind() == "torch" and not _said_fallback:
            log.info("label head: torch (%s=torch)", HEAD_ENV)
            _said_fallback = True

    def _warm(self) -> None:
        coarse = np.zeros((2, 4, 4), np.float32)
        coarse[1, :2] = 1.0
        self.labels(coarse, (32, 32), (32, 32))
        self.run(coarse, (32, 32), (32, 32), with_confidence=True)  # both compiled cases of the confidence kernel
        self.confidence(coarse, (32, 32), (32, 32))

    @staticmethod
    def _check(coarse: np.ndarray, padded_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        if coarse.ndim != 3:
            raise ValueError(f"the label head takes one image's KxHxW logits, got shape {coarse.shape}")
        if coarse.shape[0] > MAX_CLASSES:
            raise ValueError(
                f"{coarse.shape[0]} classes do not fit uint8 labels (at most {MAX_CLASSES}; 255 is unlabeled)"
            )
        if out_hw[0] > padded_hw[0] or out_hw[1] > padded_hw[1]:
            raise ValueError(f"crop {out_hw} is larger than the upsampled size {padded_hw}")

    @staticmethod
    def _maps(coarse: np.ndarray, padded_hw, out_hw) -> list[np.ndarray]:
        """The row maps then the column maps (``axis_map``) of the output crop, indices unsigned: numba then
        drops its negative-index wraparound (the confidence's column gathers ~1.5x, the labels ~10 % faster)."""
        rows = [a[: out_hw[0]] for a in axis_map(coarse.shape[1], padded_hw[0])]
        cols = [a[: out_hw[1]] for a in axis_map(coarse.shape[2], padded_hw[1])]
        return [a.astype(np.uintp) if a.dtype.kind == "i" else a for a in rows + cols]

    def labels(self, coarse: np.ndarray, padded_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
        """HxW uint8: argmax of ``coarse`` upsampled to ``padded_hw`` (align_corners=True), cropped to ``out_hw``."""
        self._check(coarse, padded_hw, out_hw)
        if self.kind == "torch":
            return self._torch_logits(coarse, padded_hw, out_hw).max(dim=0)[1].to(torch.uint8).numpy()
        lt = np.ascontiguousarray(coarse.transpose(1, 2, 0), dtype=np.float32)
        maps = self._maps(coarse, padded_hw, out_hw)
        arg = np.ascontiguousarray(coarse.argmax(0).astype(np.uint8))
        out = np.empty(out_hw, np.uint8)
        self._call(_kernels[0], lt, arg, *maps, out)
        return out

    def confidence(self, coarse: np.ndarray, padded_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
        """HxW float32: the max softmax probability of the upsampled logits, cropped to ``out_hw``."""
        self._check(coarse, padded_hw, out_hw)
        if self.kind == "torch":
            return _max_softmax(self._torch_logits(coarse, padded_hw, out_hw)).numpy()
        return self._softmax(coarse, padded_hw, out_hw, None)

    def _softmax(self, coarse: np.ndarray, padded_hw, out_hw, labels: np.ndarray | None) -> np.ndarray:
        """The numba confidence (and, into ``labels`` unless None, the argmax: the same pass)."""
        maps = self._maps(coarse, padded_hw, out_hw)
        out = np.empty(out_hw, np.float32)
        self._call(_kernels[1], np.ascontiguousarray(coarse, dtype=np.float32), *maps, out, labels)
        return out

    def run(
        self,
        coarse: np.ndarray,
        padded_hw: tuple[int, int],
        out_hw: tuple[int, int],
        with_confidence: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray | Callable[[], np.ndarray]]:
        """(labels, a function computing the confidence): the confidence costs nothing until called. With
        ``with_confidence`` (default: ``confidence_every_frame``) on numba: (labels, confidence), made in one
        pass, cheaper than the labels kernel followed by the confidence."""
        if with_confidence is None:
            with_confidence = self.confidence_every_frame
        if self.kind == "torch":  # one upsample for both, as the exported full-size graph does
            self._check(coarse, padded_hw, out_hw)
            logits = self._torch_logits(coarse, padded_hw, out_hw)
            return logits.max(dim=0)[1].to(torch.uint8).numpy(), lambda: _max_softmax(logits).numpy()
        if with_confidence:
            self._check(coarse, padded_hw, out_hw)
            labels = np.empty(out_hw, np.uint8)
            return labels, self._softmax(coarse, padded_hw, out_hw, labels)
        return self.labels(coarse, padded_hw, out_hw), lambda: self.confidence(coarse, padded_hw, out_hw)

    def _call(self, kernel, *args) -> None:
        import numba

        with _NUMBA_LOCK:
            numba.set_num_threads(self.threads)
            kernel(*args)

    @staticmethod
    def _torch_logits(coarse: np.ndarray, padded_hw, out_hw) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(coarse, dtype=np.float32))[None]
        full = F.interpolate(t, size=tuple(padded_hw), mode="bilinear", align_corners=True)
        return full[0, :, : out_hw[0], : out_hw[1]]


def _max_softmax(logits: torch.Tensor) -> torch.Tensor:
    """KxHxW -> HxW max softmax probability, as ``onnx_export.labels_and_confidence`` computes it."""
    top = logits.max(dim=0)[0]
    return 1.0 / torch.exp(logits - top.unsqueeze(0)).sum(dim=0)
