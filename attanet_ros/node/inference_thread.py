"""The one thread that runs the network in the node: model load, warm-up and every frame.

torch runs its intra-op work on an OpenMP thread team that belongs to the calling thread. A
warm-up on the main thread and frames on a worker would keep two teams (and two sets of
per-thread oneDNN caches) competing for the same cores as the executor's and Fast DDS's
threads. So one long-lived thread does all of it, with torch's intra-op thread count set there
to the cores this process may run on (``os.sched_getaffinity``, not the machine's: a container
or ``taskset`` gives fewer). How OpenMP threads wait between operations is set before torch
loads (``quiet_openmp_waits``), because libgomp reads it once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"


def quiet_openmp_waits(environ: dict[str, str] | None = None) -> str:
    """Make OpenMP threads sleep, not spin, between parallel regions, unless the user chose already.

    Spinning (libgomp's default for a while after each region) keeps a core busy that the node's
    publish path, the executor and Fast DDS need between torch's operations; on a contended CPU it
    made torch's inference several times slower inside the node (docs/ROS.md). Only effective before
    torch (libgomp) is loaded: ``attanet_ros/__init__.py`` calls it. Returns the policy in force.
    """
    env = os.environ if environ is None else environ
    return env.setdefault(WAIT_POLICY_VARIABLE, "PASSIVE")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class InferenceThread:
    """A single thread that every model call of the node goes through (``call`` waits, ``submit`` does not)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or usable_cores()
        self._pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="attanet-inference",
            initializer=_set_torch_threads,
            initargs=(self.threads,),
        )

    def describe(self) -> str:
        """For the log and diagnostics, e.g. '2 torch intra-op threads, OMP_WAIT_POLICY=PASSIVE'."""
        policy = os.environ.get(WAIT_POLICY_VARIABLE, "libgomp default")
        return f"{self.threads} torch intra-op threads, {WAIT_POLICY_VARIABLE}={policy}"

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the inference thread and return its result (its exception is raised here)."""
        return self._pool.submit(fn, *args).result()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
