"""Who may moderate whom, and what an active restriction refuses: pure, rank-based rules.

Nothing here touches storage, the network or a clock. The gateway gathers the facts (the
actor, the room, the target, the actor's staff assignments, the restrictions on record, ``now``)
and these functions answer; only the gateway turns a refusal into a wire frame.

The rules, in the spirit of Synapse's ``event_auth``:

* A room is moderated only by its staff: an admin everywhere; a navigator or org admin in the
  local rooms of their own organization and in the national rooms they are assigned to.
  Members and experts moderate nothing.
* Nobody acts on an equal or higher rank (``Role.rank``), and nobody acts on themselves.
* Member actions and message actions need a target (for a message, its author); room actions
  must not have one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from rooms.access import PRIVATE_KIND
from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.roles import Role

# Stable reason codes carried by ``Decision.reason`` and ``Forbidden.reason``.
OK = "ok"
NOT_STAFF = "not_staff"  # the actor's rank is too low, or they are not staff of this room
OUTRANKED = "outranked"  # the target's rank is equal or higher, or the target is the actor
NO_TARGET = "no_target"  # a member or message action was given no target
BAD_TARGET = "bad_target"  # a room action was given a target

# A staff assignment to this slug covers every national room (never a local one).
ALL_NATIONAL = "*"

# The roles that can be staff of some room at all; the room decides which ones are.
_ROOM_STAFF_ROLES = frozenset({Role.NAVIGATOR, Role.ORG_ADMIN})


class Action(StrEnum):
    """A moderation action; the value is its name on the wire."""

    MUTE = "mute"
    UNMUTE = "unmute"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    REMOVE = "remove"
    SLOW_MODE = "slow_mode"
    LOCK = "lock"
    UNLOCK = "unlock"
    PIN = "pin"

    @property
    def targets_member(self) -> bool:
        """True for actions aimed at a member (the target is that member)."""
        return self in MEMBER_ACTIONS

    @property
    def targets_message(self) -> bool:
        """True for actions aimed at a message (the target is the message's author)."""
        return self in MESSAGE_ACTIONS

    @property
    def room_only(self) -> bool:
        """True for actions on the room itself, which take no target."""
        return self in ROOM_ACTIONS

    @property
    def needs_target(self) -> bool:
        """True when ``decide`` requires a target member: member and message actions."""
        return not self.room_only


MEMBER_ACTIONS: frozenset[Action] = frozenset(
    {Action.MUTE, Action.UNMUTE, Action.KICK, Action.BAN, Action.UNBAN}
)
MESSAGE_ACTIONS: frozenset[Action] = frozenset({Action.REMOVE})
ROOM_ACTIONS: frozenset[Action] = frozenset(
    {Action.SLOW_MODE, Action.LOCK, Action.UNLOCK, Action.PIN}
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this actor do this here?": ``allowed`` and a stable ``reason``.

    ``reason`` is ``"ok"`` when allowed, otherwise one of ``"not_staff"``, ``"outranked"``,
    ``"no_target"``, ``"bad_target"``.
    """

    allowed: bool
    reason: str


_ALLOWED = Decision(allowed=True, reason=OK)


class Forbidden(RoomError):
    """A moderation action the actor is not allowed to take; ``reason`` says why.

    Defined here rather than in ``rooms.errors`` because it belongs to the moderation rules;
    it is still a ``RoomError``, so the gateway maps it to the wire like every other refusal.
    """

    code = "forbidden"
    http_status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(_FORBIDDEN_DETAIL.get(reason, reason))
        self.reason = reason

    def fields(self) -> dict[str, object]:
        return {"reason": self.reason}


_FORBIDDEN_DETAIL = {
    NOT_STAFF: "you are not staff of this room",
    OUTRANKED: "you cannot act on a member of equal or higher rank, nor on yourself",
    NO_TARGET: "this action needs a member or a message",
    BAD_TARGET: "this action takes no member or message",
}


def may_moderate_room(actor: Member, community: Community, assigned: frozenset[str]) -> bool:
    """True when ``actor`` is staff of ``community`` and may moderate it at all.

    ``assigned`` is the set of community slugs the actor is assigned to as staff; ``"*"``
    stands for every national community. Admins moderate every room. Navigators and org admins
    moderate the local rooms of their own organization (no assignment needed) and the national
    rooms they are assigned to; an assignment never opens another organization's local room.
    Members and experts never moderate. Nobody moderates a private conversation (its
    messages reach navigators only when a participant reports one, or as a crisis match).
    """
    if community.kind == PRIVATE_KIND:
        return False
    if actor.role is Role.ADMIN:
        return True
    if actor.role not in _ROOM_STAFF_ROLES:
        return False
    if community.org_id is None:
        return community.slug in assigned or ALL_NATIONAL in assigned
    # Compare only when the room has an organization: an actor with no organization
    # (org_id None) must never match a local room.
    return actor.org_id is not None and actor.org_id == community.org_id


def decide(
    actor: Member,
    community: Community,
    action: Action,
    target: Member | None,
    assigned: frozenset[str],
) -> Decision:
    """Decide whether ``actor`` may take ``action`` in ``community`` against ``target``.

    ``target`` is the member acted on; for ``remove`` it is the author of the message, and for
    room actions it must be None. ``assigned`` is as for ``may_moderate_room``.

    Checks run in a fixed order and the first failure is the reason: ``not_staff`` first, so
    someone who may not moderate the room learns nothing about targets or ranks; then the
    target's presence (``no_target`` / ``bad_target``); then rank (``outranked``), which also
    refuses acting on oneself. Pure: the same inputs always give the same decision.
    """
    if not may_moderate_room(actor, community, assigned):
        return Decision(allowed=False, reason=NOT_STAFF)
    if action.room_only:
        if target is not None:
            return Decision(allowed=False, reason=BAD_TARGET)
        return _ALLOWED
    if target is None:
        return Decision(allowed=False, reason=NO_TARGET)
    # Self-moderation is refused explicitly by id, not only through the rank rule, so a stale
    # copy of the actor carrying a different role cannot slip past it.
    if target.id == actor.id or target.role.rank >= actor.role.rank:
        return Decision(allowed=False, reason=OUTRANKED)
    return _ALLOWED


def check(
    actor: Member,
    community: Community,
    action: Action,
    target: Member | None,
    assigned: frozenset[str],
) -> None:
    """Like ``decide`` but raise ``Forbidden`` (with the decision's reason) when refused."""
    decision = decide(actor, community, action, target, assigned)
    if not decision.allowed:
        raise Forbidden(decision.reason)


# --- Enforcing restrictions ---------------------------------------------------------------

RestrictionKind = Literal["mute", "kick", "ban"]
_KINDS: frozenset[str] = frozenset({"mute", "kick", "ban"})


@dataclass(frozen=True, slots=True)
class Restriction:
    """A restriction on one member in one room, as recorded.

    ``kind`` is ``"mute"`` (may not send), ``"kick"`` (may not join until it ends) or
    ``"ban"`` (may neither join nor send). ``until`` is the end time in seconds on the same
    clock the caller passes as ``now``; None means indefinite. ``reason`` is the moderator's
    note. Raises ``ValueError`` for an unknown ``kind``.
    """

    kind: RestrictionKind
    until: float | None
    reason: str = ""

    def __post_init__(self) -> None:
        # Restrictions are read back from storage; an unknown kind there must fail loudly
        # rather than be silently ignored (which would lift it).
        if self.kind not in _KINDS:
            raise ValueError(f"unknown restriction kind {self.kind!r}")

    def active(self, now: float) -> bool:
        """True while in force: indefinite, or ``now`` strictly before ``until``.

        The interval is half-open: at ``now == until`` the restriction has ended.
        """
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a send or join is refused, with when to try again where that is known.

    ``reason`` is one of ``"muted"``, ``"banned"``, ``"kicked"``, ``"locked"``,
    ``"slow_mode"``. ``until`` is when the restriction ends (None when indefinite or not
    applicable); ``retry_after_s`` is set for ``"slow_mode"`` only.
    """

    reason: str
    until: float | None = None
    retry_after_s: float | None = None


def _latest_end(restrictions: Iterable[Restriction], kind: str, now: float) -> tuple[bool, float | None]:
    """(any active of ``kind``, when the last of them ends; None if any is indefinite)."""
    found = False
    end: float | None = 0.0
    for r in restrictions:
        if r.kind != kind or not r.active(now):
            continue
        found = True
        if r.until is None:
            end = None
        elif end is not None:
            end = max(end, r.until)
    return found, (end if found else None)


def send_refusal(
    restrictions: Iterable[Restriction],
    locked: bool,
    slow_mode_s: int,
    last_post_at: float | None,
    now: float,
    sender_is_staff: bool,
) -> Refusal | None:
    """Return why the sender may not post in the room now, or None when they may.

    ``restrictions`` are the sender's restrictions in this room (any kinds; inactive ones are
    ignored). ``locked`` and ``slow_mode_s`` (0 or less = off) are the room's state;
    ``last_post_at`` is the sender's previous post in the room (None if none), on the same
    clock as ``now``. Staff of the room (``sender_is_staff``, i.e. ``may_moderate_room``) are
    exempt from lock and slow mode, and from nothing else.

    Order, most severe first: ``banned`` (``until`` = its end), ``muted`` (``until`` = when the
    last active mute ends, None if any is indefinite), ``locked``, ``slow_mode``
    (``retry_after_s`` = seconds until ``last_post_at + slow_mode_s``). An active kick is not
    a send refusal: a kicked member is out of the room, so the gateway refuses as not joined.
    """
    restrictions = tuple(restrictions)  # read more than once below
    banned, ban_end = _latest_end(restrictions, "ban", now)
    if banned:
        return Refusal("banned", until=ban_end)
    muted, mute_end = _latest_end(restrictions, "mute", now)
    if muted:
        return Refusal("muted", until=mute_end)
    if sender_is_staff:
        # Staff must be able to speak in a room they locked or slowed, e.g. to explain why.
        return None
    if locked:
        return Refusal("locked")
    if slow_mode_s > 0 and last_post_at is not None:
        wait = last_post_at + slow_mode_s - now
        if wait > 0:
            # A clock that stepped backwards must not make the wait longer than the interval.
            return Refusal("slow_mode", retry_after_s=min(wait, float(slow_mode_s)))
    return None


def join_refusal(restrictions: Iterable[Restriction], now: float) -> Refusal | None:
    """Return why the member may not join the room now, or None when they may.

    ``banned`` (``until`` = its end, None if indefinite) wins over ``kicked`` (``until`` = when
    the last active kick ends). Mutes do not stop a join: a muted member may still read.
    """
    restrictions = tuple(restrictions)
    banned, ban_end = _latest_end(restrictions, "ban", now)
    if banned:
        return Refusal("banned", until=ban_end)
    kicked, kick_end = _latest_end(restrictions, "kick", now)
    if kicked:
        return Refusal("kicked", until=kick_end)
    return None
