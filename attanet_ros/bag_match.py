"""Pairing frames of two topics by header stamp.

A camera frame and its ground truth (or the node's prediction for it) share a header stamp
exactly when they were produced from the same capture. Some pipelines re-stamp messages, so
the pairing also accepts the nearest stamp within a tolerance; beyond it a frame stays
unmatched and is counted, never scored against the wrong ground truth.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence


def match_stamps(queries: Sequence[int], references: Sequence[int], tolerance_ns: int = 0) -> list[int | None]:
    """For each query stamp, the nearest reference stamp within ``tolerance_ns`` (ns), else None.

    Ties between an earlier and a later reference go to the earlier one, so results do not
    depend on message order.
    """
    if tolerance_ns < 0:
        raise ValueError(f"stamp tolerance must be >= 0 ns, got {tolerance_ns}")
    refs = sorted(set(references))
    matches: list[int | None] = []
    for q in queries:
        i = bisect.bisect_left(refs, q)
        best: int | None = None
        for j in (i - 1, i):
            if (
                0 <= j < len(refs)
                and abs(refs[j] - q) <= tolerance_ns
                and (best is None or abs(refs[j] - q) < abs(best - q))
            ):
                best = refs[j]
        matches.append(best)
    return matches


def duplicates(stamps: Sequence[int]) -> list[int]:
    """Stamps that occur more than once (a camera driver that does not advance its clock)."""
    return sorted(s for s, n in Counter(stamps).items() if n > 1)


def describe_span(stamps: Sequence[int]) -> str:
    """'N stamps from A to B s' for messages that explain why nothing matched."""
    if not stamps:
        return "no stamps"
    return f"{len(stamps)} stamps from {min(stamps) / 1e9:.3f} to {max(stamps) / 1e9:.3f} s"
