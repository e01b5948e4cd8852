"""``core.sync.ApproximateTimeSync`` by hand: its limits at their exact edges, what it counts, what it keeps.

Each case was checked against a planted bug (mutation testing, scripts/mutation.sh): a strict offset limit,
a default queue of 11 or a reset jump of 1 s + 1 ns, the newest stamp taken as the latest added, drops
counted with ``=`` or ``-=``, resets counted with ``=``, the matched message left in its queue, an argument
check joined with ``and`` or moved by one, and any of the error messages changed.
"""

from __future__ import annotations

import pytest

from kvision_driving.core.sync import ApproximateTimeSync

SECOND = 1_000_000_000


def test_stamps_exactly_max_offset_apart_still_match() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(2, max_offset_ns=20)
    assert sync.add(0, 100, "a") is None
    assert sync.add(1, 120, "b") == ["a", "b"]  # 20 ns apart: the limit is inclusive
    assert sync.add(0, 200, "c") is None
    assert sync.add(1, 221, "d") is None  # 21 ns: one too many
    assert sync.dropped == 0


def test_three_inputs_match_only_when_all_lie_within_the_offset() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(3, max_offset_ns=10)
    assert sync.add(0, 100, "a") is None
    assert sync.add(2, 90, "c") is None
    # b is 10 from a and from c, but a and c are 10 apart too: inclusive, all three match
    assert sync.add(1, 100, "b") == ["a", "b", "c"]
    assert sync.add(0, 200, "a2") is None
    assert sync.add(2, 190, "c2") is None
    assert sync.add(1, 210, "b2") is None  # c2 is 20 from b2: no set
    sync.reset()
    assert sync.add(0, 310, "a3") is None
    assert sync.add(2, 290, "c3") is None
    assert sync.add(1, 300, "b3") is None  # each 10 from b3, but a3 and c3 are 20 apart


def test_a_match_takes_the_matched_messages_and_drops_the_older_ones() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(2, max_offset_ns=5)
    for stamp, name in ((100, "a100"), (200, "a200"), (300, "a300")):
        assert sync.add(0, stamp, name) is None
    assert sync.add(1, 201, "b201") == ["a200", "b201"]
    assert sync.dropped == 1  # a100: passed over, can never match
    # a200 went with the match: a second b near 200 finds nothing; a300 is still there for b near 300
    assert sync.add(1, 199, "b199") is None
    assert sync.add(1, 302, "b302") == ["a300", "b302"]
    assert sync.dropped == 2  # b199 passed over


def test_the_default_queue_holds_ten_and_counts_each_one_pushed_out() -> None:
    sync: ApproximateTimeSync[int] = ApproximateTimeSync(2, max_offset_ns=0)
    for stamp in range(10):
        sync.add(0, stamp, stamp)
    assert sync.dropped == 0
    sync.add(0, 10, 10)
    assert sync.dropped == 1
    assert sync.add(1, 0, -1) is None  # stamp 0 was the one pushed out
    assert sync.add(1, 1, -1) == [1, -1]


def test_a_queue_of_one_keeps_the_newest() -> None:
    sync: ApproximateTimeSync[int] = ApproximateTimeSync(2, max_offset_ns=0, queue_size=1)
    sync.add(0, 1, 1)
    sync.add(0, 2, 2)
    assert sync.dropped == 1
    assert sync.add(1, 2, 20) == [2, 20]


def test_a_jump_back_of_more_than_one_second_by_default_clears_every_queue() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(2, max_offset_ns=0)
    sync.add(0, 10 * SECOND, "a")
    sync.add(1, 9 * SECOND, "b")  # exactly 1 s back: kept
    assert sync.resets == 0 and sync.dropped == 0
    sync.add(1, 9 * SECOND - 1, "c")  # 1 s + 1 ns back: a bag loop
    assert sync.resets == 1
    assert sync.dropped == 2  # a and b cleared; c is kept
    assert sync.add(0, 9 * SECOND - 1, "d") == ["d", "c"]


def test_the_jump_is_measured_from_the_newest_stamp_seen_not_the_last() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(2, max_offset_ns=0, reset_jump_ns=100)
    sync.add(0, 1000, "a")
    sync.add(1, 950, "b")  # 50 back: kept, the newest is still 1000
    sync.add(1, 890, "c")  # 110 behind 1000 (60 behind the last): a reset
    assert sync.resets == 1


def test_drops_and_resets_accumulate() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(2, max_offset_ns=0)
    sync.add(0, 1, "a")
    sync.add(0, 2, "b")
    sync.reset()
    assert (sync.dropped, sync.resets) == (2, 1)
    sync.add(1, 3, "c")
    sync.reset()
    assert (sync.dropped, sync.resets) == (3, 2)
    sync.add(0, 4, "d")  # after a reset nothing old is newest: no jump, no reset
    assert sync.resets == 2


def test_arguments_are_checked_at_their_edges() -> None:
    ApproximateTimeSync(2, max_offset_ns=0, queue_size=1)  # the smallest valid values
    with pytest.raises(ValueError, match=r"^synchronising needs at least two inputs$"):
        ApproximateTimeSync(1, max_offset_ns=0)
    message = r"^max_offset_ns must be >= 0 and queue_size >= 1$"
    with pytest.raises(ValueError, match=message):
        ApproximateTimeSync(2, max_offset_ns=-1)
    with pytest.raises(ValueError, match=message):
        ApproximateTimeSync(2, max_offset_ns=0, queue_size=0)
    with pytest.raises(ValueError, match=message):
        ApproximateTimeSync(2, max_offset_ns=5, queue_size=0)  # one bad value is enough
