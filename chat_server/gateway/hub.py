"""The hub: this process's view of its live rooms.

For each room with local members it holds one upstream subscription (taken with the first
member, dropped with the last), puts incoming frames back in seq order, fills gaps from the
room's log, and hands the same encoded bytes to every local connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from chat_server.aio import stop_task
from chat_server.broker.base import Broker
from chat_server.gateway import joining, upkeep
from chat_server.gateway.announcing import Announcer
from chat_server.gateway.connection import CLOSE_REMOVED, CLOSE_SIGNED_OUT, Connection, Cursor
from chat_server.gateway.control import ControlChannel
from chat_server.gateway.fanout import FanOut, Write
from chat_server.gateway.filling import GapFiller, LocalRoom
from chat_server.gateway.limits import HubLimits
from chat_server.gateway.moderating import ModerationApplier
from chat_server.gateway.sending import AfterPost, Sender
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache
from chat_server.protocol.base import encode_for
from chat_server.protocol.rooms import Joined
from chat_server.wire import Outgoing
from presence.batch import JOINED, LEFT
from presence.store import PresenceStore, PresenceUnavailable
from rooms.errors import TooManyRooms, Unavailable
from rooms.sequence import Overflow, Sequencer

log = logging.getLogger(__name__)

SESSION_CHECK_EVERY = 12  # heartbeats between checks that each socket's session still holds
# Closes that are a decision about the member, announced at once rather than after a linger.
_ANNOUNCE_AT_ONCE = frozenset({CLOSE_SIGNED_OUT, CLOSE_REMOVED})


class Hub:
    def __init__(
        self,
        broker: Broker,
        presence: PresenceStore,
        limits: HubLimits,
        live_sessions: Callable[[list[str]], Awaitable[set[str]]],
        history: Callable[[str, int, int], Awaitable[list[tuple[int, bytes]]]],
        stored_thread_of: Callable[[str, str], Awaitable[str | None]],
        stored_head: Callable[[str], Awaitable[int]],
        facts: FactsCache,
        roster: DutyRoster,
        enforcer: Enforcer,
        after_post: AfterPost | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._broker = broker
        self._presence = self.presence = presence
        self._limits = self.limits = limits
        self._clock = clock
        # Which of these session digests are still valid: sockets outliving their session
        # (expired, or signed out while Redis was unreachable) are closed on the next check.
        self._live_sessions = live_sessions
        # Frames with after < seq <= upto from the database, for what the recent log dropped.
        self._history = history
        self._stored_head = stored_head
        # Moderation: events from any gateway, applied to the facts and to our connections.
        self._facts = facts
        self.moderating = ModerationApplier(self, facts, roster, clock)
        self._sender = Sender(
            broker, enforcer, stored_thread_of, after_post, limits.send_rate_per_s,
            limits.send_burst, limits.max_body_chars, limits.typing_interval_s, clock,
        )
        self._beats = 0
        self._rooms: dict[str, LocalRoom] = {}
        # A room's frames to its connections in room order (in turns in a big room), direct
        # writes too (``to_room``); settle: what of a room is still queued, sent now (fanout.py).
        self._fan = FanOut(limits.fan_out_turn)
        self._fan_out, self.settle, self.settle_for = self._fan.send, self._fan.settle, self._fan.settle_for
        self.settle_all = self._fan.settle_all  # a graceful shutdown's, before the last flush
        self._filler = GapFiller(
            broker, history, limits.replay_window, self._fan_out,
            lambda local: self._rooms.get(local.slug) is local,
        )
        self._connections: dict[str, Connection] = {}
        # Presence changes go out batched per room; dropped members linger (announcing.py).
        self._announcer = Announcer(
            broker, presence, limits.presence_batch_s, limits.presence_linger_s, clock, self._holds,
            limits.presence_list_max,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.draining = False
        # Control messages from any gateway (control.py); other features add their handlers.
        self.control = ControlChannel(self.close_session, self.moderating)
        self.control_handlers = self.control.handlers

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self._broker.start(self._on_frame, self._on_resync, self.control.on_message)
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="presence-heartbeat"),
            asyncio.create_task(self._check_loop(), name="room-head-check"),
        ]
        self.moderating.start(self._limits.heartbeat_interval_s)

    async def stop(self) -> None:
        await self.moderating.stop()
        await self._announcer.close()
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            await stop_task(task)
        await self._broker.close()
        await self._presence.close()

    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    def local_rooms(self) -> list[str]:
        return list(self._rooms)

    def room_connections(self, room: str) -> list[Connection]:
        """This process's connections joined to ``room`` (nothing is sent)."""
        local = self._rooms.get(room)
        return [] if local is None else [c for c in local.conns if room in c.rooms]

    def to_room(self, room: str, write: Write, targets: list[Connection] | None = None) -> None:
        """``write`` to each of this process's connections joined to ``room``, or to
        ``targets``: in the room's order, after its frames still going out, in turns when
        there are many (fanout.py). A write may come after its connection left the room:
        ``deliver`` skips it, a ``push`` must look."""
        self._fan.each(room, self.room_connections(room) if targets is None else targets, write)

    def _holds(self, room: str, user_id: str) -> bool:
        """Whether a connection of this process has ``user_id`` in ``room``."""
        local = self._rooms.get(room)
        return local is not None and local.users.get(user_id, 0) > 0

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Hub-owned background work (gap fills); cancelled in ``stop``."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connections -------------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        self._connections[conn.id] = conn

    async def detach(self, conn: Connection) -> None:
        self._connections.pop(conn.id, None)
        linger = conn.close_code not in _ANNOUNCE_AT_ONCE
        for room in list(conn.rooms):
            await self.leave(conn, room, linger=linger)

    def removed(self, user_id: str, room: str | None) -> None:
        """Moderation: the member was kicked or banned (from ``room``, or everywhere)."""
        self._announcer.end_now(user_id, room)

    def close_session(self, session_digest: str) -> None:
        for conn in list(self._connections.values()):
            if conn.session_digest == session_digest:
                conn.close(CLOSE_SIGNED_OUT, "signed out")

    # -- joining and leaving -----------------------------------------------------------

    async def join(
        self, conn: Connection, room: str, since: int | None,
        after_joined: Sequence[bytes | str] = (),
    ) -> None:
        """Join ``room`` (access already checked) and send ``joined``, then ``after_joined``
        (the room's state), then what was missed."""
        if room in conn.rooms:
            # Joining again on the same connection is a resume: keep the membership and
            # presence, start the cursor afresh from ``since``.
            cursor = conn.rooms[room] = Cursor()
        else:
            if len(conn.rooms) >= self._limits.max_rooms_per_connection:
                raise TooManyRooms(
                    f"a connection joins at most {self._limits.max_rooms_per_connection} rooms"
                )
            local = await self._acquire(room)
            cursor = conn.rooms[room] = Cursor()
            local.conns[conn] = None
            local.users[conn.member.id] += 1
        try:
            member = conn.member.public()
            self._announcer.returned(room, member["id"])
            new, present, count = await self._presence.enter_listing(
                room, member, self._clock(), self._limits.presence_list_max)
            if new:
                self._announcer.changed(room, JOINED, member)
            missed: list[tuple[int, bytes]] = []
            if since is None:
                head = (await self._broker.heads([room]))[room]
            else:
                head, missed = await joining.missed(
                    self._broker, self._history, room, since, self._limits.replay_window,
                    self._limits.max_resume,
                )
        except BaseException as exc:
            await self.leave(conn, room)
            if isinstance(exc, PresenceUnavailable):
                raise Unavailable("presence is unreachable; join again shortly") from exc
            raise
        conn.cork()  # the answer below, one write: nothing in it awaits unless backed up
        try:
            conn.push(encode_for(conn.protocol, Joined(room, head, present, count)))
            for data in after_joined:
                conn.push(data)
            cursor.seq = head if since is None or since >= head else since
            await joining.send_missed(conn, room, cursor, head, missed)
            conn.release(room)
        finally:
            conn.uncork()

    async def leave(self, conn: Connection, room: str, linger: bool = False) -> None:
        """Take the connection out of the room; with ``linger`` (its connection dropped) the
        member's presence is ended only after ``presence_linger_s`` unless they return."""
        if conn.rooms.pop(room, None) is None:
            return
        local = self._rooms.get(room)
        if local is None:
            return
        local.conns.pop(conn, None)
        user = conn.member.id
        local.users[user] -= 1
        try:
            if local.users[user] <= 0:
                del local.users[user]
                if linger and self._announcer.lingers:
                    self._announcer.linger(room, conn.member.public())
                else:
                    gone = await self._presence.leave(room, user)
                    if gone is not None:
                        self._announcer.changed(room, LEFT, gone)
        except (PresenceUnavailable, Unavailable):
            # Our local bookkeeping is done; the shared entry is no longer refreshed and the
            # sweep of another gateway (or ours, later) removes it after the TTL.
            log.warning("room %s: presence leave not recorded (backing service down)", room)
        finally:
            await self._release(local)

    async def _acquire(self, room: str) -> LocalRoom:
        local = self._rooms.get(room)
        if local is None:
            local = self._rooms[room] = LocalRoom(room)
        local.refs += 1
        if local.ready is None:
            local.ready = asyncio.get_running_loop().create_future()
            try:
                head = await self._broker.subscribe(room)
                if self._broker.counters_can_lag:  # embedded: no database read on a first join
                    head = await upkeep.floor_head(self._broker, self._stored_head, room, head)
            except BaseException as exc:
                local.ready.set_exception(exc if isinstance(exc, Exception) else Unavailable())
                local.ready.exception()  # retrieved: the other waiters re-raise it themselves
                local.refs -= 1
                if self._rooms.get(room) is local:
                    del self._rooms[room]
                raise
            local.sequencer = Sequencer(last=head)
            local.ready.set_result(None)
        else:
            try:
                await asyncio.shield(local.ready)
            except BaseException:
                local.refs -= 1
                raise
        return local

    async def _release(self, local: LocalRoom) -> None:
        local.refs -= 1
        if local.refs > 0:
            return
        if self._rooms.get(local.slug) is local:
            del self._rooms[local.slug]
        with contextlib.suppress(Unavailable, OSError):
            await self._broker.unsubscribe(local.slug)

    # -- sending (chat_server/gateway/sending.py) ---------------------------------------

    def send(
        self, conn: Connection, room: str, body: str, cid: str, reply_to: str | None,
        confirm_phi: bool = False,
    ) -> Coroutine[Any, Any, None]:
        """The sender's coroutine, for the caller to await: not one of the hub's own around
        it, a frame less on every send and every resumption of it."""
        return self._sender.send(conn, room, body, cid, reply_to, confirm_phi)

    async def typing(self, conn: Connection, room: str) -> None:
        await self._sender.typing(conn, room)

    # -- from the broker ---------------------------------------------------------------

    def _on_frame(self, room: str, seq: int | None, data: bytes) -> None:
        local = self._rooms.get(room)
        if local is None or local.sequencer is None:
            return
        out = Outgoing(data)
        if seq is None:
            self._fan_out(local, None, out)
            return
        if local.sequencer.next_in_line(seq):  # in order, nothing held: no gap to look for
            self._fan_out(local, seq, out)
            return
        try:
            ready = local.sequencer.offer(seq, out)
        except Overflow:
            log.warning("room %s: too many frames held for a gap; refilling", room)
            ready = []
        for s, o in ready:
            self._fan_out(local, s, o)
        if local.sequencer.missing() is not None:
            self._start_fill(local)

    def _on_resync(self, room: str) -> None:
        # Moderation events travel on the control channel, which may have dropped some too.
        self._facts.invalidate()
        if room == "*":  # the control channel itself: its other listeners read again too
            self.control.resubscribed()
        local = self._rooms.get(room)
        if local is not None and local.sequencer is not None:
            self._start_fill(local)

    def _start_fill(self, local: LocalRoom) -> None:
        if not local.filling:
            local.filling = True
            self._spawn(self._filler.fill(local), name=f"fill-{local.slug}")

    # -- periodic work -----------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._limits.heartbeat_interval_s)
            try:
                await self.heartbeat()
            except (Unavailable, PresenceUnavailable):
                log.warning("presence heartbeat failed: backing service unavailable")
            except Exception:
                log.exception("presence heartbeat failed")

    async def heartbeat(self) -> None:
        """Refresh this process's presence entries and sweep those of dead processes."""
        now = self._clock()
        entries: list[tuple[str, dict[str, str]]] = []
        for room, local in list(self._rooms.items()):
            seen: set[str] = set()
            for conn in local.conns:
                if conn.member.id not in seen:
                    seen.add(conn.member.id)
                    entries.append((room, conn.member.public()))
        for room, user in await self._presence.refresh(entries, now):
            held = self._rooms.get(room)
            if held is None or held.users.get(user["id"], 0) <= 0:
                # The member left while the refresh was on its way, and it put their entry
                # back: take it out again, silently (their departure was announced already).
                await self._presence.leave(room, user["id"])
                continue
            self._announcer.changed(room, JOINED, user)
        for room, user in await self._presence.sweep(list(self._rooms), now):
            self._announcer.changed(room, LEFT, user)
        await self._presence.refresh_connections(
            [(c.member.id, c.id) for c in self._connections.values()], now
        )
        self._sender.forget({c.member.id for c in self._connections.values()})
        self._beats += 1
        if self._beats % SESSION_CHECK_EVERY == 0:
            await self.check_sessions()

    async def check_sessions(self) -> None:
        conns = list(self._connections.values())
        if not conns:
            return
        live = await self._live_sessions(sorted({c.session_digest for c in conns}))
        for conn in conns:
            if conn.session_digest not in live:
                conn.close(CLOSE_SIGNED_OUT, "your session has ended; sign in again")

    async def _check_loop(self) -> None:
        """Anti-entropy (gateway/upkeep.py), every ``check_interval_s``."""
        while True:
            await asyncio.sleep(self._limits.check_interval_s)
            await upkeep.check_heads(self._broker, self._rooms, self._start_fill, self._stored_head)
