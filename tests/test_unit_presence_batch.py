"""Presence changes batched per room (presence/batch.py): pure, with an explicit clock."""

from __future__ import annotations

import pytest

from presence.batch import JOINED, LEFT, PresenceBatcher


def _user(n: int) -> dict[str, str]:
    return {"id": f"u{n}", "handle": f"Member{n}", "role": "member"}


def test_first_change_in_a_quiet_room_is_due_at_once() -> None:
    b = PresenceBatcher(0.25)
    assert b.add("lounge", JOINED, _user(1), now=100.0) == 100.0
    batch = b.take("lounge", now=100.0)
    assert batch is not None and batch.joined == [_user(1)] and batch.left == []


def test_changes_after_a_frame_wait_for_the_window_and_travel_together() -> None:
    b = PresenceBatcher(0.25)
    b.add("lounge", JOINED, _user(1), now=100.0)
    b.take("lounge", now=100.0)
    assert b.add("lounge", JOINED, _user(2), now=100.05) == pytest.approx(100.25)
    for n in range(3, 50):
        assert b.add("lounge", JOINED, _user(n), now=100.1) is None  # already scheduled
    batch = b.take("lounge", now=100.25)
    assert batch is not None
    assert [u["id"] for u in batch.joined] == [f"u{n}" for n in range(2, 50)]
    assert b.take("lounge", now=100.25) is None  # nothing left


def test_only_the_latest_change_of_each_member_is_kept_in_order_of_change() -> None:
    b = PresenceBatcher(0.25)
    b.add("lounge", JOINED, _user(0), now=0.0)
    b.take("lounge", now=0.0)
    b.add("lounge", JOINED, _user(1), now=0.1)
    b.add("lounge", LEFT, _user(2), now=0.1)
    b.add("lounge", LEFT, _user(1), now=0.1)  # came and went: only "left" remains
    b.add("lounge", JOINED, _user(2), now=0.1)  # went and came back: only "joined"
    batch = b.take("lounge", now=0.25)
    assert batch is not None
    assert batch.joined == [_user(2)] and batch.left == [_user(1)]


def test_applying_a_batch_gives_the_same_set_as_the_changes_one_by_one() -> None:
    b = PresenceBatcher(1.0)
    b.add("r", JOINED, _user(99), now=0.0)
    b.take("r", now=0.0)
    present = {"u99", "u5"}
    one_by_one = set(present)
    changes = [(JOINED, 1), (JOINED, 2), (LEFT, 1), (LEFT, 5), (JOINED, 5), (LEFT, 2), (JOINED, 3)]
    for change, n in changes:
        b.add("r", change, _user(n), now=0.5)
        (one_by_one.add if change == JOINED else one_by_one.discard)(f"u{n}")
    batch = b.take("r", now=1.0)
    assert batch is not None
    present |= {u["id"] for u in batch.joined}
    present -= {u["id"] for u in batch.left}
    assert present == one_by_one


def test_rooms_are_independent_and_a_quiet_room_goes_out_at_once_again() -> None:
    b = PresenceBatcher(0.25)
    assert b.add("a", JOINED, _user(1), now=10.0) == 10.0
    assert b.add("b", JOINED, _user(2), now=10.0) == 10.0
    assert sorted(b.pending_rooms()) == ["a", "b"]
    b.take("a", now=10.0)
    assert b.add("a", LEFT, _user(1), now=11.0) == 11.0  # a whole window later: at once


def test_an_unknown_change_is_refused() -> None:
    with pytest.raises(ValueError):
        PresenceBatcher(0.25).add("a", "waved", _user(1), now=0.0)
