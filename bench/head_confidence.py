"""The label head's confidence kernel, the previous one against today's, side by side in one process.

    .venv/bin/python -m bench.head_confidence [--rounds 20] [--threads 2]

Input: the bundled light model's coarse logits on a bundled calibration frame at network sizes 256x512 and
512x1024 (what ``Segmenter`` hands the head). Each round times both kernels, in alternating order (round-robin),
on the same threads; the table gives the medians, their ratio, and how far each kernel is from
the full-size torch reference (``F.interpolate(align_corners=True)`` + max softmax) and from a float64 one.
It also times what a caller that reads both pays: the labels kernel then the confidence, against
``LabelHead.run(..., with_confidence=True)`` (one pass for both).
The previous kernel lives only here, for this comparison: per pixel, the K classes innermost.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange

from attanet_model.checkpoint import load_checkpoint
from attanet_model.head import LabelHead, axis_map
from attanet_model.head_kernels import LN2, LOG2E, exp_reduced
from attanet_model.quantize import CALIBRATION_DIR, calibration_inputs, read_images
from attanet_model.segmenter import default_model_path

SIZES = ((256, 512), (512, 1024))
_POW2 = np.array([2.0**-k for k in range(40)], np.float32)


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def previous_confidence_kernel(lt, y0s, y1s, vys, wys, x0s, x1s, vxs, wxs, pow2, confidence):  # pragma: no cover
    """The kernel before the separable, vectorized one (HxWxK logits, classes innermost, 2^-n from a table)."""
    height, width = confidence.shape
    classes = lt.shape[2]
    for yy in prange(height):
        y0, y1, vy, wy = y0s[yy], y1s[yy], vys[yy], wys[yy]
        values = np.empty((width, classes), np.float32)
        for xx in range(width):
            x0, x1, vx, wx = x0s[xx], x1s[xx], vxs[xx], wxs[xx]
            for k in range(classes):
                upper = lt[y0, x0, k] * vx + lt[y0, x1, k] * wx
                lower = lt[y1, x0, k] * vx + lt[y1, x1, k] * wx
                values[xx, k] = upper * vy + lower * wy
        for xx in range(width):
            m = values[xx, 0]
            for k in range(1, classes):
                m = max(m, values[xx, k])
            total = np.float32(0.0)
            for k in range(classes):
                d = max(values[xx, k] - m, np.float32(-27.0))
                n = np.int32(-d * LOG2E + np.float32(0.5))
                total += exp_reduced(d + np.float32(n) * LN2) * pow2[n]  # the table gather the new kernel avoids
            confidence[yy, xx] = np.float32(1.0) / total


def bundled_coarse_logits(size: tuple[int, int]) -> np.ndarray:
    """KxH/8xW/8 float32: the bundled light model's coarse logits of the first calibration frame at ``size``."""
    model, meta, _ = load_checkpoint(default_model_path())
    x = calibration_inputs(read_images(CALIBRATION_DIR, limit=1), meta, size)[0]
    with torch.inference_mode():
        coarse, _ = model.eval().coarse_logits(torch.from_numpy(x))
    return coarse[0].float().numpy()


def float64_confidence(coarse: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    full = F.interpolate(torch.from_numpy(coarse).double()[None], size=size, mode="bilinear", align_corners=True)[0]
    return (1.0 / torch.exp(full - full.max(dim=0)[0][None]).sum(dim=0)).numpy()


def measure(head: LabelHead, size: tuple[int, int], rounds: int) -> str:
    """One table row: both kernels on the bundled model's coarse logits at network ``size``, round-robin."""
    coarse = bundled_coarse_logits(size)
    lt = np.ascontiguousarray(coarse.transpose(1, 2, 0))
    maps = [*axis_map(coarse.shape[1], size[0]), *axis_map(coarse.shape[2], size[1])]

    def previous() -> np.ndarray:
        out = np.empty(size, np.float32)
        numba.set_num_threads(head.threads)
        previous_confidence_kernel(lt, *maps, _POW2, out)
        return out

    kernels = {
        "previous": previous,
        "today": lambda: head.confidence(coarse, size, size),
        "labels, then confidence": lambda: head.run(coarse, size, size)[1](),
        "labels and confidence in one pass": lambda: head.run(coarse, size, size, with_confidence=True)[1],
    }
    reference = LabelHead(head.threads, "torch").confidence(coarse, size, size)
    exact = float64_confidence(coarse, size)
    errors = {
        name: (np.abs(fn() - reference).max(), np.abs(fn() - exact).max()) for name, fn in list(kernels.items())[:2]
    }
    times: dict[str, list[float]] = {name: [] for name in kernels}
    for i in range(rounds):
        for name in list(kernels)[:: 1 if i % 2 == 0 else -1]:
            started = time.perf_counter()
            kernels[name]()
            times[name].append((time.perf_counter() - started) * 1e3)
    old, new, two, one = (statistics.median(t) for t in times.values())
    return (
        f"| {size[0]}x{size[1]} | {old:.2f} | {new:.2f} | {old / new:.2f}x | {two:.2f} / {one:.2f} | "
        f"{errors['previous'][0]:.1e} / {errors['today'][0]:.1e} | "
        f"{errors['previous'][1]:.1e} / {errors['today'][1]:.1e} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="round-robin rounds (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="the head's threads")
    args = parser.parse_args(argv)
    head = LabelHead(args.threads, "numba")  # builds the head's kernels and sets numba's threading layer
    print(
        "| network size | previous ms | today ms | speed-up | labels + confidence: two kernels / one pass ms "
        "| max abs error previous / today: vs torch fp32 | vs fp64 |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in SIZES:
        print(measure(head, size, args.rounds))


if __name__ == "__main__":
    main()
