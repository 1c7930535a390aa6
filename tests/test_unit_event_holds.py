"""Held sessions (chat_server/events/holds.py): tried again after 1 s doubling to the cap,
once per state in the log, at once on a wake-up naming it (only it); a hold ends with the
state it was made in."""

from __future__ import annotations

import itertools

from chat_server.events.holds import Holds


def test_back_off_doubles_to_the_cap_and_reports_the_first_failure_only() -> None:
    holds = Holds(first_s=1.0, max_s=8.0)
    assert holds.next_try_in(0.0) is None
    assert holds.hold(7, "ended", 100.0) is True  # first failure in this state: log it
    tries = [100.0]
    for _ in range(6):
        at = tries[-1] + (holds.next_try_in(tries[-1]) or 0.0)
        assert holds.waiting(7, "ended", at - 0.01) and not holds.waiting(7, "ended", at)
        assert holds.hold(7, "ended", at) is False  # not again
        tries.append(at)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(tries)]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert holds.waiting_states(tries[-1]) == {7: "ended"}


def test_a_wake_up_makes_the_named_hold_due_without_resetting_its_back_off() -> None:
    holds = Holds(first_s=1.0, max_s=30.0)
    holds.hold(1, "ended", 0.0, "one")
    holds.hold(1, "ended", 1.0, "one")  # next in 2 s
    holds.hold(2, "live", 1.0, "two")  # next in 1 s
    holds.wake("three")  # another session changed: nothing held is woken
    assert holds.waiting_states(1.5) == {1: "ended", 2: "live"}
    holds.wake("one")
    assert holds.waiting_states(1.5) == {2: "live"} and holds.next_try_in(1.5) == 0.0
    holds.hold(1, "ended", 1.5, "one")
    assert holds.waiting_states(1.5) == {1: "ended", 2: "live"}
    assert holds.next_try_in(1.5) == 0.5  # the other one's, unchanged
    holds.release(2)
    assert holds.next_try_in(1.5) == 4.0  # one's back-off went on: 1, 2, 4
    holds.wake_all()  # a wake-up may have been missed: every hold once
    assert holds.waiting_states(1.5) == {}


def test_a_hold_ends_with_its_state_and_with_the_session() -> None:
    holds = Holds()
    holds.hold(1, "ended", 0.0)
    assert not holds.waiting(1, "archived", 0.5)  # moved meanwhile: not held any more
    assert holds.hold(1, "ended", 0.5) is True  # a new hold, logged again
    holds.hold(2, "ended", 0.0)
    holds.keep_only([2])
    assert holds.waiting_states(0.1) == {2: "ended"}
    holds.release(2)
    assert len(holds) == 0
