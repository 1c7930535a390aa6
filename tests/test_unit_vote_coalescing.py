"""Vote storms coalesced (rooms/vote_coalescing.py): one count per question per interval,
the latest; a big room's interval grows with its members here and its questions voted on."""

from __future__ import annotations

import pytest

from rooms.vote_coalescing import VoteCoalescer


def test_the_first_vote_after_a_quiet_interval_goes_out_at_once() -> None:
    c = VoteCoalescer(0.25)
    assert c.change("q1", 1, now=10.0) == 1
    assert c.next_due() is None
    assert c.due(10.3) == []  # nothing held; the slot is forgotten
    assert c.change("q1", 2, now=10.31) == 2


def test_a_storm_sends_one_count_per_interval_the_latest() -> None:
    c = VoteCoalescer(0.25)
    sent = [c.change("q1", 1, now=0.0)]
    for i, t in enumerate([0.01, 0.02, 0.1, 0.2], start=2):
        assert c.change("q1", i, now=t) is None
    assert c.next_due() == pytest.approx(0.25)
    assert c.due(0.249) == []
    assert c.due(0.25) == [("q1", 5)]
    sent.append(5)
    assert c.change("q1", 6, now=0.3) is None  # inside the new interval
    assert c.due(0.5) == [("q1", 6)]
    assert sent == [1, 5]


def test_questions_coalesce_independently() -> None:
    c = VoteCoalescer(0.25)
    assert c.change("a", 1, now=0.0) == 1
    assert c.change("b", 1, now=0.1) == 1
    assert c.change("a", 2, now=0.2) is None
    assert c.change("b", 2, now=0.2) is None
    assert c.due(0.25) == [("a", 2)]
    assert c.due(0.4) == [("b", 2)]


def test_a_thousand_votes_in_one_interval_cost_two_frames() -> None:
    c = VoteCoalescer(0.25)
    frames = [v for i in range(1000) if (v := c.change("q", i + 1, now=i * 0.0002)) is not None]
    frames += [v for _, v in c.due(0.25)]
    assert frames == [1, 1000]


def test_a_small_room_keeps_the_short_interval_whatever_the_questions() -> None:
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    for q in "abcdefghij":  # ten questions voted on at once, 40 members here
        assert c.change(q, 1, now=0.0, room="r", audience=40) == 1
        assert c.change(q, 2, now=0.01, room="r", audience=40) is None
    assert c.next_due() == pytest.approx(0.25)
    assert len(c.due(0.25)) == 10


def test_a_big_room_s_interval_grows_with_its_questions_to_a_cap() -> None:
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    # 1,000 members here: one question alone keeps 0.25 s (1,000 frames a quarter second).
    assert c.change("a", 1, now=0.0, room="web", audience=1000) == 1
    assert c.change("a", 2, now=0.1, room="web", audience=1000) is None
    assert c.due(0.25) == [("a", 2)]
    # Then three more: each counts the room's live questions when its count goes out, so
    # b, c and d hold for 0.5, 0.75 and 1 s (four at once: 4,000 frames a second at 1 s).
    for q in "bcd":
        assert c.change(q, 1, now=0.3, room="web", audience=1000) == 1
        assert c.change(q, 2, now=0.31, room="web", audience=1000) is None
    assert c.due(0.79) == []
    assert c.due(0.8) == [("b", 2)]
    assert c.due(1.05) == [("c", 2)]
    assert c.due(1.29) == []
    assert c.due(1.3) == [("d", 2)]
    c2 = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    for q in "abcdefghij":
        c2.change(q, 1, now=0.0, room="web", audience=1000)
        c2.change(q, 2, now=0.01, room="web", audience=1000)
    assert c2.next_due() == pytest.approx(0.25)  # the first set its interval alone
    # Each question's next interval counts the room's ten: capped at 2 s.
    c2.due(5.0)
    assert c2.next_due() is None
    for q in "abcdefghij":
        c2.change(q, 3, now=5.01, room="web", audience=1000)
    assert c2.next_due() == pytest.approx(7.0)


def test_another_room_does_not_lengthen_this_one_s_interval() -> None:
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    for q in "abcdefghij":
        c.change(f"web-{q}", 1, now=0.0, room="web", audience=1000)
        c.change(f"web-{q}", 2, now=0.01, room="web", audience=1000)
    assert c.change("small", 1, now=0.0, room="small", audience=10) == 1
    assert c.change("small", 2, now=0.01, room="small", audience=10) is None
    assert ("small", 2) in c.due(0.25)


def test_a_storm_to_a_thousand_members_stays_within_the_room_s_budget() -> None:
    """1,000 votes over 10 s on ten questions, 1,000 members here: the count frames to each
    member stay near the budget (4,000 a second for the room, 4 a member), not one a vote or
    four a question a second (400)."""
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    frames, now = 0, 0.0
    for i in range(1000):
        now = i * 0.01
        frames += sum(1 for _ in c.due(now))
        frames += c.change(f"q{i % 10}", i, now=now, room="web", audience=1000) is not None
    while (due := c.next_due()) is not None:
        frames += len(c.due(due))
    assert frames <= 10 * 4 + 10 * (10 / 2.0) + 10, frames  # the first of each, then capped
    assert frames >= 10 * (10 / 2.0), frames  # and the counts still move every 2 s at most
