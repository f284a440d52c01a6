"""The numba kernels of the CPU label head (``head.py``), imported only when numba is.

Module-level functions so numba's on-disk cache (``cache=True``) finds them again in the next process.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

LOG2E, LN2 = np.float32(1.0 / math.log(2.0)), np.float32(math.log(2.0))
# fastmath but for approximate reciprocals ("arcp"): 1 / sum is a true division, so one class gives exactly 1.0
EXACT_DIVISION = {"nnan", "ninf", "nsz", "contract", "afn", "reassoc"}


@intrinsic
def float_from_bits(typingctx, bits):  # pragma: no cover - numba: reinterpret an int32's bits as a float32
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(parallel=True, cache=True, nogil=True)
def labels_kernel(lt, arg, y0s, y1s, vys, wys, x0s, x1s, vxs, wxs, labels):  # pragma: no cover - numba
    height, width = labels.shape
    classes = lt.shape[2]
    for yy in prange(height):
        y0, y1, vy, wy = y0s[yy], y1s[yy], vys[yy], wys[yy]
        for xx in range(width):
            x0, x1 = x0s[xx], x1s[xx]
            c = arg[y0, x0]
            if arg[y0, x1] == c and arg[y1, x0] == c and arg[y1, x1] == c:
                labels[yy, xx] = c
                continue
            vx, wx = vxs[xx], wxs[xx]
            best, best_c = np.float32(-np.inf), 0
            for k in range(classes):
                top = lt[y0, x0, k] * vx + lt[y0, x1, k] * wx
                bottom = lt[y1, x0, k] * vx + lt[y1, x1, k] * wx
                value = top * vy + bottom * wy
                if value > best:
                    best, best_c = value, k
            labels[yy, xx] = best_c


@njit(inline="always", cache=True)
def exp_reduced(r):  # pragma: no cover - numba
    """exp(r) for |r| <= ln2/2: its Taylor polynomial to degree 7, by Horner (truncation < 6e-9 relative)."""
    p = r * np.float32(1 / 5040) + np.float32(1 / 720)
    p = p * r + np.float32(1 / 120)
    p = p * r + np.float32(1 / 24)
    p = p * r + np.float32(1 / 6)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    return p * r + np.float32(1.0)


@njit(inline="always", fastmath=EXACT_DIVISION, cache=True)
def exp_nonpositive(d):  # pragma: no cover - numba
    """exp(d) in float32 for -87 <= d <= 0: exp(r) * 2^-n with |r| <= ln2/2, r's Taylor polynomial to degree 7
    (Horner; truncation < 6e-9 relative) and 2^-n made from its exponent bits (a table lookup would be a gather,
    which stops the loop around it from vectorizing)."""
    n = np.int32(-d * LOG2E + np.float32(0.5))
    return exp_reduced(d + np.float32(n) * LN2) * float_from_bits((np.int32(127) - n) << np.int32(23))


@njit(parallel=True, fastmath=EXACT_DIVISION, cache=True, nogil=True)
def confidence_kernel(coarse, y0s, y1s, vys, wys, x0s, x1s, vxs, wxs, confidence, labels):  # pragma: no cover
    """The max softmax of the upsampled logits into ``confidence``; their argmax into ``labels`` too unless it
    is None (numba compiles each case on its own: with None the argmax costs nothing)."""
    height, width = confidence.shape
    classes, coarse_h = coarse.shape[:2]
    # Separable, as F.interpolate: each coarse row blended along x once (1/8 of the work), then per output
    # row the two rows' vertical blend; loops run classes outer, pixels inner, so they vectorize over x.
    rows = np.empty((coarse_h, classes, width), np.float32)
    for r in prange(coarse_h):
        for k in range(classes):
            src, dst = coarse[k, r], rows[r, k]
            for xx in range(width):
                dst[xx] = src[x0s[xx]] * vxs[xx] + src[x1s[xx]] * wxs[xx]
    for yy in prange(height):
        top, bottom, vy, wy = rows[y0s[yy]], rows[y1s[yy]], vys[yy], wys[yy]
        values = np.empty((classes, width), np.float32)  # stored: the max class's exp(0) is exactly 1
        best = np.empty(width, np.float32)
        arg = np.zeros(width, np.uint8)
        total = np.zeros(width, np.float32)
        t, b, v = top[0], bottom[0], values[0]
        for xx in range(width):
            v[xx] = t[xx] * vy + b[xx] * wy
            best[xx] = v[xx]
        for k in range(1, classes):
            t, b, v = top[k], bottom[k], values[k]
            if labels is None:
                for xx in range(width):
                    v[xx] = t[xx] * vy + b[xx] * wy
                    best[xx] = max(best[xx], v[xx])
            else:
                label = np.uint8(k)
                for xx in range(width):
                    v[xx] = t[xx] * vy + b[xx] * wy
                    if v[xx] > best[xx]:  # the first of equal maxima, as torch's argmax
                        arg[xx] = label
                    best[xx] = max(best[xx], v[xx])
        for k in range(classes):
            v = values[k]
            for xx in range(width):
                total[xx] += exp_nonpositive(max(v[xx] - best[xx], np.float32(-27.0)))  # exp(-27) < 2e-12
        out = confidence[yy]
        for xx in range(width):
            out[xx] = np.float32(1.0) / total[xx]
        if labels is not None:
            labels[yy] = arg
