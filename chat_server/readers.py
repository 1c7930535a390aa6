"""The hub's and the facts cache's reads of the database, each in a session of its own.

The queries are persistence's (``transcripts``, ``accounts``, ``room_facts``);
this adapts them to what the gateway consumes: stored messages rebuilt as message frames, a
room's moderation facts as ``RoomFacts``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.moderation.facts import RoomFacts
from chat_server.protocol.message import message_frame
from persistence import accounts, room_facts, transcripts
from persistence.hot_reads import HotReads

# (session, room, message id) -> the pinned message as members see it, or None.
PinnedView = Callable[[AsyncSession, str, str], Awaitable[dict[str, Any] | None]]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class StoredReads:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], pinned_view: PinnedView, hot: HotReads,
    ) -> None:
        self._db = db
        self._pinned_view = pinned_view
        self._hot = hot

    async def live_sessions(self, digests: list[str]) -> set[str]:
        """Which of these session digests are still valid."""
        async with self._db() as session:
            return await accounts.live_sessions(session, digests, utcnow())

    async def history(self, room: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        """Stored messages with after < seq <= upto, as ``(seq, message frame)``."""
        async with self._db() as session:
            rows = await transcripts.seq_range(session, room, after, upto)
        return [
            (m.seq, message_frame(m.room, m.id, m.seq, m.author, m.body, m.reply_to,
                                  m.created_ms, m.thread_root))
            for m in rows
        ]

    async def thread_of(self, room: str, message_id: str) -> str | None:
        async with self._db() as session:
            return await transcripts.thread_of(session, room, message_id)

    async def head(self, room: str) -> int:
        """The room's highest stored seq: one prebuilt statement on the join path's pool
        (read on a room's first join on this gateway, so once per room in a storm)."""
        return await self._hot.run(lambda conn: room_facts.stored_head(conn, room))

    async def room_facts(self, room: str) -> RoomFacts | None:
        """The room's moderation facts as on record; None for a room that does not exist.
        One prebuilt statement on the join path's pool (persistence/room_facts.py,
        persistence/hot_reads.py); a pinned message's view, when there is one, in an ORM
        session of its own."""
        now_ms = int(time.time() * 1000)
        found = await self._hot.run(lambda conn: room_facts.room_facts(conn, room, now_ms))
        if found is None:
            return None
        pinned = None
        if found.pinned_id is not None:
            async with self._db() as session:
                pinned = await self._pinned_view(session, room, found.pinned_id)
        return RoomFacts(found.community, found.slow_mode_s, found.locked, pinned, found.restrictions)
