"""Scheduled sessions, the pure part: lifecycle, rules, recurrence (explicit ``now``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rooms.model import Community, Member
from rooms.roles import Role
from rooms.schedule import MAX_OCCURRENCES, Fields, check, expand
from rooms.sessions import (
    AudienceMode,
    BadTransition,
    EventClosed,
    HostsOnly,
    InvalidEvent,
    Kind,
    Signup,
    State,
    Timing,
    check_enter,
    check_post,
    check_signup,
    check_transition,
    due,
    may_host,
    may_schedule,
    next_due,
    place,
    promotions,
)

NY = ZoneInfo("America/New_York")
T0 = datetime(2027, 1, 5, 18, 0, tzinfo=NY)  # a Tuesday evening
TIMING = Timing(T0, T0 + timedelta(hours=1), 10, timedelta(minutes=5), timedelta(hours=24))
LOCAL = Community("org-a-lounge", "Lounge", "local", "", org_id=1)
NATIONAL = Community("lung-cancer", "Lung", "cancer_type", "")


def member(role: Role, org: int = 1, uid: str = "u1") -> Member:
    return Member(uid, "H", role, org)


def fields(**over: object) -> Fields:
    base: dict[str, object] = dict(
        kind=Kind.DROP_IN, title=" Caregivers' drop-in ", description="", starts_at=T0,
        ends_at=T0 + timedelta(hours=1), tz="America/New_York", capacity=3, recurrence=None,
        lobby_minutes=10, audience_mode=AudienceMode.CHAT, video_url=None,
    )
    base.update(over)
    return Fields(**base)  # type: ignore[arg-type]


NOW = T0 - timedelta(days=1)


def test_clock_moves_the_session_through_its_states() -> None:
    assert due(State.SCHEDULED, TIMING, None, T0 - timedelta(minutes=11)) is None
    assert due(State.SCHEDULED, TIMING, None, T0 - timedelta(minutes=10)) is State.LOBBY
    assert due(State.LOBBY, TIMING, None, T0 - timedelta(seconds=1)) is None
    assert due(State.LOBBY, TIMING, None, T0) is State.LIVE
    assert due(State.LIVE, TIMING, None, T0 + timedelta(minutes=64)) is None
    assert due(State.LIVE, TIMING, None, T0 + timedelta(minutes=65)) is State.ENDED
    ended = T0 + timedelta(minutes=30)  # a host ended it early
    assert due(State.ENDED, TIMING, ended, ended + timedelta(hours=23)) is None
    assert due(State.ENDED, TIMING, ended, ended + timedelta(hours=24)) is State.ARCHIVED
    assert due(State.ARCHIVED, TIMING, ended, ended + timedelta(days=9)) is None
    assert due(State.CANCELLED, TIMING, None, T0) is None


def test_a_session_missed_while_nothing_ran_goes_where_it_belongs() -> None:
    assert due(State.SCHEDULED, TIMING, None, T0 + timedelta(minutes=1)) is State.LIVE
    assert due(State.SCHEDULED, TIMING, None, T0 + timedelta(hours=2)) is State.ENDED


def test_next_due_is_when_due_changes() -> None:
    for state in (State.SCHEDULED, State.LOBBY, State.LIVE, State.ENDED):
        at = next_due(state, TIMING, None)
        assert at is not None
        assert due(state, TIMING, None, at - timedelta(microseconds=1)) is None
        assert due(state, TIMING, None, at) is not None
    assert next_due(State.ARCHIVED, TIMING, None) is None


def test_hosts_move_forward_never_back() -> None:
    check_transition(State.SCHEDULED, State.LOBBY)
    check_transition(State.SCHEDULED, State.LIVE)
    check_transition(State.LIVE, State.ENDED)
    check_transition(State.ENDED, State.ARCHIVED)
    for current, target in [
        (State.ARCHIVED, State.LIVE), (State.LIVE, State.LOBBY), (State.ENDED, State.LIVE),
        (State.CANCELLED, State.LOBBY), (State.SCHEDULED, State.ARCHIVED), (State.LIVE, State.CANCELLED),
        (State.LIVE, State.LIVE),
    ]:
        with pytest.raises(BadTransition) as err:
            check_transition(current, target)
        assert err.value.code == "bad_transition" and err.value.fields() == {"state": current.value}


def test_who_schedules_and_who_hosts() -> None:
    assert may_schedule(member(Role.NAVIGATOR), LOCAL, frozenset())
    assert not may_schedule(member(Role.NAVIGATOR, org=2), LOCAL, frozenset())
    assert not may_schedule(member(Role.MEMBER), LOCAL, frozenset())
    assert not may_schedule(member(Role.EXPERT), LOCAL, frozenset())
    assert may_schedule(member(Role.NAVIGATOR), NATIONAL, frozenset({"lung-cancer"}))
    assert not may_schedule(member(Role.NAVIGATOR), NATIONAL, frozenset())
    assert may_host(member(Role.EXPERT), LOCAL)
    assert not may_host(member(Role.MEMBER), LOCAL)
    assert not may_host(member(Role.EXPERT, org=2), LOCAL)


def test_sign_up_waiting_list_and_promotion() -> None:
    assert [place(3, n) for n in range(5)] == [Signup.IN] * 3 + [Signup.WAITING] * 2
    assert place(None, 10_000) is Signup.IN
    assert promotions(3, 2, ["a", "b"]) == ["a"]
    assert promotions(3, 3, ["a"]) == []
    assert promotions(None, 9, ["a", "b"]) == ["a", "b"]
    check_signup(State.LOBBY)
    for state in (State.CANCELLED, State.ARCHIVED, State.ENDED):
        with pytest.raises(EventClosed):
            check_signup(state)


def test_entering_and_posting() -> None:
    check_enter(State.LOBBY, False, Signup.IN)
    check_enter(State.SCHEDULED, True, None)
    for state, runs, signup in [
        (State.SCHEDULED, False, Signup.IN), (State.LOBBY, False, Signup.WAITING),
        (State.LIVE, False, None), (State.ARCHIVED, True, None), (State.CANCELLED, False, Signup.IN),
    ]:
        with pytest.raises(EventClosed):
            check_enter(state, runs, signup)
    check_post(State.LIVE, False, Kind.WEBINAR, AudienceMode.CHAT)
    check_post(State.LIVE, True, Kind.WEBINAR, AudienceMode.HOSTS_ONLY)
    with pytest.raises(HostsOnly):
        check_post(State.LIVE, False, Kind.WEBINAR, AudienceMode.HOSTS_ONLY)
    with pytest.raises(EventClosed):
        check_post(State.ENDED, True, Kind.DROP_IN, AudienceMode.CHAT)


def test_fields_are_checked() -> None:
    ok = check(fields(), NOW)
    assert ok.title == "Caregivers' drop-in" and ok.starts_at.tzinfo is UTC
    bad = [
        fields(ends_at=T0), fields(ends_at=T0 - timedelta(minutes=1)),
        fields(ends_at=T0 + timedelta(hours=13)), fields(description="x" * 10_000_000),
        fields(title="  "), fields(capacity=0), fields(lobby_minutes=-1), fields(tz="Mars/Base"),
        fields(audience_mode=AudienceMode.HOSTS_ONLY), fields(video_url="http://example.org/live"),
        fields(video_url="javascript:alert(1)"), fields(starts_at=T0.replace(tzinfo=None)),
    ]
    for f in bad:
        with pytest.raises(InvalidEvent):
            check(f, NOW)
    with pytest.raises(InvalidEvent):  # already over
        check(fields(), T0 + timedelta(hours=2))


def test_weekly_rule_stays_on_the_wall_clock_across_dst() -> None:
    starts = expand("FREQ=WEEKLY;BYDAY=TU;UNTIL=20270601T000000Z", T0, "America/New_York")
    assert len(starts) == 21
    assert all(s.tzinfo is UTC for s in starts)
    assert {s.astimezone(NY).hour for s in starts} == {18}  # 23:00 UTC in winter, 22:00 in summer
    assert {s.astimezone(NY).weekday() for s in starts} == {1}
    assert starts[0] == T0.astimezone(UTC)
    assert expand("RRULE:FREQ=DAILY;COUNT=3", T0, "America/New_York")[2] == (T0 + timedelta(days=2)).astimezone(UTC)
    assert expand(None, T0, "UTC") == [T0.astimezone(UTC)]


@pytest.mark.parametrize("rule", [
    "FREQ=WEEKLY;BYDAY=TU",  # never ends
    "FREQ=DAILY;COUNT=501",
    "FREQ=MINUTELY;UNTIL=20300101T000000Z",
    "FREQ=SOMETIMES;COUNT=2",
    "FREQ=DAILY;COUNT=2\nDTSTART:20270101T000000Z",
    "",
])
def test_rules_that_never_end_or_yield_too_much_are_refused(rule: str) -> None:
    with pytest.raises(InvalidEvent):
        expand(rule, T0, "America/New_York")


def test_five_hundred_is_the_limit() -> None:
    assert len(expand("FREQ=DAILY;COUNT=500", T0, "UTC")) == MAX_OCCURRENCES
