"""What this gateway's own connections are shown of the private-talk queue, kept current.

Every gateway reads the waiting requests back when the queue changed (another gateway, or
this one, says so on the control channel: ``TalkQueueChanged``), when the clock has something
to do (the first request due its crisis resources or its lapse, ``PrivateTalks.next_tick_in``),
when the control channel was subscribed again (messages published meanwhile are lost) and, as a
backstop, every ``backstop_s``; not on a timer while nothing waits. It shows its own
connections what changed for them: an on-duty navigator the requests they may take
(``talk_queue``), a member their request's place (``talk``). Each connection is sent a frame
only when what it would show differs from what it was last sent, so a reading that changed
nothing costs nothing on the wire. A navigator coming on duty, and a member connecting, are
shown the queue as this gateway last read it at once (current: every change is read).

How a request ends (accepted, withdrawn, lapsed) and the crisis resources are sent by the
gateway where it happened, to every connection of the member (social/delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from chat_server.aio import stop_task, wait_at_most
from chat_server.gateway.connection import Connection
from chat_server.private_talk.service import PrivateTalks
from chat_server.protocol.base import encode_for
from chat_server.protocol.control import TalkQueueChanged
from chat_server.protocol.talks import member_frame, queue_for
from rooms.errors import Unavailable
from rooms.private_talk import TalkRequest, places
from rooms.roles import Role

log = logging.getLogger(__name__)

# The clock's steps and the control channel make every reading that matters; this bounds what
# a change nobody was told of (a publish that failed for good) could be left unseen.
BACKSTOP_S = 30.0
RETRY_S = 1.0  # after the queue could not be read
_EARLY_S = 0.005  # a timer may fire a hair before the deadline: wake just after it

_QUEUE, _MINE = "queue", "talk"


class TalkDesk:
    def __init__(
        self, talks: PrivateTalks, connections: Callable[[], list[Connection]],
        backstop_s: float = BACKSTOP_S, retry_s: float = RETRY_S,
    ) -> None:
        self._talks = talks
        self._connections = connections
        self._backstop_s = backstop_s
        self._retry_s = retry_s
        self._waiting: list[TalkRequest] = []
        self._cards: dict[str, dict[str, Any]] = {}  # talk id -> resources fields, once shown
        self._told: dict[tuple[str, str], dict[str, Any]] = {}  # (connection id, kind) -> frame
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="private-talk-desk")

    async def stop(self) -> None:
        await stop_task(self._task)

    def on_control(self, event: TalkQueueChanged) -> None:
        """Another gateway (or this one) changed the queue: read it again now."""
        self.wake()

    def wake(self) -> None:
        """Read the queue again now (the control channel was subscribed again: a change
        published meanwhile was not heard)."""
        self._wake.set()

    # -- hooks from the socket ------------------------------------------------------------

    def connected(self, conn: Connection) -> None:
        """A new connection: its member's waiting request, if any, as last read."""
        self._show(conn, places(self._waiting))

    def duty_changed(self, conn: Connection) -> None:
        """The connection went on duty (shown the queue now) or off (shown nothing more)."""
        if conn.on_duty:
            self._show(conn, places(self._waiting))
            self._wake.set()  # and a fresh reading right after
        else:
            self._told.pop((conn.id, _QUEUE), None)

    def disconnected(self, conn: Connection) -> None:
        """The connection closed: forget what it was shown."""
        self._told.pop((conn.id, _QUEUE), None)
        self._told.pop((conn.id, _MINE), None)

    def remember(self, conn: Connection, frame: dict[str, Any]) -> None:
        """``frame`` (a ``talk``) was just sent to ``conn`` as an answer: not again."""
        self._told[(conn.id, _MINE)] = {k: v for k, v in frame.items() if k != "cid"}

    # -- reading and showing ----------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # a change during the reading below reads again after it
            try:
                await self.refresh()
                due_in = self._talks.next_tick_in(self._waiting)
                delay = self._backstop_s if due_in is None else min(self._backstop_s, due_in + _EARLY_S)
            except Unavailable:
                log.warning("private talks: the queue is unreachable; retrying")
                delay = self._retry_s
            except Exception:
                log.exception("private talks: reading the queue failed")
                delay = self._retry_s
            await wait_at_most(self._wake.wait(), delay)

    async def refresh(self) -> None:
        """The clock's steps, then the queue read back and shown where it changed."""
        self._waiting = await self._talks.tick()
        for talk in self._waiting:
            if talk.resources_at is not None and talk.id not in self._cards:
                self._cards[talk.id] = (await self._talks.member_view(talk, None)).get("resources", {})
        live = {t.id for t in self._waiting}
        self._cards = {k: v for k, v in self._cards.items() if k in live}
        self.show_all()

    def show_all(self) -> None:
        conns = self._connections()
        ids = {c.id for c in conns}
        self._told = {k: v for k, v in self._told.items() if k[0] in ids}
        where = places(self._waiting)
        for conn in conns:
            self._show(conn, where)

    def _show(self, conn: Connection, where: dict[str, int]) -> None:
        if conn.on_duty and conn.member.role.rank >= Role.NAVIGATOR.rank:
            self._send(conn, _QUEUE, queue_for(conn.member, conn.assigned, self._waiting))
        mine = next((t for t in self._waiting if t.member.id == conn.member.id), None)
        if mine is None:
            # Ended: how it ended came from where it happened. A new request starts afresh.
            self._told.pop((conn.id, _MINE), None)
            return
        frame = member_frame(mine, where.get(mine.id))
        card = self._cards.get(mine.id)
        if card:
            frame["resources"] = card
        self._send(conn, _MINE, frame)

    def _send(self, conn: Connection, kind: str, frame: dict[str, Any]) -> None:
        if self._told.get((conn.id, kind)) == frame:
            return
        self._told[(conn.id, kind)] = frame
        conn.push(encode_for(conn.protocol, frame))
