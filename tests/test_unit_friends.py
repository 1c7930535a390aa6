"""The pure rules of friends, following and the feed (rooms/friends.py, rooms/feed.py)."""

from __future__ import annotations

import pytest

from rooms.feed import BadCursor, Bound, Cursor, Entry, bound, merge, page_size
from rooms.friends import (
    MAX_FOLLOWING,
    Delete,
    FriendState,
    NotTaking,
    Pair,
    Put,
    TooManyFollowed,
    YouBlocked,
    can_befriend,
    can_follow,
    check_follow,
    on_delete,
    on_put,
    state,
)

NONE = Pair()
FRIENDS = Pair(friends=True)
I_ASKED = Pair(requester_is_viewer=True)
THEY_ASKED = Pair(requester_is_viewer=False)


def test_states_and_what_put_and_delete_do() -> None:
    assert [state(p) for p in (NONE, FRIENDS, I_ASKED, THEY_ASKED)] == [
        FriendState.NONE, FriendState.FRIENDS, FriendState.REQUESTED, FriendState.ASKED_ME]
    assert [on_put(p) for p in (NONE, FRIENDS, I_ASKED, THEY_ASKED)] == [
        Put.REQUEST, Put.NOTHING, Put.NOTHING, Put.ACCEPT]
    assert [on_delete(p) for p in (NONE, FRIENDS, I_ASKED, THEY_ASKED)] == [
        Delete.NOTHING, Delete.UNFRIEND, Delete.CANCEL, Delete.DECLINE]


def test_a_block_refuses_both_ways_and_says_nothing_more_than_a_setting() -> None:
    with pytest.raises(YouBlocked):
        on_put(Pair(viewer_blocked_other=True))
    with pytest.raises(NotTaking) as blocked:
        on_put(Pair(other_blocked_viewer=True))
    with pytest.raises(NotTaking) as closed:
        on_put(Pair(other_takes_requests=False))
    assert (blocked.value.code, blocked.value.detail) == (closed.value.code, closed.value.detail)
    # Even a request of theirs cannot be accepted across a block.
    with pytest.raises(NotTaking):
        on_put(Pair(requester_is_viewer=False, other_blocked_viewer=True))
    # A member who turned requests off can still have theirs answered, and answer.
    assert on_put(Pair(requester_is_viewer=False, other_takes_requests=False)) is Put.ACCEPT
    assert can_befriend(Pair(requester_is_viewer=False, other_takes_requests=False)) is True
    assert can_befriend(Pair(other_blocked_viewer=True)) is can_befriend(Pair(other_takes_requests=False)) is False


def test_following_rules() -> None:
    check_follow(NONE, already=False, following_count=0)
    with pytest.raises(YouBlocked):
        check_follow(Pair(viewer_blocked_other=True), False, 0)
    with pytest.raises(NotTaking) as blocked:
        check_follow(Pair(other_blocked_viewer=True), False, 0)
    with pytest.raises(NotTaking) as closed:
        check_follow(Pair(other_followable=False), False, 0)
    assert blocked.value.detail == closed.value.detail
    with pytest.raises(TooManyFollowed):
        check_follow(NONE, already=False, following_count=MAX_FOLLOWING)
    check_follow(NONE, already=True, following_count=MAX_FOLLOWING)  # following again is no new follow
    assert can_follow(NONE) and not can_follow(Pair(other_blocked_viewer=True))


def test_cursor_round_trip_and_refusals() -> None:
    c = Cursor(1_700_000_000_000, "m", "0" * 18 + "7" + "a" * 32)
    assert Cursor.decode(c.encode()) == c
    assert Cursor.decode("5.q.abc123") == Cursor(5, "q", "abc123")
    for bad in ("", "abc", "1.z.key", "1.m.short", "-1.q.x", "1.q.", "1.q.a b", "1" * 17 + ".q.x"):
        with pytest.raises(BadCursor):
            Cursor.decode(bad)


def test_bounds_cut_each_source_after_the_cursor() -> None:
    c = Cursor(100, "q", "k5")
    assert bound(None, "m") is None
    m, q, s = bound(c, "m"), bound(c, "q"), bound(c, "s")
    assert m is not None and (m.before_ms, m.key_below) == (100, "")  # "m" < "q": all of t=100 come after
    assert q is not None and (q.before_ms, q.key_below) == (100, "k5")
    assert s is not None and (s.before_ms, s.key_below) == (100, None)  # "s" > "q": none of t=100


def _after(c: Cursor, cut: Bound | None) -> bool:
    """What the feed's queries keep (persistence/feed.py ``_cut``), for one entry."""
    if cut is None:
        return True
    if cut.key_below is None:
        return c.at_ms < cut.before_ms
    if cut.key_below == "":
        return c.at_ms <= cut.before_ms
    return c.at_ms < cut.before_ms or (c.at_ms == cut.before_ms and c.key < cut.key_below)


def test_merge_pages_across_sources_without_repeats_or_gaps() -> None:
    # Several entries at the same instant, in one source and across sources.
    everything = {"m": [9, 7, 5, 2], "q": [8, 5, 1], "s": [6, 5]}
    every = {s: [Entry(Cursor(t, s, f"{s}{t}{n}"), {}) for t in ts for n in (1, 2)] for s, ts in everything.items()}
    seen: list[Cursor] = []
    cursor: Cursor | None = None
    for _ in range(100):
        limit = 3
        sources = [sorted((e for e in es if _after(e.cursor, bound(cursor, s))), key=lambda e: e.cursor,
                          reverse=True)[:limit + 1] for s, es in every.items()]
        page, cursor = merge(sources, limit)
        seen += [e.cursor for e in page]
        if cursor is None:
            break
    assert seen == sorted((e.cursor for es in every.values() for e in es), reverse=True)
    assert page_size(None) == 30 and page_size(0) == 1 and page_size(1000) == 100
