"""The gateway's side of private conversations: who may join a conversation's room and post
in it (its participants, by the conversation's state), consulted by the room service
(gateway/rooms.py) on join and send, as sessions' gates are for their live rooms.

A join reads the database (rare). A send reads this gateway's copy of the conversation's
facts, dropped whenever a control message about the conversation arrives (accepted,
declined, a block between its members, from any gateway) and after ``ttl_s`` at most; in a
request, the room's head (how many messages the requester has written) is read from the
broker, so the cap holds across gateways.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.gateway.connection import Connection
from chat_server.protocol.control import ConversationChanged
from persistence import conversations as store
from rooms.conversations import State, check_join, check_post, is_room
from rooms.errors import NoSuchRoom, Unavailable


def is_conversation_room(room: str) -> bool:
    return is_room(room)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the gate needs of one conversation (ids are public ids)."""

    id: str
    room: str
    state: State
    requester: str  # who started it (for a request: who asked)
    members: frozenset[str]
    member_keys: dict[str, int]  # public id -> storage key
    request_made: bool
    blocked: bool  # a one-to-one conversation with a block either way
    group: bool
    read_at: float

    def others(self, user_id: str) -> list[str]:
        return [m for m in self.members if m != user_id]


class Gates:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], head: Callable[[str], Awaitable[int]],
        ttl_s: float = 30.0,
    ) -> None:
        self._db = db
        self._head = head
        self._ttl_s = ttl_s
        self._facts: dict[str, Facts] = {}

    async def facts(self, room: str, fresh: bool = False) -> Facts | None:
        """The conversation of ``room`` (None: there is none). Raises ``Unavailable``."""
        cached = self._facts.get(room)
        if cached is not None and not fresh and time.monotonic() - cached.read_at <= self._ttl_s:
            return cached
        try:
            async with self._db() as db:
                found = await store.by_room(db, room)
                blocked = False
                if found is not None and not found.row.is_group and len(found.members) == 2:
                    a, b = found.members
                    blocked = await store.blocked_between(db, a.db_id, b.db_id)
        except Exception as exc:
            raise Unavailable("could not look the conversation up; try again") from exc
        if found is None:
            self._facts.pop(room, None)
            return None
        requester = next((m.id for m in found.members if m.db_id == found.row.started_by), "")
        facts = Facts(
            found.row.public_id, room, State(found.row.state), requester,
            frozenset(m.id for m in found.members), {m.id: m.db_id for m in found.members},
            found.row.request_message is not None, blocked, found.row.is_group, time.monotonic(),
        )
        if len(self._facts) > 10_000:
            self._facts.clear()  # a bound, not a policy: facts are cheap to read again
        self._facts[room] = facts
        return facts

    async def check_join(self, conn: Connection, room: str) -> None:
        """Raise unless this member may open the conversation now: ``no_such_room`` for anyone
        else (the same answer as for a room that does not exist), ``request_pending`` for the
        recipient of a request not accepted yet."""
        facts = await self.facts(room, fresh=True)
        if facts is None or conn.member.id not in facts.members:
            raise NoSuchRoom(f"no room {room!r} is open to you")
        check_join(facts.state, conn.member.id == facts.requester, facts.request_made)

    async def check_send(self, conn: Connection, room: str) -> None:
        """Raise ``conversation_closed`` (declined, or a block between the two) or
        ``request_pending`` (a request holds as many messages as it may)."""
        facts = await self.facts(room)
        if facts is None or conn.member.id not in facts.members:
            raise NoSuchRoom(f"no room {room!r} is open to you")
        held = 0
        if facts.state is State.REQUEST:
            try:
                held = await self._head(room)
            except Exception as exc:
                raise Unavailable("could not count the request's messages; try again") from exc
        check_post(facts.state, conn.member.id == facts.requester, held, facts.blocked)

    def forget(self, room: str | None) -> None:
        if room is None:
            self._facts.clear()
        else:
            self._facts.pop(room, None)

    def on_control(self, event: ConversationChanged) -> None:
        """A conversation changed on some gateway: read it again next time."""
        self.forget(event.room)
