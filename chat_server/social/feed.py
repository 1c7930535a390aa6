"""The feed (``GET /api/feed``): the recent public activity of the people a member follows,
newest first, paged with a cursor (rooms/feed.py).

What the viewer may read is decided here, once, from the viewer alone (``readable``): the
catalog rooms they can see and join (``rooms.access``; never another organization's local
room), minus rooms they are banned or kicked from, and the live rooms of sessions they could
enter (they host it or have a place in it). Every query reads only those rooms, so following
someone never shows where the viewer could not go. Removed messages, anonymous questions,
questions not shown to members, and anything by a member the viewer blocked never appear.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.events.views import iso
from persistence import communities, follows
from persistence import feed as store
from persistence import moderation as moderation_store
from rooms.access import can_join, can_see
from rooms.catalog import KINDS
from rooms.errors import BadFrame
from rooms.feed import BadCursor, Cursor, Entry, bound, merge, page_size
from rooms.model import Community, Member


@dataclass(frozen=True, slots=True)
class SessionRoom:
    community: str
    title: str
    event: str


@dataclass(frozen=True, slots=True)
class Readable:
    """The rooms a member may read in a feed: catalog rooms by slug, session rooms by slug."""

    rooms: dict[str, Community]
    sessions: dict[str, SessionRoom]

    def name(self, slug: str) -> str:
        if slug in self.rooms:
            return self.rooms[slug].name
        return self.sessions[slug].title


async def readable(db: AsyncSession, member: Member, now_ms: int) -> Readable:
    closed = await moderation_store.rooms_closed_to(db, member.db_id, now_ms)
    rooms = {c.slug: c for c in await communities.visible_to(db, member)
             if c.kind in KINDS and can_see(member, c) and can_join(member, c) and c.slug not in closed}
    sessions = {room: SessionRoom(community, title, event)
                for room, community, title, event in await store.session_rooms_of(db, member.db_id)
                if community in rooms and room not in closed}
    return Readable(rooms, sessions)


class Feed:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def page(self, member: Member, before: str | None, limit: int | None) -> dict[str, Any]:
        """``{entries, next}``; pass ``next`` as ``before`` for the older page. Raises
        ``BadFrame`` for a cursor this server did not make."""
        try:
            cursor = None if before is None else Cursor.decode(before)
        except BadCursor as exc:
            raise BadFrame(str(exc)) from None
        size = page_size(limit)
        now = self._clock()
        async with self._db() as db:
            authors = await follows.followed_ids(db, member.db_id)
            if not authors:
                return {"entries": [], "next": None}
            where = await readable(db, member, int(now * 1000))
            people = {m.db_id: m.public() for m in await follows.members_by_db_id(db, authors)}
            every = [*where.rooms, *where.sessions]
            found = [
                [self._message(m, people, where) for m in await store.messages(
                    db, member.db_id, authors, every, bound(cursor, "m"), size + 1)],
                [self._question(q, people, where) for q in await store.questions(
                    db, member.db_id, authors, every, bound(cursor, "q"), size + 1)],
                await self._sessions(db, authors, people, where, cursor, size + 1, now),
            ]
        entries, next_cursor = merge(found, size)
        return {"entries": [e.view for e in entries], "next": next_cursor.encode() if next_cursor else None}

    @staticmethod
    def _where(slug: str, where: Readable) -> dict[str, Any]:
        out: dict[str, Any] = {"room": slug, "room_name": where.name(slug)}
        if slug in where.sessions:
            out["event"] = where.sessions[slug].event
        return out

    def _message(self, m: Any, people: dict[int, dict[str, str]], where: Readable) -> Entry:
        view = {"kind": "reply" if m.reply_to else "message", "at": m.created_ms, "by": people[m.author_id],
                **self._where(m.room, where),
                "message": {"id": m.id, "seq": m.seq, "body": m.body, "reply_to": m.reply_to,
                            "thread_root": m.thread_root}}
        return Entry(Cursor(m.created_ms, "m", store.message_key(m.seq, m.id)), view)

    def _question(self, q: Any, people: dict[int, dict[str, str]], where: Readable) -> Entry:
        venue, _, venue_id = q.venue.partition(":")
        view = {"kind": "question", "at": q.created_ms, "by": people[q.author_id], **self._where(q.room, where),
                "question": {"id": q.public_id, "body": q.body, "status": q.status, venue: venue_id}}
        return Entry(Cursor(q.created_ms, "q", q.public_id), view)

    async def _sessions(
        self, db: AsyncSession, authors: list[int], people: dict[int, dict[str, str]], where: Readable,
        cursor: Cursor | None, limit: int, now: float,
    ) -> list[Entry]:
        series = await store.hosted(db, authors, list(where.rooms), bound(cursor, "s"), limit)
        dates = await store.next_dates(db, [s.id for s, _ in series if s.id is not None],
                                       datetime.fromtimestamp(now, UTC).replace(tzinfo=None))
        out = []
        for s, hosts in series:
            occ = dates.get(s.id or 0)
            if occ is None or not hosts:
                continue  # every date cancelled: nothing to show
            view = {"kind": "session", "at": s.created_ms, "by": people[hosts[0]],
                    "hosts": [people[h] for h in hosts], **self._where(s.community, where),
                    "session": {"id": occ.public_id, "title": s.title, "kind": s.kind,
                                "starts_at": iso(occ.starts_at), "state": occ.state}}
            out.append(Entry(Cursor(s.created_ms, "s", s.public_id), view))
        return out
