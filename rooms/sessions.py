"""Scheduled sessions (drop-ins and webinars): the lifecycle state machine and who may do what.

Pure: no storage, no network, no clock. Times are passed in as aware ``datetime`` values
(any zone; compared as instants). The gateway gathers the facts and these functions answer;
refusals are ``RoomError``s so HTTP and WebSocket map them to the wire the same way.

The lifecycle::

    scheduled -> lobby -> live -> ended -> archived
        \\          \\
         `-----------`--> cancelled

``lobby`` opens ``lobby_minutes`` before ``starts_at``; ``live`` at ``starts_at`` (or when a
host starts it); ``ended`` at ``ends_at`` plus a grace (or when a host ends it); ``archived``
``archive_after`` after the end (or when a host publishes it). A host may also skip ahead
(start a session straight from ``scheduled``); nothing ever goes back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rooms.access import can_see
from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.roles import Role

# The live room of a session is a room like any other, named after the session.
ROOM_PREFIX = "event-"


class Kind(StrEnum):
    DROP_IN = "drop_in"
    WEBINAR = "webinar"


class State(StrEnum):
    SCHEDULED = "scheduled"
    LOBBY = "lobby"
    LIVE = "live"
    ENDED = "ended"
    ARCHIVED = "archived"
    CANCELLED = "cancelled"


class AudienceMode(StrEnum):
    CHAT = "chat"  # everyone in the room talks
    HOSTS_ONLY = "hosts_only"  # only hosts and staff post; the audience reads


class Signup(StrEnum):
    IN = "in"
    WAITING = "waiting"


# -- refusals ------------------------------------------------------------------------------


class InvalidEvent(RoomError):
    """A session's fields break a rule (times, lengths, recurrence); nothing was changed."""

    code = "invalid_event"


class BadTransition(RoomError):
    """A state change that makes no sense from the session's current state."""

    code = "bad_transition"
    http_status = 409

    def __init__(self, current: State, target: State) -> None:
        super().__init__(f"a session that is {current.value} cannot become {target.value}")
        self.current, self.target = current, target

    def fields(self) -> dict[str, object]:
        return {"state": self.current.value}


class EventClosed(RoomError):
    """The session is not open for this (joining, posting, signing up) in its current state."""

    code = "event_closed"
    http_status = 409

    def __init__(self, detail: str, state: State) -> None:
        super().__init__(detail)
        self.state = state

    def fields(self) -> dict[str, object]:
        return {"state": self.state.value}


class HostsOnly(RoomError):
    """A member posted in a webinar whose audience only reads."""

    code = "hosts_only"
    http_status = 403


class NotHost(RoomError):
    """Only the session's hosts and the room's staff may do this."""

    code = "forbidden"
    http_status = 403

    def __init__(self, detail: str = "only the session's hosts and the room's staff may do this") -> None:
        super().__init__(detail)

    def fields(self) -> dict[str, object]:
        return {"reason": "not_host"}


# -- transitions ---------------------------------------------------------------------------

# What a host may ask for, from each state. Skipping ahead is allowed; going back never.
_MANUAL: dict[State, frozenset[State]] = {
    State.SCHEDULED: frozenset({State.LOBBY, State.LIVE, State.CANCELLED}),
    State.LOBBY: frozenset({State.LIVE, State.CANCELLED}),
    State.LIVE: frozenset({State.ENDED}),
    State.ENDED: frozenset({State.ARCHIVED}),
    State.ARCHIVED: frozenset(),
    State.CANCELLED: frozenset(),
}
# States the scheduler still has work for.
OPEN_STATES = frozenset({State.SCHEDULED, State.LOBBY, State.LIVE, State.ENDED})


def check_transition(current: State, target: State) -> None:
    """Raise ``BadTransition`` unless a host may move a session from ``current`` to ``target``."""
    if target not in _MANUAL[current]:
        raise BadTransition(current, target)


@dataclass(frozen=True, slots=True)
class Timing:
    """When an occurrence happens, and the operator's timing rules."""

    starts_at: datetime
    ends_at: datetime
    lobby_minutes: int
    grace: timedelta  # after ends_at, before a live session is ended by itself
    archive_after: timedelta  # after the end, before the archive is published by itself

    @property
    def lobby_at(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.lobby_minutes)


