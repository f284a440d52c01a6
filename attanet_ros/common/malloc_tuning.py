"""glibc's malloc for processes that move camera frames: frame-sized buffers reused, not faulted in again.

Every frame a process receives or makes allocates megabyte-sized buffers: the message rmw
deserializes, its Python copy, the arrays of each output, torch's activations. With glibc's
defaults each is a fresh ``mmap`` whose pages fault in again on first touch, or heap memory that
is trimmed back to the OS when freed and faulted in for the next frame; at camera sizes that costs
more than copying the bytes. Measured between two processes on the development machine
(``python -m attanet_ros.tools.dds_check``, shipped profile, 20 frames at 10 Hz; docs/SPEED.md): a
1024x2048 bgr8 frame arrived 12.3 ms after its stamp (p50) with the subscriber on glibc's defaults,
4.8 ms with the settings below; 512x1024: 3.5 -> 1.9 ms. Setting only one of the two thresholds
gains nothing (15.7 and 12.5 ms).

So a process that exchanges frames fixes glibc's mmap threshold at 32 MiB (glibc's own dynamic
maximum on 64-bit: every camera-sized block comes from the heap) and its trim threshold at
256 MiB (freed frames stay mapped for the next one), before ``rclpy.init``. Left alone, a heap
that keeps freed blocks can grow slowly (a 10-minute soak at 512x1024 grew 1.3 MB/min with glibc's
dynamic thresholds, bench/SOAK.md), so the node gives free pages back (``malloc_trim``) every
``TRIM_INTERVAL_S``, which the next frame pays for once.

Who calls it: the node, ``attanet ros-bench``'s client, ``private_node`` (the viewer's and the demo's topic
nodes), ``attanet camera``, ``bag-eval``, ``bag-segment`` and the viewer. A user's own
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or a ``glibc.malloc`` tunable in
``GLIBC_TUNABLES`` wins: nothing is changed then. No-op off glibc.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's dynamic maximum on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 256 * 1024 * 1024
TRIM_INTERVAL_S = 10.0  # the node's malloc_trim cadence: one frame in this many seconds faults its pages in again
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")
# the same two thresholds as environment variables, for a process this project does not run itself
TUNED_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


@functools.cache
def _libc():
    """glibc with mallopt and malloc_trim typed (looked up once: the node trims its heap periodically);
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


def user_setting() -> str | None:
    """The user's own malloc setting in the environment (``NAME=value``), or None; ``GLIBC_TUNABLES``
    counts when it sets a ``glibc.malloc`` tunable."""
    for name in USER_VARIABLES:
        value = os.environ.get(name)
        if value and (name != "GLIBC_TUNABLES" or "glibc.malloc." in value):
            return f"{name}={value}"
    return None


def _glibc():
    """glibc to tune, unless the user set malloc tunables of their own (theirs win)."""
    return None if user_setting() is not None else _libc()


def tune_for_frames() -> str:
    """Set both thresholds for this process (idempotent); what was done, for logs and diagnostics."""
    libc = _glibc()
    if libc is None:
        user = user_setting()
        return f"left to the user ({user})" if user else "glibc defaults (not glibc)"
    mmap_set = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    trim_set = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not (mmap_set and trim_set):
        return "glibc defaults (mallopt refused)"
    return f"mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB"


def trims_heap() -> bool:
    """Whether this process's thresholds are the ones set here (so the node trims its heap periodically)."""
    return _glibc() is not None


def trim_heap() -> bool:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim(0)``); True when something was released."""
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1
