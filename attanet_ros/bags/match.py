"""Pairing frames of two topics by header stamp.

A camera frame and its ground truth (or the node's prediction for it) share a header stamp
exactly when they were produced from the same capture. Some pipelines re-stamp messages, so
the pairing also accepts the nearest stamp within a tolerance; beyond it a frame stays
unmatched and is counted, never scored against the wrong ground truth. Two different frames with
one stamp are never both scored against that stamp's ground truth (``SameStampFrames``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class StampVerdict:
    """What to do with the frames of one shared stamp: score one, or none."""

    stamp: int
    count: int  # frames with this stamp on the topic
    score: Any = None  # the one frame to score (the same image repeated), or None
    duplicates: list[Any] = field(default_factory=list)  # repeats of the scored frame: not scored again
    ambiguous: list[Any] = field(default_factory=list)  # different images of one stamp: none scored
    unreadable: int = 0  # frames of this stamp that never arrived (undecodable)


class SameStampFrames:
    """Frames of one topic that share a header stamp, held until each of them has been read.

    Ground truth is paired by stamp (see the module docstring), so it cannot tell two different
    images of one stamp apart: none of them is scored (``ambiguous``), rather than both against one
    ground truth. The same image twice (a message recorded twice) is one frame: the first is
    scored, the others are ``duplicates``. ``stamps`` are every frame's stamp (the first pass).
    """

    def __init__(self, stamps: Sequence[int]) -> None:
        self.expected = {s: n for s, n in Counter(stamps).items() if n > 1}
        self._groups: dict[int, list[tuple[Hashable, Any]]] = {}

    def shares(self, stamp: int) -> bool:
        """Whether another frame of the topic has this stamp."""
        return stamp in self.expected

    def add(self, stamp: int, content: Hashable, frame: Any) -> StampVerdict | None:
        """Hold ``frame`` (``content``: a digest of its image); the verdict once its stamp's frames are all in."""
        group = self._groups.setdefault(stamp, [])
        group.append((content, frame))
        return self._verdict(stamp, self._groups.pop(stamp)) if len(group) == self.expected[stamp] else None

    def rest(self) -> list[StampVerdict]:
        """Verdicts of the stamps some of whose frames could not be read: the others are ambiguous."""
        return [self._verdict(stamp, self._groups.pop(stamp)) for stamp in list(self._groups)]

    def _verdict(self, stamp: int, group: list[tuple[Hashable, Any]]) -> StampVerdict:
        verdict = StampVerdict(stamp, self.expected[stamp], unreadable=self.expected[stamp] - len(group))
        if verdict.unreadable == 0 and len({content for content, _ in group}) == 1:
            verdict.score, verdict.duplicates = group[0][1], [frame for _, frame in group[1:]]
        else:
            verdict.ambiguous = [frame for _, frame in group]
        return verdict
