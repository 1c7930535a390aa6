"""The gateway's side of sessions: who may join and post in a live room, and delivering
``event_state`` and ``notification`` frames that arrive on the control channel.

Joins read the database (rare); sends read a per-room copy of the session's facts, dropped
whenever a control message about the session arrives (any gateway changed it) and after
``ttl_s`` at most.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.gateway.connection import Connection
from chat_server.gateway.fanout import Write
from chat_server.protocol.base import encode_for
from chat_server.protocol.control import SessionChanged
from chat_server.protocol.social import Notification
from persistence import communities
from persistence import sessions as store
from rooms.errors import NoSuchRoom, Unavailable
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.sessions import ROOM_PREFIX, AudienceMode, Kind, Signup, State, check_enter, check_post

log = logging.getLogger(__name__)


def is_event_room(room: str) -> bool:
    return room.startswith(ROOM_PREFIX)


@dataclass(frozen=True, slots=True)
class RoomFacts:
    state: State
    kind: Kind
    mode: AudienceMode
    hosts: frozenset[str]
    community: Community
    read_at: float

    def runs(self, member: Member, assigned: frozenset[str]) -> bool:
        return member.id in self.hosts or may_moderate_room(member, self.community, assigned)


class Gates:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], connections: Callable[[], list[Connection]],
        to_room: Callable[[str, Write, list[Connection]], None], ttl_s: float = 30.0,
    ) -> None:
        self._db = db
        self._connections = connections
        # Writes to a room's connections in the room's order (gateway/fanout.py), so that a
        # frame written to its members directly does not overtake a message queued before it.
        self._to_room = to_room
        self._ttl_s = ttl_s
        self._facts: dict[str, RoomFacts] = {}

    async def _read(self, room: str, member: Member | None) -> tuple[RoomFacts, Signup | None]:
        try:
            async with self._db() as db:
                occ = await store.by_room(db, room)
                community = None if occ is None else await communities.by_slug(db, occ.series.community)
                signup = None
                if occ is not None and member is not None:
                    row = await store.signup_of(db, occ.row.id or 0, member.db_id)
                    signup = None if row is None else Signup(row.status)
        except Exception as exc:
            raise Unavailable("could not look the session up; try again") from exc
        if occ is None or community is None:
            raise NoSuchRoom(f"no room {room!r} is open to you")
        facts = RoomFacts(
            occ.state, Kind(occ.series.kind), AudienceMode(occ.series.audience_mode),
            frozenset(occ.host_ids), community, time.monotonic(),
        )
        self._facts[room] = facts
        return facts, signup

    async def check_join(self, conn: Connection, room: str) -> None:
        """Raise unless this member may enter the session's live room now (rooms/sessions)."""
        facts, signup = await self._read(room, conn.member)
        check_enter(facts.state, facts.runs(conn.member, conn.assigned), signup)

    async def check_send(self, conn: Connection, room: str) -> None:
        """Raise ``hosts_only`` or ``event_closed`` for a post the session does not take."""
        facts = self._facts.get(room)
        if facts is None or time.monotonic() - facts.read_at > self._ttl_s:
            facts, _ = await self._read(room, None)
        check_post(facts.state, facts.runs(conn.member, conn.assigned), facts.kind, facts.mode)

    def on_control(self, event: SessionChanged) -> None:
        """A session changed somewhere: forget our copy, and push the frames it carries to
        the members it concerns who have a connection on this gateway."""
        room = event.room
        if isinstance(room, str):
            self._facts.pop(room, None)
        frame, notify = event.frame, event.notify
        if frame is None and notify is None:
            return  # a new session: only the schedulers care (events/wiring.py)
        to = set(event.to)
        # The notification goes to those whose row was stored (not to those who muted it).
        notify_to = set(event.notify_to or to)
        def concerned(conn: Connection) -> bool:
            return conn.member.id in to or (isinstance(room, str) and room in conn.rooms)

        targets = [conn for conn in self._connections() if concerned(conn)]
        encoded: dict[str, bytes | str] = {}  # the frame once per wire format

        def write(conn: Connection) -> None:
            if not concerned(conn):
                return  # left the room while the frame waited its turn
            if isinstance(frame, dict):
                data = encoded.get(conn.protocol)
                if data is None:
                    data = encoded[conn.protocol] = encode_for(conn.protocol, frame)
                conn.push(data)
            if isinstance(notify, dict) and conn.member.id in notify_to:
                conn.push(encode_for(conn.protocol, Notification(notify)))

        if isinstance(room, str):
            self._to_room(room, write, targets)
        else:
            for conn in targets:
                write(conn)
