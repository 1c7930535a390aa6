"""A private talk with the navigator on duty: the requests, their order and their rules. Pure.

A member asks, from a room, to talk privately with a navigator. The request waits in a queue
that the navigators who moderate that room see; the first of them to accept it opens a private
conversation with the member. While it waits the member is told their place; once it has
waited ``wait_s`` the member is shown their organization's crisis resources (and it keeps
waiting); after ``expire_s`` it lapses. Nothing here touches storage, sockets or a clock: the
caller passes ``now`` (seconds since the epoch) and stores what these functions decide.

**Place.** Requests wait for a *desk*: the navigators who could take them. The local rooms of
one organization share a desk (its navigators moderate all of them); a national room is a desk
of its own (navigators are assigned to national rooms one by one). A member's place is one
plus the number of requests waiting at the same desk that were made before theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.roles import Role

# What became of a request. A waiting one has no outcome yet; the others are final.
WAITING = "waiting"
ACCEPTED = "accepted"
CANCELLED = "cancelled"
EXPIRED = "expired"
OUTCOMES = frozenset({ACCEPTED, CANCELLED, EXPIRED})

QUEUE_MAX = 100  # requests in one navigator's queue frame; `count` says how many wait in all


class AlreadyAsked(RoomError):
    """The member has a request waiting already (one at a time, whichever room)."""

    code = "talk_pending"
    http_status = 409
    strikes = False  # a second tab asking too is not a misbehaving client

    def __init__(self, talk_id: str) -> None:
        super().__init__("you have already asked; a navigator will be with you as soon as one is free")
        self.talk_id = talk_id

    def fields(self) -> dict[str, object]:
        return {"id": self.talk_id}


class TalkTaken(RoomError):
    """Another navigator accepted the request first."""

    code = "talk_taken"
    http_status = 409
    strikes = False  # two navigators answering at once is the point, not a fault

    def __init__(self, talk_id: str, by: dict[str, str] | None) -> None:
        who = by["handle"] if by else "another navigator"
        super().__init__(f"{who} has already taken this request")
        self.talk_id = talk_id
        self.by = by

    def fields(self) -> dict[str, object]:
        return {"id": self.talk_id, "by": self.by}


class NoSuchTalk(RoomError):
    """No waiting request with this id: it never existed, or it was withdrawn or lapsed."""

    code = "no_such_talk"
    http_status = 404

    def __init__(self, talk_id: str, detail: str = "") -> None:
        super().__init__(detail or "there is no such request waiting")
        self.talk_id = talk_id

    def fields(self) -> dict[str, object]:
        return {"id": self.talk_id}


class StaffOfRoom(RoomError):
    """A navigator of the room asked to talk with a navigator of the room."""

    code = "staff_of_room"
    http_status = 409

    def __init__(self) -> None:
        super().__init__("you are one of this room's navigators: members ask you")


@dataclass(frozen=True, slots=True)
class TalkRequest:
    """One request, as the queue stores it. ``member`` keeps the organization and storage key
    for the server's own rules; only ``member.public()`` is ever sent to anyone."""

    id: str
    member: Member
    room: str
    room_org: int | None  # the room's organization (a local room), or None (a national room)
    asked_at: float  # seconds since the epoch
    resources_at: float | None = None  # when the crisis resources were shown
    outcome: str | None = None  # None while waiting
    navigator: dict[str, str] | None = None  # public view of who accepted it
    settled_at: float | None = None
    conversation: str | None = None
    conversation_room: str | None = None

    @property
    def state(self) -> str:
        return self.outcome or WAITING

    @property
    def community(self) -> Community:
        """Enough of the room for the staff rules (``may_moderate_room``)."""
        return Community(self.room, "", "", "", self.room_org)

    @property
    def desk(self) -> str:
        return f"org:{self.room_org}" if self.room_org is not None else f"room:{self.room}"

    def settled(self, outcome: str, now: float, navigator: dict[str, str] | None = None) -> TalkRequest:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        return replace(self, outcome=outcome, settled_at=now, navigator=navigator)


# -- who may do what ------------------------------------------------------------------------


def check_request(member: Member, community: Community, assigned: frozenset[str]) -> None:
    """Raise ``StaffOfRoom`` when ``member`` is one of the room's navigators (they answer
    requests there; they do not make them). Access to the room is the caller's to check."""
    if may_moderate_room(member, community, assigned):
        raise StaffOfRoom()


def may_take(navigator: Member, request: TalkRequest, assigned: frozenset[str]) -> bool:
    """True when ``navigator`` is staff of the request's room (and it is not their own)."""
    return (
        navigator.role.rank >= Role.NAVIGATOR.rank
        and navigator.id != request.member.id
        and may_moderate_room(navigator, request.community, assigned)
    )


# -- order and time -------------------------------------------------------------------------


def in_order(requests: Iterable[TalkRequest]) -> list[TalkRequest]:
    """Oldest first; the id breaks a tie, so every gateway sees the same order."""
    return sorted(requests, key=lambda r: (r.asked_at, r.id))


def places(waiting: Iterable[TalkRequest]) -> dict[str, int]:
    """Each waiting request's place at its desk, 1 for the next to be taken."""
    seen: dict[str, int] = {}
    out: dict[str, int] = {}
    for request in in_order(r for r in waiting if r.outcome is None):
        seen[request.desk] = seen.get(request.desk, 0) + 1
        out[request.id] = seen[request.desk]
    return out


def due_for_resources(waiting: Iterable[TalkRequest], now: float, wait_s: float) -> list[TalkRequest]:
    """Waiting requests nobody accepted within ``wait_s`` whose member has not been shown
    the crisis resources yet."""
    return [r for r in in_order(waiting)
            if r.outcome is None and r.resources_at is None and now - r.asked_at >= wait_s]


def lapsed(waiting: Iterable[TalkRequest], now: float, expire_s: float) -> list[TalkRequest]:
    """Waiting requests older than ``expire_s``: they leave the queue."""
    return [r for r in in_order(waiting) if r.outcome is None and now - r.asked_at >= expire_s]


def next_deadline(waiting: Iterable[TalkRequest], wait_s: float, expire_s: float) -> float | None:
    """When ``due_for_resources`` or ``lapsed`` next has something to say about ``waiting``
    (seconds since the epoch, possibly past), or None when nothing waits: until then the
    clock has nothing to do, and only a change to the queue can give it something."""
    times = [r.asked_at + (expire_s if r.resources_at is not None else min(wait_s, expire_s))
             for r in waiting if r.outcome is None]
    return min(times, default=None)


# -- what people are shown ------------------------------------------------------------------


def queue_entry(request: TalkRequest, place: int) -> dict[str, Any]:
    """One request as navigators see it: who (public view), where, since when. Nothing else
    about the member is known to the queue (a request carries no text)."""
    return {
        "id": request.id, "room": request.room, "member": request.member.public(),
        "asked_at": int(request.asked_at * 1000), "place": place,
        "resources_shown": request.resources_at is not None,
    }


def queue_of(
    navigator: Member, assigned: frozenset[str], waiting: Iterable[TalkRequest],
) -> tuple[int, list[dict[str, Any]]]:
    """What one navigator's queue shows (the ``talk_queue`` frame, chat_server/protocol/talks):
    how many waiting requests they may take, and the oldest ``QUEUE_MAX`` of them, in order."""
    ordered = in_order(waiting)
    where = places(ordered)
    mine = [r for r in ordered if r.outcome is None and may_take(navigator, r, assigned)]
    return len(mine), [queue_entry(r, where[r.id]) for r in mine[:QUEUE_MAX]]
