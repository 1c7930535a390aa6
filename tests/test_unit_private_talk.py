"""The private talk's pure rules (rooms/private_talk.py), with an explicit ``now``: who may ask
and take, places per desk, the wait and the lapse, what each side is shown."""

from __future__ import annotations

import pytest

from chat_server.protocol.talks import member_frame, queue_for
from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.private_talk import (
    ACCEPTED,
    CANCELLED,
    QUEUE_MAX,
    StaffOfRoom,
    TalkRequest,
    check_request,
    due_for_resources,
    lapsed,
    may_take,
    next_deadline,
    places,
    queue_entry,
)
from rooms.roles import Role

ORG, OTHER = 1, 2
LOUNGE = Community("org-lounge", "Lounge", "local", "", ORG)
CIRCLE = Community("org-circle", "Circle", "local", "", ORG)
NATIONAL = Community("lung-cancer", "Lung", "cancer_type", "")
ELSEWHERE = Community("other-lounge", "Lounge", "local", "", OTHER)


def member(n: int, role: Role = Role.MEMBER, org: int | None = ORG) -> Member:
    return Member(f"u{n:016x}", f"handle{n}", role, org, db_id=n)


def ask(n: int, room: Community, at: float, **fields: object) -> TalkRequest:
    return TalkRequest(f"t{n:016x}", member(n), room.slug, room.org_id, at, **fields)  # type: ignore[arg-type]


NAV = member(100, Role.NAVIGATOR)
NAV_OTHER = member(101, Role.NAVIGATOR, OTHER)
ADMIN = member(102, Role.ADMIN)


def test_staff_of_the_room_do_not_ask_there_but_may_ask_elsewhere() -> None:
    with pytest.raises(StaffOfRoom) as refused:
        check_request(NAV, LOUNGE, frozenset())
    assert isinstance(refused.value, RoomError) and refused.value.code == "staff_of_room"
    check_request(NAV, NATIONAL, frozenset())  # not assigned there: a member like any other
    with pytest.raises(StaffOfRoom):
        check_request(NAV, NATIONAL, frozenset({"*"}))
    check_request(member(1), LOUNGE, frozenset())
    check_request(member(2, Role.EXPERT), NATIONAL, frozenset())


def test_who_may_take_a_request() -> None:
    local, national, elsewhere = ask(1, LOUNGE, 0), ask(2, NATIONAL, 0), ask(3, ELSEWHERE, 0)
    assert may_take(NAV, local, frozenset())
    assert not may_take(NAV, national, frozenset())  # not assigned to the national room
    assert may_take(NAV, national, frozenset({"lung-cancer"}))
    assert may_take(NAV, national, frozenset({"*"}))
    assert not may_take(NAV, elsewhere, frozenset({"*"}))  # another organization's local room
    assert may_take(NAV_OTHER, elsewhere, frozenset())
    assert may_take(ADMIN, elsewhere, frozenset())
    assert not may_take(member(9), local, frozenset({"*"}))  # members never take requests
    assert not may_take(member(9, Role.EXPERT), local, frozenset())
    own = TalkRequest("t" + "0" * 16, NAV, NATIONAL.slug, None, 0)
    assert not may_take(NAV, own, frozenset())  # asked elsewhere: never one's own


def test_places_count_per_desk_oldest_first() -> None:
    waiting = [
        ask(1, LOUNGE, 10.0), ask(2, CIRCLE, 5.0),  # one desk: the organization's local rooms
        ask(3, NATIONAL, 7.0), ask(4, NATIONAL, 1.0),  # one desk: this national room
        ask(5, ELSEWHERE, 0.0), ask(6, LOUNGE, 10.0),  # a tie: the id decides, the same everywhere
    ]
    got = places(waiting)
    assert got == {"t0000000000000002": 1, "t0000000000000001": 2, "t0000000000000006": 3,
                   "t0000000000000004": 1, "t0000000000000003": 2, "t0000000000000005": 1}
    settled = [waiting[1].settled(ACCEPTED, 11.0, NAV.public()), *waiting[:1], *waiting[2:]]
    assert places(settled)["t0000000000000001"] == 1  # the one ahead was taken: moved up


