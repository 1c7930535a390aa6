"""Enforcement on this gateway: refuses what a restriction or the room's state forbids, and
applies moderation events (from any gateway) to live connections.

The database is the record. Each gateway keeps the facts of the rooms it has been asked about
(restrictions in force, slow mode, lock, pin), read from the database on first use and then
kept current by the events every gateway receives on the control channel; an entry is read
again after ``ttl_s`` and whenever the control channel may have dropped events (a pub/sub
re-subscription), so a lost event costs at most that long. Slow-mode slots are shared through
``SlowModeSlots`` (one Redis key per member and room), so they hold across gateways.

Events are applied synchronously from the broker's listener: no awaits, so the order in which
they arrive is the order in which they take effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chat_server.gateway.connection import Connection
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.stores import SlowModeSlots
from chat_server.wire import Outgoing
from rooms import moderation
from rooms.errors import Banned, Kicked, Locked, Muted, SlowMode, Unavailable
from rooms.model import Community
from rooms.moderation import Restriction

log = logging.getLogger(__name__)

CLOSE_REMOVED = 4003
STALE_RETRY_S = 5.0


@dataclass(slots=True)
class RoomFacts:
    community: Community
    slow_mode_s: int = 0
    locked: bool = False
    pinned: dict[str, Any] | None = None
    restrictions: dict[str, list[Restriction]] = field(default_factory=dict)  # by public id
    loaded_at: float = 0.0
    on_duty: bool = False  # as last told to the room


class LocalConnections(Protocol):
    def connections(self) -> list[Connection]: ...

    def local_connections(self, room: str) -> list[Connection]: ...

    def local_rooms(self) -> list[str]: ...

    def removed(self, user_id: str, room: str | None) -> None:
        """The member was kicked or banned from ``room`` (None: the platform)."""
        ...


Loader = Callable[[str], Awaitable[RoomFacts | None]]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _say_until(until: float | None) -> str:
    if until is None:
        return "until a navigator lifts it"
    return time.strftime("until %H:%M UTC on %d %B", time.gmtime(until))


class Guard:
    def __init__(
        self,
        load: Loader,
        slots: SlowModeSlots,
        roster: DutyRoster,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load = load
        self._slots = slots
        self.roster = roster
        self._ttl_s = ttl_s
        self._clock = clock
        self._facts: dict[str, RoomFacts] = {}
        self._loading: dict[str, asyncio.Future[RoomFacts | None]] = {}
        self._dirty: set[str] = set()
        self._conns: LocalConnections | None = None
        self._duty_wake = asyncio.Event()
        self._duty_task: asyncio.Task[None] | None = None

    def attach(self, conns: LocalConnections) -> None:
        self._conns = conns

    def start(self, duty_every_s: float) -> None:
        self._duty_task = asyncio.create_task(self._duty_loop(duty_every_s), name="duty-roster")

    async def stop(self) -> None:
        if self._duty_task is not None:
            self._duty_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._duty_task

    # -- duty ----------------------------------------------------------------------------

    async def set_duty(self, conn: Connection, on: bool) -> None:
        others = self._conns is not None and any(
            c.on_duty and c.member.id == conn.member.id and c is not conn
            for c in self._conns.connections()
        )
        await self.roster.set(conn, on, others)
        conn.on_duty = on  # only once the roster has it: a failed write can be retried
        self.duty_changed()

    async def _duty_loop(self, every_s: float) -> None:
        """Keep our on-duty entries alive and re-read everyone's: on a timer, and at once when
        another gateway says its roster changed."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._duty_wake.wait(), every_s)
            self._duty_wake.clear()
            try:
                if self._conns is not None:
                    await self.roster.refresh([c for c in self._conns.connections() if c.on_duty])
                await self.roster.reload()
                self.duty_changed()
                await self.sweep()
            except Unavailable:
                log.warning("duty roster unreachable; retrying")
            except Exception:
                log.exception("duty roster refresh failed")

    # -- facts ---------------------------------------------------------------------------

    async def facts(self, room: str) -> RoomFacts | None:
        """The room's facts (None for a room that does not exist)."""
        found = self._facts.get(room)
        if found is not None and time.monotonic() - found.loaded_at < self._ttl_s:
            return found
        pending = self._loading.get(room)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RoomFacts | None] = asyncio.get_running_loop().create_future()
        self._loading[room] = future
        try:
            while True:
                self._dirty.discard(room)
                try:
                    loaded = await self._load(room)
                except Exception as exc:
                    if found is None:
                        raise Unavailable("could not read the room's moderation state") from exc
                    # The database is away: keep enforcing what we knew (events still arrive)
                    # and try again in a few seconds rather than on every send.
                    log.warning("room %s: moderation state unreadable (%s); using the last copy",
                                room, type(exc).__name__)
                    found.loaded_at = time.monotonic() - self._ttl_s + STALE_RETRY_S
                    future.set_result(found)
                    return found
                if room not in self._dirty:
                    break  # no event arrived while reading: what was read is current
            if loaded is not None:
                loaded.loaded_at = time.monotonic()
                if found is not None:
                    loaded.on_duty = found.on_duty
                self._facts[room] = loaded
                self.reconcile(room, loaded)
            future.set_result(loaded)
            return loaded
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[room]

    def reconcile(self, room: str, facts: RoomFacts, only: Connection | None = None) -> None:
        """Put out of the room every local connection a ban or kick now refuses: the event
        that should have done it may have been lost, or crossed a join in progress."""
        now = self._clock()
        for conn in [only] if only is not None else self._local(room):
            refusal = moderation.join_refusal(facts.restrictions.get(conn.member.id, ()), now)
            if refusal is not None and conn.close_code is None:
                frame = {"type": refusal.reason, "room": room, "until": _ms(refusal.until),
                         "reason": self._reason_of(facts, conn.member.id, refusal.reason)}
                conn.push(Outgoing.of(frame).for_protocol(conn.protocol))
                conn.close_after_flush(CLOSE_REMOVED, refusal.reason, 1.0)

    def recheck(self, conn: Connection, room: str) -> None:
        """After a join: put the connection out if a ban or kick landed while it joined."""
        facts = self._facts.get(room)
        if facts is not None:
            self.reconcile(room, facts, only=conn)

    @staticmethod
    def _reason_of(facts: RoomFacts, member_id: str, kind: str) -> str:
        kinds = {"banned": "ban", "kicked": "kick"}
        found = [r for r in facts.restrictions.get(member_id, ()) if r.kind == kinds.get(kind)]
        return found[-1].reason if found else ""

    async def sweep(self) -> None:
        """Re-read the facts of local rooms that are stale or were forgotten (and so put out
        anyone they now refuse): a lost event is repaired within ``ttl_s``."""
        if self._conns is None:
            return
        for room in self._conns.local_rooms():
            found = self._facts.get(room)
            if found is None or time.monotonic() - found.loaded_at >= self._ttl_s:
                try:
                    await self.facts(room)
                except Unavailable:
                    return

    def _local(self, room: str) -> list[Connection]:
        return [] if self._conns is None else self._conns.local_connections(room)

    def invalidate(self, room: str | None = None) -> None:
        """Forget what is known (of one room, or of all): events may have been missed."""
        if room is None:
            self._facts.clear()
            self._dirty.update(self._loading)
        else:
            self._facts.pop(room, None)
            self._dirty.add(room)

    # -- refusals ------------------------------------------------------------------------

    async def check_join(self, member_id: str, room: str) -> None:
        facts = await self.facts(room)
        if facts is None:
            return
        refusal = moderation.join_refusal(facts.restrictions.get(member_id, ()), self._clock())
        if refusal is None:
            return
        if refusal.reason == "banned":
            raise Banned(f"you are banned from this room {_say_until(refusal.until)}", refusal.until)
        raise Kicked("you were asked to leave this room for a while; you may come back "
                     f"after {_say_until(refusal.until)[6:]}", refusal.until)

    async def check_send(self, member_id: str, room: str, staff: bool) -> None:
        """Refuse a send for a ban, a mute or a lock (slow mode is ``claim_slot``)."""
        facts = await self.facts(room)
        if facts is None:
            return
        refusal = moderation.send_refusal(
            facts.restrictions.get(member_id, ()), facts.locked, 0, None, self._clock(), staff
        )
        if refusal is None:
            return
        if refusal.reason == "banned":
            raise Banned(f"you are banned from this room {_say_until(refusal.until)}", refusal.until)
        if refusal.reason == "muted":
            raise Muted(f"a navigator has paused your posting here {_say_until(refusal.until)}; "
                        "you can still read along", refusal.until)
        raise Locked("this room is read-only for now")

    async def claim_slot(self, member_id: str, room: str, staff: bool) -> None:
        """Slow mode: take the member's next slot in the room, shared by all gateways."""
        facts = await self.facts(room)
        if facts is None or staff or facts.slow_mode_s <= 0:
            return
        wait = await self._slots.claim(room, member_id, facts.slow_mode_s)
        if wait is not None:
            raise SlowMode(f"this room is in slow mode: you can post again in {wait:.0f} s", wait)

    # -- room state ----------------------------------------------------------------------

    def room_state(self, room: str, facts: RoomFacts) -> dict[str, Any]:
        facts.on_duty = self.roster.covers(facts.community)
        return {
            "type": "room_state", "room": room, "slow_mode_s": facts.slow_mode_s,
            "locked": facts.locked, "pinned": facts.pinned, "on_duty": facts.on_duty,
        }

    def duty_changed(self) -> None:
        """Tell each local room whose ``on_duty`` flipped (the roster was just reloaded)."""
        for room, facts in list(self._facts.items()):
            if self.roster.covers(facts.community) != facts.on_duty:
                self._to_room(room, self.room_state(room, facts))

    # -- events from any gateway -----------------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("t")
        room = event.get("room")
        if not isinstance(room, str):
            return
        if kind == "duty":
            self._duty_wake.set()
            return
        if kind == "blocks":
            self._blocks(event)
            return
        if room in self._loading:
            self._dirty.add(room)
        facts = self._facts.get(room)
        if kind == "restrict":
            self._restrict(room, facts, event)
        elif kind == "lift":
            self._lift(room, facts, event)
        elif kind == "state":
            if facts is not None:
                facts.slow_mode_s, facts.locked = int(event["slow_mode_s"]), bool(event["locked"])
                facts.pinned = event.get("pinned")
                self._to_room(room, self.room_state(room, facts))
        elif kind == "removed":
            self._removed(room, event)
        elif kind == "platform_ban":
            self._platform_ban(event)
        elif kind == "alert":
            self._alert(event)

    def _restrict(self, room: str, facts: RoomFacts | None, event: dict[str, Any]) -> None:
        user, kind, reason = str(event["user"]), event["kind"], str(event.get("reason", ""))
        until = event.get("until")
        restriction = Restriction(kind, None if until is None else until / 1000, reason)
        if facts is not None:
            facts.restrictions.setdefault(user, []).append(restriction)
        frame = {"type": "muted" if kind == "mute" else "kicked" if kind == "kick" else "banned",
                 "room": room, "until": until, "reason": reason}
        out = Outgoing.of(frame)
        if kind != "mute" and self._conns is not None:
            self._conns.removed(user, room)
        for conn in self._targets(room, user):
            if kind == "mute":
                conn.deliver(room, None, out)  # behind a replay in progress, in order
            else:
                conn.push(out.for_protocol(conn.protocol))  # now: the socket closes after it
                conn.close_after_flush(CLOSE_REMOVED, "kicked" if kind == "kick" else "banned", 1.0)

    def _lift(self, room: str, facts: RoomFacts | None, event: dict[str, Any]) -> None:
        user, kinds = str(event["user"]), set(event.get("kinds", ()))
        if facts is not None and user in facts.restrictions:
            kept = [r for r in facts.restrictions[user] if r.kind not in kinds]
            if kept:
                facts.restrictions[user] = kept
            else:
                del facts.restrictions[user]
        if "mute" in kinds:
            out = Outgoing.of({"type": "unmuted", "room": room})
            for conn in self._targets(room, user):
                conn.deliver(room, None, out)

    def _removed(self, room: str, event: dict[str, Any]) -> None:
        """Everyone sees the message go; its author is also told why (two encodes in all)."""
        if self._conns is None:
            return
        frame = {"type": "removed", "room": room, "id": event["id"]}
        out = Outgoing.of(frame)
        told = Outgoing.of({**frame, "reason": event.get("reason", "")})
        for conn in self._conns.local_connections(room):
            mine = conn.member.id == event.get("author")
            # deliver, not push: a resume in progress sends the replayed body first.
            conn.deliver(room, None, told if mine else out)

    def _platform_ban(self, event: dict[str, Any]) -> None:
        if self._conns is None:
            return
        out = Outgoing.of({"type": "banned", "room": "*", "until": event.get("until"),
                           "reason": event.get("reason", "")})
        self._conns.removed(str(event.get("user", "")), None)
        for conn in self._conns.connections():
            if conn.member.id == event.get("user"):
                conn.push(out.for_protocol(conn.protocol))
                conn.close_after_flush(CLOSE_REMOVED, "banned", 1.0)

    def _blocks(self, event: dict[str, Any]) -> None:
        if self._conns is None:
            return
        hidden = frozenset(str(u) for u in event.get("hidden", ()))
        for conn in self._conns.connections():
            if conn.member.id == event.get("user"):
                conn.hidden = hidden

    def _alert(self, event: dict[str, Any]) -> None:
        if self._conns is None:
            return
        community = Community(str(event["room"]), "", "", "", event.get("org_id"))
        frame = {k: v for k, v in event.items() if k not in ("t", "op", "org_id", "skip")}
        frame["type"] = "alert"
        out = Outgoing.of(frame)
        for conn in self._conns.connections():
            if conn.member.id == event.get("skip"):
                continue  # about their own message
            if conn.on_duty and moderation.may_moderate_room(conn.member, community, conn.assigned):
                conn.push(out.for_protocol(conn.protocol))

    def _targets(self, room: str, user: str) -> list[Connection]:
        if self._conns is None:
            return []
        return [c for c in self._conns.local_connections(room) if c.member.id == user]

    def _to_room(self, room: str, frame: dict[str, Any]) -> None:
        if self._conns is None:
            return
        out = Outgoing.of(frame)
        for conn in self._conns.local_connections(room):
            conn.deliver(room, None, out)
