"""A member's notifications and unread counts (``/api/notifications``, ``/api/me/unread``,
``/api/rooms/{slug}/read``): the list, marking read, the settings per kind and the digest,
and the rooms seen up to a seq. Marking read on one device is told to the member's other
connections through the notifier (``notifications_read``, ``unread`` frames)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.social.notifier import Notifier
from persistence import communities, notifications, unread
from persistence import moderation as moderation_store
from rooms.access import can_see
from rooms.errors import NotFound
from rooms.model import Member

# (member, room) -> may they read this private conversation; member -> the ones they may.
Readable = Callable[[Member, str], Awaitable[bool]]
ReadableRooms = Callable[[Member], Awaitable[list[str]]]
Heads = Callable[[list[str]], Awaitable[dict[str, int]]]  # the newest seq of each room


class Inbox:
    def __init__(self, db: async_sessionmaker[AsyncSession], notifier: Notifier, readable: Readable,
                 readable_rooms: ReadableRooms, heads: Heads) -> None:
        self._db = db
        self._notifier = notifier
        self._readable = readable
        self._readable_rooms = readable_rooms
        self._heads = heads

    async def page(self, member: Member, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Unread first, newest first within each; and the unread count."""
        async with self._db() as db:
            found = await notifications.page(db, member.db_id, offset, limit)
            count = await notifications.unread_count(db, member.db_id)
        return found, count

    async def mark_read(self, member: Member, ids: Sequence[int] | None) -> tuple[list[int], int]:
        """``ids`` (others' are ignored), or all when None; the ids changed and the unread
        count after. The member's other devices hear it."""
        async with self._db() as db:
            changed = await notifications.mark_read(db, member.db_id, ids, int(time.time() * 1000))
            count = await notifications.unread_count(db, member.db_id)
        if changed:
            await self._notifier.tell_read(member, changed)
        return changed, count

    async def settings(self, member: Member) -> tuple[str, str]:
        """(the muted kinds, comma-separated; the digest choice)."""
        async with self._db() as db:
            row = await notifications.settings_of(db, member.db_id)
        return row.muted, row.digest

    async def change_settings(self, member: Member, muted: list[str] | None,
                              digest: str | None) -> tuple[str, str]:
        """Kinds and digest already checked by the caller; None leaves one as it is."""
        async with self._db() as db:
            row = await notifications.settings_of(db, member.db_id)
            if muted is not None:
                row.muted = ",".join(sorted(set(muted)))
            if digest is not None:
                row.digest = digest
            kept = (row.muted, row.digest)  # before the commit expires the row
            await notifications.save_settings(db, row)
        return kept

    async def unread(self, member: Member) -> dict[str, Any]:
        """Unread notifications, new messages per room one can see, and per conversation one
        may read; with what each count took in (``read_marks``, ``counted_to``), so a client
        can tell an answer older than a read mark or a message it heard of since
        (docs/protocol.md, ``GET /api/me/unread``)."""
        private = await self._readable_rooms(member)
        async with self._db() as db:
            # Not the rooms one is banned or kicked from: a count there is a door that does
            # not open.
            closed = await moderation_store.rooms_closed_to(db, member.db_id, int(time.time() * 1000))
            rooms = [c.slug for c in await communities.visible_to(db, member) if c.slug not in closed]
            # The marks before the counts: a mark set in between is then reported older than
            # the one its room was counted after, never newer (the count's own replaces it).
            marks = await unread.read_marks(db, member.db_id, rooms + private)
            counts = await unread.room_counts_at(db, member.db_id, rooms)
            conversations = await unread.conversation_counts_at(
                db, member.db_id, private, int(time.time() * 1000))
            count = await notifications.unread_count(db, member.db_id)
        for room, counted in (counts | conversations).items():
            marks[room] = counted.mark
        return {
            "notifications": count,
            "rooms": {room: c.count for room, c in counts.items()},
            "conversations": {room: c.count for room, c in conversations.items()},
            "read_marks": {room: seq for room, seq in marks.items() if seq},
            "counted_to": {room: unread.counted_to(marks.get(room, 0), conversations.get(room)) for room in private},
        }

    async def room_read(self, member: Member, slug: str, seq: int | None) -> int:
        """Seen up to ``seq`` (default: the newest); the seq kept, told to the member's other
        devices."""
        private = await self._readable(member, slug)
        async with self._db() as db:
            community = await communities.by_slug(db, slug)
            if community is None or not (private or can_see(member, community)):
                raise NotFound("no such room")
            upto = seq if seq is not None else (await self._heads([slug]))[slug]
            kept = await unread.mark_room(db, member.db_id, slug, upto)
            # What is still new after it, counted as GET /api/me/unread counts: the member's
            # other pages may know of those messages only from a count (protocol 1.4).
            counted = await unread.counted_after(
                db, member.db_id, slug, kept, int(time.time() * 1000) if private else None)
        await self._notifier.tell_room_read(member, slug, kept, counted.count if counted else 0,
                                            unread.counted_to(kept, counted))
        return kept