def test_the_wait_shows_resources_once_and_the_request_lapses_later() -> None:
    fresh, old, shown = ask(1, LOUNGE, 100.0), ask(2, LOUNGE, 0.0), ask(3, LOUNGE, 0.0, resources_at=300.0)
    waiting = [fresh, old, shown]
    assert due_for_resources(waiting, 299.9, 300) == []
    assert due_for_resources(waiting, 300.0, 300) == [old]
    assert due_for_resources(waiting, 400.0, 300) == [old, fresh]
    assert due_for_resources([old.settled(CANCELLED, 1.0)], 1000.0, 300) == []
    assert lapsed(waiting, 3599.0, 3600) == []
    assert lapsed(waiting, 3600.0, 3600) == [old, shown]
    with pytest.raises(ValueError):
        old.settled("waiting", 1.0)


def test_the_next_deadline_is_when_the_clock_next_has_something_to_do() -> None:
    """The desk sleeps until then: at that moment the resources are due or a request lapses,
    and a moment before it neither is."""
    fresh, old, shown = ask(1, LOUNGE, 100.0), ask(2, LOUNGE, 0.0), ask(3, LOUNGE, 50.0, resources_at=350.0)
    assert next_deadline([], 300, 3600) is None
    assert next_deadline([old.settled(CANCELLED, 1.0)], 300, 3600) is None
    assert next_deadline([fresh, shown], 300, 3600) == 400.0  # fresh's resources
    assert next_deadline([shown], 300, 3600) == 3650.0  # shown: only its lapse is left
    for waiting in ([fresh, old, shown], [fresh, shown], [shown]):
        at = next_deadline(waiting, 300, 3600)
        assert at is not None
        due = due_for_resources(waiting, at, 300) + lapsed(waiting, at, 3600)
        assert due and not due_for_resources(waiting, at - 0.01, 300) + lapsed(waiting, at - 0.01, 3600)


def test_what_the_member_is_shown() -> None:
    talk = ask(1, LOUNGE, 12.5)
    assert member_frame(talk, 2) == {
        "type": "talk", "id": talk.id, "room": LOUNGE.slug, "state": "waiting", "asked_at": 12500,
        "resources_shown": False, "place": 2,
    }
    taken = talk.settled(ACCEPTED, 20.0, NAV.public())
    frame = member_frame(taken, 2)
    assert frame["state"] == "accepted" and "place" not in frame
    assert frame["navigator"] == NAV.public() == {"id": NAV.id, "handle": NAV.handle, "role": "navigator"}
    assert member_frame(talk.settled(CANCELLED, 20.0), 1)["state"] == "cancelled"


def test_the_queue_of_one_navigator() -> None:
    waiting = [ask(n, LOUNGE if n % 2 else ELSEWHERE, float(n)) for n in range(1, QUEUE_MAX * 2 + 5)]
    queue = queue_for(NAV, frozenset(), waiting)
    mine = [r for r in waiting if r.room == LOUNGE.slug]
    assert queue["type"] == "talk_queue" and queue["count"] == len(mine) > QUEUE_MAX
    assert [e["id"] for e in queue["requests"]] == [r.id for r in mine[:QUEUE_MAX]]
    first = queue["requests"][0]
    assert first == queue_entry(mine[0], 1)
    # Only the public view of the member: no organization, no storage key.
    assert set(first["member"]) == {"id", "handle", "role"}
    assert set(first) == {"id", "room", "member", "asked_at", "place", "resources_shown"}
    assert queue_for(member(9), frozenset({"*"}), waiting) == {"type": "talk_queue", "count": 0, "requests": []}


def test_the_wait_and_the_lapse_are_settings_checked_at_start() -> None:
    from chat_server.config import Settings, SettingsError

    defaults = Settings.from_env({})
    assert (defaults.private_talk_wait_s, defaults.private_talk_expire_s) == (300.0, 3600.0)
    short = Settings.from_env({"KINDRED_PRIVATE_TALK_WAIT_S": "2", "KINDRED_PRIVATE_TALK_EXPIRE_S": "8"})
    assert (short.private_talk_wait_s, short.private_talk_expire_s) == (2.0, 8.0)
    for env, says in (({"KINDRED_PRIVATE_TALK_WAIT_S": "0"}, "KINDRED_PRIVATE_TALK_WAIT_S must be positive"),
                      ({"KINDRED_PRIVATE_TALK_WAIT_S": "soon"}, "KINDRED_PRIVATE_TALK_WAIT_S='soon'"),
                      ({"KINDRED_PRIVATE_TALK_WAIT_S": "600", "KINDRED_PRIVATE_TALK_EXPIRE_S": "300"},
                       "KINDRED_PRIVATE_TALK_EXPIRE_S must be longer")):
        with pytest.raises(SettingsError, match=says):
            Settings.from_env(env)
