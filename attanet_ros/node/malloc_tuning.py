"""A fixed glibc mmap threshold for the node, so camera-frame buffers go back to the OS.

glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after
which megabyte-sized frame buffers come from the heap and fragment it: in a 10-minute soak at
512x1024 the node's RSS grew 1.3 MB/min without this, 0.1 MB/min with the threshold fixed at
128 KiB (bench/SOAK.md). ``MALLOC_MMAP_THRESHOLD_`` in the environment does the same before
start-up; a user's own value is left alone. No-op off glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc malloc.h
THRESHOLD_BYTES = 128 * 1024  # glibc's own initial value; setting it disables the dynamic raise


def fix_mmap_threshold(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; True when it was set here."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1
