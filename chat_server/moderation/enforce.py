"""Enforcement on this gateway: the pure rules of ``rooms/moderation.py`` applied to the
cached facts, refusals raised as ``RoomError``s (the gateway maps them to the wire).

Slow mode goes through the same rule (``send_refusal``) as ban, mute and lock. Its slot is
shared by all gateways (``SlowModeSlots``: one Redis key per member and room): claiming it
answers when the member's previous post in force was made, and the rule turns that into the
wait. The slot is claimed last, just before posting, so a send refused for anything else
never uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chat_server.moderation.facts import FactsCache, RoomFacts
from chat_server.moderation.stores import SlowModeSlots
from rooms import moderation
from rooms.errors import Banned, Kicked, Locked, Muted, NotJoined, RoomError, SlowMode
from rooms.moderation import Refusal


def _say_until(until: float | None) -> str:
    if until is None:
        return "until a navigator lifts it"
    return time.strftime("until %H:%M UTC on %d %B", time.gmtime(until))


def refusal_error(refusal: Refusal) -> RoomError:
    """The error a refusal of the rules is answered with."""
    match refusal.reason:
        case "banned":
            return Banned(f"you are banned from this room {_say_until(refusal.until)}", refusal.until)
        case "kicked":
            return Kicked("you were asked to leave this room for a while; you may come back "
                          f"after {_say_until(refusal.until)[6:]}", refusal.until)
        case "muted":
            return Muted(f"a navigator has paused your posting here {_say_until(refusal.until)}; "
                         "you can still read along", refusal.until)
        case "slow_mode":
            wait = refusal.retry_after_s or 0.0
            return SlowMode(f"this room is in slow mode: you can post again in {wait:.0f} s", wait)
    return Locked("this room is read-only for now")


class Enforcer:
    def __init__(
        self, facts: FactsCache, slots: SlowModeSlots, clock: Callable[[], float] = time.time
    ) -> None:
        self._facts = facts
        self._slots = slots
        self._clock = clock

    async def check_join(self, member_id: str, room: str) -> None:
        """Refuse a join for a ban or a running kick."""
        facts = await self._facts.facts(room)
        if facts is None:
            return
        refusal = moderation.join_refusal(facts.restrictions.get(member_id, ()), self._clock())
        if refusal is not None:
            raise refusal_error(refusal)

    async def check_send(self, member_id: str, room: str, staff: bool) -> RoomFacts | None:
        """Refuse a send for a ban, a mute, a lock or a running kick. The slow-mode slot is
        not claimed yet (``claim_slot``), so the rule is asked without a previous post.
        Returns the facts it checked (None for a room without any), for the same send's
        ``claim_slot``."""
        facts = await self._facts.facts(room)
        if facts is not None:
            self._enforce(facts, member_id, staff, None)
        return facts

    def check_send_now(self, member_id: str, room: str, staff: bool) -> RoomFacts | None:
        """``check_send`` when the room's facts are cached and fresh, without a coroutine (the
        send path's common case): the facts checked, or None when they must be read first,
        and then the caller awaits ``check_send``. Refuses as ``check_send`` does."""
        facts = self._facts.fresh(room)
        if facts is not None:
            self._enforce(facts, member_id, staff, None)
        return facts

    def takes_no_slot(self, room: str, staff: bool, checked: RoomFacts | None) -> bool:
        """True when ``claim_slot`` would return without reading or claiming anything: the
        facts checked for this send are still the cache's copy and have no slow mode (or the
        sender is staff of the room). Otherwise the caller awaits ``claim_slot``."""
        return (
            checked is not None and self._facts.known(room) is checked
            and (staff or checked.slow_mode_s <= 0)
        )

    async def claim_slot(
        self, member_id: str, room: str, staff: bool, checked: RoomFacts | None = None,
    ) -> None:
        """Slow mode: take the member's next slot in the room, shared by all gateways, or
        refuse with the wait. Staff of the room are exempt and use no slot.

        ``checked`` is what ``check_send`` returned for this send. It is used while it is
        still the cache's copy of the room: events (a ban, a mute, slow mode, a lock) change
        that copy in place, so it says what a second read would. Once the cache has dropped
        or replaced it (an invalidation, a fresh read), the facts are read again. (A copy
        whose ``ttl_s`` ran out in between is still used: it was fresh when this send was
        checked, and events keep it current; the next send reads it again.)"""
        if checked is not None and self._facts.known(room) is checked:
            facts: RoomFacts | None = checked
        else:
            facts = await self._facts.facts(room)
        if facts is None or staff or facts.slow_mode_s <= 0:
            return
        now = self._clock()
        previous = await self._slots.claim(room, member_id, facts.slow_mode_s, now)
        self._enforce(facts, member_id, staff, previous, now)

    def _enforce(
        self, facts: RoomFacts, member_id: str, staff: bool, last_post_at: float | None,
        now: float | None = None,
    ) -> None:
        restrictions = facts.restrictions.get(member_id, ())
        if now is None:
            now = self._clock()
        refusal = moderation.send_refusal(
            restrictions, facts.locked, facts.slow_mode_s, last_post_at, now, staff,
        )
        if refusal is not None:
            raise refusal_error(refusal)
        if restrictions and moderation.join_refusal(restrictions, now) is not None:
            # A running kick (a ban was refused above): the member is out of the room and
            # their socket is closing, but a send may still be under way (a reply's look-up
            # awaits). Refused as not joined, as the rule says; joining again says why.
            raise NotJoined("you were asked to leave this room for a while")