def due(state: State, timing: Timing, ended_at: datetime | None, now: datetime) -> State | None:
    """The state the clock moves the session to at ``now``, or None if nothing is due.

    A session whose times passed while no gateway ran goes straight to where it belongs
    (a drop-in missed entirely is ``ended``, not ``lobby``).
    """
    end_by = timing.ends_at + timing.grace
    if state in (State.SCHEDULED, State.LOBBY):
        if now >= end_by:
            return State.ENDED
        if now >= timing.starts_at:
            return State.LIVE
        if state is State.SCHEDULED and now >= timing.lobby_at:
            return State.LOBBY
        return None
    if state is State.LIVE:
        return State.ENDED if now >= end_by else None
    if state is State.ENDED:
        ended = ended_at or end_by
        return State.ARCHIVED if now >= ended + timing.archive_after else None
    return None


def next_due(state: State, timing: Timing, ended_at: datetime | None) -> datetime | None:
    """When ``due`` will next have something to say, so storage can index it."""
    end_by = timing.ends_at + timing.grace
    if state is State.SCHEDULED:
        return min(timing.lobby_at, timing.starts_at)
    if state is State.LOBBY:
        return timing.starts_at
    if state is State.LIVE:
        return end_by
    if state is State.ENDED:
        return (ended_at or end_by) + timing.archive_after
    return None


# -- who may do what -----------------------------------------------------------------------

HOST_ROLES = frozenset({Role.EXPERT, Role.NAVIGATOR, Role.ORG_ADMIN, Role.ADMIN})


def may_schedule(member: Member, community: Community, assigned: frozenset[str]) -> bool:
    """The staff who may moderate a room may schedule sessions in it."""
    return may_moderate_room(member, community, assigned)


def may_host(member: Member, community: Community) -> bool:
    """A host is staff (expert and up) who can see the session's community."""
    return member.role in HOST_ROLES and can_see(member, community)


def runs_it(member: Member, hosts: Iterable[str], community: Community, assigned: frozenset[str]) -> bool:
    """Hosts of the session and staff of its room run it (state, edits, cancel, admit)."""
    return member.id in set(hosts) or may_moderate_room(member, community, assigned)


def check_signup(state: State) -> None:
    """Signing up (or joining the waiting list) is open until the session ends."""
    if state not in (State.SCHEDULED, State.LOBBY, State.LIVE):
        raise EventClosed(f"this session is {state.value}; signing up is closed", state)


def place(capacity: int | None, taken: int) -> Signup:
    """Where a new sign-up goes: in while there is room, otherwise the waiting list."""
    return Signup.IN if capacity is None or taken < capacity else Signup.WAITING


def promotions(capacity: int | None, taken: int, waiting: list[str]) -> list[str]:
    """Which waiters (oldest first) move in when places are free."""
    if capacity is None:
        return list(waiting)
    return waiting[: max(0, capacity - taken)]


def check_enter(state: State, runs: bool, signup: Signup | None) -> None:
    """May this member join the session's live room now?

    Hosts and staff from scheduling until the end (they prepare before the lobby opens);
    members signed up (not waiting) from the lobby until the end. After the end the archive is
    read over HTTP; a cancelled session has no room.
    """
    if state in (State.ARCHIVED, State.CANCELLED):
        raise EventClosed(f"this session is {state.value}", state)
    if runs:
        return
    if state is State.SCHEDULED:
        raise EventClosed("the lobby is not open yet", state)
    if signup is not Signup.IN:
        detail = "you are on the waiting list" if signup is Signup.WAITING else "sign up first"
        raise EventClosed(detail, state)


def check_post(state: State, runs: bool, kind: Kind, mode: AudienceMode) -> None:
    """May this member post in the live room now? (Joining was checked already.)"""
    if state not in (State.LOBBY, State.LIVE) and not (runs and state is State.SCHEDULED):
        raise EventClosed(f"this session is {state.value}; the room is read-only", state)
    if kind is Kind.WEBINAR and mode is AudienceMode.HOSTS_ONLY and not runs:
        raise HostsOnly("only the hosts speak in this webinar; the audience reads")
