"""glibc's mmap threshold for the node: camera-frame buffers back to the OS, torch's activations reused.

glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after
which megabyte-sized frame buffers come from the heap and fragment it: in a 10-minute soak at
512x1024 the node's RSS grew 1.3 MB/min without a fixed threshold, 0.1 MB/min with it fixed at
128 KiB (bench/SOAK.md). So the node fixes it at 128 KiB at start-up.

torch on the CPU allocates every activation with malloc, frame after frame: with the threshold at
128 KiB each one is a fresh mmap whose pages fault in again, and torch's inference in the node ran
~2x its time alone (docs/SPEED.md). ONNX Runtime and OpenVINO keep their own arenas and do not
care. Once the model is loaded, a node running torch on the CPU sets the threshold to 32 MiB
(glibc's own dynamic maximum) so those blocks are reused from the heap, and trims the heap
(``malloc_trim``) on its diagnostics timer so that reuse does not turn into slow growth.

``MALLOC_MMAP_THRESHOLD_`` in the environment wins: a user's own value is left alone. No-op off glibc.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc malloc.h
FRAMES_THRESHOLD = 128 * 1024  # glibc's own initial value; setting it disables the dynamic raise
TORCH_THRESHOLD = 32 * 1024 * 1024  # glibc's dynamic maximum on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)


@functools.cache
def _libc():
    """glibc with mallopt and malloc_trim typed (looked up once: the heap is trimmed every diagnostics period);
    None off Linux or off glibc (musl has no mallopt)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _glibc():
    """glibc to tune, unless the user set MALLOC_MMAP_THRESHOLD_ (their value wins)."""
    return None if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None else _libc()


def fix_mmap_threshold(threshold: int = FRAMES_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; True when it was set here."""
    libc = _glibc()
    return libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1


def threshold_for(backend: str, device: str) -> int:
    """The threshold for the engine the node runs: torch on the CPU reuses heap blocks, the rest returns frames."""
    return TORCH_THRESHOLD if backend == "torch" and device == "cpu" else FRAMES_THRESHOLD


def tune_for(backend: str, device: str) -> str:
    """Set the threshold for this engine; what was done, for the log and diagnostics ('' when nothing was)."""
    threshold = threshold_for(backend, device)
    if not fix_mmap_threshold(threshold):
        return ""
    trims = ", heap trimmed on the diagnostics timer" if threshold == TORCH_THRESHOLD else ""
    return f"mmap threshold {threshold // 1024} KiB{trims}"


def trims_heap(backend: str, device: str) -> bool:
    """Whether the node trims the heap periodically (torch on the CPU, when the threshold is the node's own)."""
    return threshold_for(backend, device) == TORCH_THRESHOLD and _glibc() is not None


def trim_heap() -> bool:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim(0)``); True when something was released."""
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1
