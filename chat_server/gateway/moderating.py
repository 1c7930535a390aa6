"""Moderation applied to this gateway's own connections.

Events from any gateway (``moderation/events.py``) arrive here after the facts cache has taken
them in; this module turns them into frames and close codes for local connections. It also
puts out whoever a fresh read of a room's facts now refuses (an event lost, or a kick that
crossed a join), and runs the duty loop: our on-duty entries refreshed, everyone's read back,
and rooms told when someone who moderates them comes on or goes off duty.

Events are applied synchronously from the broker's listener: no awaits, so the order in which
they arrive is the order in which they take effect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from chat_server.aio import stop_task, wait_at_most
from chat_server.gateway.connection import CLOSE_REMOVED, Connection
from chat_server.gateway.fanout import Write
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.facts import FactsCache, RoomFacts
from chat_server.protocol import moderation_events as events
from chat_server.protocol.base import encode, encode_for
from chat_server.protocol.moderation import RESTRICTION_FRAMES, Banned, Removed, RoomState, Unmuted
from rooms import moderation
from rooms.errors import Unavailable
from rooms.model import Community

log = logging.getLogger(__name__)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


class LocalConnections(Protocol):
    def connections(self) -> list[Connection]: ...

    def room_connections(self, room: str) -> list[Connection]: ...

    def to_room(self, room: str, write: Write, targets: list[Connection] | None = None) -> None:
        """Write to the room's connections (or ``targets``) in the room's order: behind its
        frames still going out in turns (gateway/fanout.py)."""
        ...

    def local_rooms(self) -> list[str]: ...

    def settle_for(self, room: str, conns: list[Connection]) -> None:
        """Send ``conns`` what of ``room`` is still going out in turns for them, now."""
        ...

    def removed(self, user_id: str, room: str | None) -> None:
        """The member was kicked or banned from ``room`` (None: the platform)."""
        ...


class ModerationApplier:
    def __init__(
        self, conns: LocalConnections, facts: FactsCache, roster: DutyRoster,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._conns = conns
        self._facts = facts
        self.roster = roster
        self._clock = clock
        self._on_duty_told: dict[str, bool] = {}  # room -> on_duty as last told to it
        self._duty_wake = asyncio.Event()
        self._duty_task: asyncio.Task[None] | None = None
        facts.on_loaded(self.reconcile)

    def start(self, duty_every_s: float) -> None:
        self._duty_task = asyncio.create_task(self._duty_loop(duty_every_s), name="duty-roster")

    async def stop(self) -> None:
        await stop_task(self._duty_task)

    # -- room state and duty -------------------------------------------------------------

    def room_state(self, facts: RoomFacts) -> RoomState:
        """The ``room_state`` frame of a room, as its members are told it."""
        on_duty = self.roster.covers(facts.community)
        self._on_duty_told[facts.community.slug] = on_duty
        return facts.state(on_duty)

    def duty_changed(self) -> None:
        """Tell each local room whose ``on_duty`` flipped (the roster was just reloaded)."""
        local = self._conns.local_rooms()
        self._on_duty_told = {r: v for r, v in self._on_duty_told.items() if r in local}
        for room in local:
            facts = self._facts.known(room)
            if facts is not None and self.roster.covers(facts.community) != self._on_duty_told.get(room, False):
                self._to_room(room, self.room_state(facts))

    async def set_duty(self, conn: Connection, on: bool) -> bool:
        """Put the connection on or off duty in the shared roster; False when it already was."""
        if conn.on_duty == on:
            return False
        others = any(c.on_duty and c.member.id == conn.member.id and c is not conn
                     for c in self._conns.connections())
        await self.roster.set(conn.member, conn.assigned, on, others)
        conn.on_duty = on  # only once the roster has it: a failed write can be retried
        self.duty_changed()
        return True

    async def _duty_loop(self, every_s: float) -> None:
        """Keep our on-duty entries alive and re-read everyone's: on a timer, and at once when
        another gateway says its roster changed. Then re-read stale rooms' facts, so a lost
        ban closes its sockets within that bound too."""
        while True:
            await wait_at_most(self._duty_wake.wait(), every_s)
            self._duty_wake.clear()
            try:
                on_duty = [(c.member, c.assigned) for c in self._conns.connections() if c.on_duty]
                await self.roster.refresh(on_duty)
                await self.roster.reload()
                self.duty_changed()
                await self._facts.refresh_stale(self._conns.local_rooms())
            except Unavailable:
                log.warning("duty roster unreachable; retrying")
            except Exception:
                log.exception("duty roster refresh failed")

    # -- refusals found on reading ---------------------------------------------------------

    def reconcile(self, room: str, facts: RoomFacts, only: Connection | None = None) -> None:
        """Put out of the room every local connection a ban or kick now refuses: the event
        that should have done it may have been lost, or crossed a join in progress."""
        now = self._clock()
        refused: list[tuple[Connection, bytes | str, str]] = []
        for conn in [only] if only is not None else self._conns.room_connections(room):
            refusal = moderation.join_refusal(facts.restrictions.get(conn.member.id, ()), now)
            if refusal is not None and conn.close_code is None:
                frame = RESTRICTION_FRAMES[refusal.reason](
                    room, _ms(refusal.until), facts.reason_of(conn.member.id, refusal.reason))
                refused.append((conn, encode_for(conn.protocol, frame), refusal.reason))
        self._put_out(room, refused)

    def _put_out(self, room: str, refused: list[tuple[Connection, bytes | str, str]]) -> None:
        """Each connection its frame, then closed within a second: now, not in the room's turn
        (a webinar's queue can be longer than that), after what was queued for it before."""
        if not refused:
            return
        self._conns.settle_for(room, [conn for conn, _, _ in refused])
        for conn, data, why in refused:
            conn.push(data)
            conn.close_after_flush(CLOSE_REMOVED, why, 1.0)

    def recheck(self, conn: Connection, room: str) -> None:
        """After a join: put the connection out if a ban or kick landed while it joined."""
        facts = self._facts.known(room)
        if facts is not None:
            self.reconcile(room, facts, only=conn)

    # -- events from any gateway -----------------------------------------------------------

    def apply(self, event: events.ModerationEvent) -> None:
        self._facts.apply(event)
        match event:
            case events.Restricted():
                self._restricted(event)
            case events.Lifted(room, user, kinds):
                if "mute" in kinds:
                    out = encode(Unmuted(room))
                    self._conns.to_room(room, lambda conn: conn.deliver(room, None, out),
                                        self._targets(room, user))
            case events.StateChanged(room):
                facts = self._facts.known(room)
                if facts is not None:
                    self._to_room(room, self.room_state(facts))
            case events.MessageRemoved():
                self._removed(event)
            case events.PlatformBanned(user, until_ms, reason):
                out = encode(Banned("*", until_ms, reason))
                self._conns.removed(user, None)
                for conn in self._conns.connections():
                    if conn.member.id == user:
                        # What was queued for them before the ban first, as a kick's: the
                        # rest of each room keeps its turns.
                        for room in list(conn.rooms):
                            self._conns.settle_for(room, [conn])
                        conn.push(out.for_protocol(conn.protocol))
                        conn.close_after_flush(CLOSE_REMOVED, "banned", 1.0)
            case events.BlocksChanged(user, hidden):
                for conn in self._conns.connections():
                    if conn.member.id == user:
                        conn.hidden = hidden
            case events.DutyChanged():
                self._duty_wake.set()
            case events.Alert():
                self._alert(event)

    def _restricted(self, event: events.Restricted) -> None:
        room, user, kind = event.room, event.user, event.kind
        out = encode(RESTRICTION_FRAMES[kind](room, event.until_ms, event.reason))
        if kind != "mute":
            self._conns.removed(user, room)
        targets = self._targets(room, user)
        if kind == "mute":  # behind the room's frames still going out, and a replay's
            self._conns.to_room(room, lambda conn: conn.deliver(room, None, out), targets)
            return
        why = "kicked" if kind == "kick" else "banned"
        self._put_out(room, [(conn, out.for_protocol(conn.protocol), why) for conn in targets])

    def _removed(self, event: events.MessageRemoved) -> None:
        """Everyone sees the message go; its author is also told why (two encodes in all)."""
        out = encode(Removed(event.room, event.message_id))
        told = encode(Removed(event.room, event.message_id, event.reason))

        def tell(conn: Connection) -> None:
            # deliver, not push: a resume in progress sends the replayed body first.
            conn.deliver(event.room, None, told if conn.member.id == event.author else out)

        self._conns.to_room(event.room, tell)

    def _alert(self, event: events.Alert) -> None:
        community = Community(event.room, "", "", "", event.org_id)
        out = encode(event.frame())
        def on_duty_for_it(conn: Connection) -> bool:
            return (conn.member.id != event.skip  # about their own message
                    and conn.on_duty and moderation.may_moderate_room(conn.member, community, conn.assigned))

        def alert(conn: Connection) -> None:
            if on_duty_for_it(conn):  # still, when its turn comes
                conn.push(out.for_protocol(conn.protocol))

        # In the room's order: staff in the room read the message before its alert.
        staff = [conn for conn in self._conns.connections() if on_duty_for_it(conn)]
        self._conns.to_room(event.room, alert, staff)

    def _targets(self, room: str, user: str) -> list[Connection]:
        return [c for c in self._conns.room_connections(room) if c.member.id == user]

    def _to_room(self, room: str, frame: RoomState) -> None:
        out = encode(frame)
        self._conns.to_room(room, lambda conn: conn.deliver(room, None, out))
