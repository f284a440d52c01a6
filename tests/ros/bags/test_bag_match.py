"""Pairing frames with ground truth by header stamp."""

from __future__ import annotations

import pytest

from attanet_ros.bags.match import SameStampFrames, describe_span, duplicates, match_stamps

MS = 1_000_000


def test_exact_match_needs_identical_stamps() -> None:
    assert match_stamps([10, 20, 30], [30, 10], 0) == [10, None, 30]


def test_nearest_within_tolerance_only() -> None:
    refs = [100 * MS, 200 * MS, 300 * MS]
    queries = [103 * MS, 149 * MS, 251 * MS, 420 * MS, 0]
    assert match_stamps(queries, refs, 5 * MS) == [100 * MS, None, None, None, None]
    assert match_stamps(queries, refs, 60 * MS) == [100 * MS, 100 * MS, 300 * MS, None, None]
    assert match_stamps(queries, refs, 10**12) == [100 * MS, 100 * MS, 300 * MS, 300 * MS, 100 * MS]


def test_tie_goes_to_the_earlier_reference_whatever_the_order() -> None:
    assert match_stamps([150], [200, 100], 50) == [100]
    assert match_stamps([150], [100, 200], 50) == [100]


def test_tolerance_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="tolerance must be >= 0 ns, got -1"):
        match_stamps([1], [1], -1)


def test_duplicates_and_span() -> None:
    assert duplicates([5, 1, 5, 2, 2, 2, 9]) == [2, 5]
    assert duplicates([]) == []
    assert describe_span([2_500_000_000, 1_000_000_000]) == "2 stamps from 1.000 to 2.500 s"
    assert describe_span([]) == "no stamps"


def test_frames_sharing_a_stamp_are_scored_once_when_identical_and_never_when_different():
    frames = SameStampFrames([1, 2, 2, 3, 3, 3, 4, 4])
    assert [frames.shares(s) for s in (1, 2, 3, 4)] == [False, True, True, True]
    assert frames.add(2, "a", "f1") is None
    same = frames.add(2, "a", "f2")  # the same image twice: one frame
    assert (same.score, same.duplicates, same.ambiguous) == ("f1", ["f2"], [])
    assert frames.add(3, "a", "g1") is None and frames.add(3, "a", "g2") is None
    differ = frames.add(3, "b", "g3")  # one of three differs: ground truth cannot tell which it shows
    assert (differ.score, differ.duplicates, differ.ambiguous, differ.count) == (None, [], ["g1", "g2", "g3"], 3)
    assert frames.add(4, "a", "h1") is None  # its twin was never readable
    (rest,) = frames.rest()
    assert (rest.stamp, rest.score, rest.ambiguous, rest.unreadable) == (4, None, ["h1"], 1)
