"""Reactions on messages: toggled (``react`` frame, or HTTP), stored, and shown live to the
room on every gateway as a ``reactions`` frame with the message's counts and who reacted.

Each change bumps the message's version in the same transaction and reads the summary after
it, so of two summaries the one with the higher version is the newer; clients keep the
highest, and members on any gateway converge to what the database holds. The author hears of
reactions through one notification per message (``reaction``, coalesced), unless they blocked
the member who reacted. Callers check access first: the socket that the room is joined, the
HTTP API that the member can see it.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.protocol.base import pack
from chat_server.protocol.social import Reactions as ReactionsFrame
from chat_server.social.notifier import Notifier
from persistence import communities, notifications, unread
from persistence import moderation as moderation_store
from persistence import reactions as store
from rooms import ids
from rooms.errors import BadFrame, NoSuchMessage
from rooms.model import Member
from rooms.notifications import Kind
from rooms.reactions import check


class Reactions:
    def __init__(self, db: async_sessionmaker[AsyncSession], broker: Broker, notifier: Notifier) -> None:
        self._db = db
        self._broker = broker
        self._notifier = notifier

    async def react(self, member: Member, room: str, message_id: str, reaction: str, on: bool) -> dict[str, Any]:
        """Put (``on``) or take away the member's ``reaction`` on a message of ``room``; the
        ``reactions`` frame after it. Raises ``UnknownReaction``, ``BadFrame`` (not a message
        id), ``NoSuchMessage`` (not a message of this room, or removed); nothing changes then."""
        check(reaction)
        if not isinstance(message_id, str) or not ids.is_message_id(message_id):
            raise BadFrame("message must be a message id")
        author = await self._author(room, message_id)
        now_ms = int(time.time() * 1000)
        async with self._db() as db:
            changed = await store.toggle(db, message_id, room, member.db_id, reaction, on, now_ms)
            version = await store.bump(db, message_id)
            summary = (await store.summaries(db, [message_id])).get(message_id, {})
            await db.commit()
        frame = ReactionsFrame(room, message_id, summary, version)
        if changed:
            await self._broker.publish_event(room, pack(frame))
            if on and author is not None and author.id != member.id:
                await self._tell_author(author, member, room, message_id)
        return frame.wire()

    async def _author(self, room: str, message_id: str) -> Member | None:
        """The author of a live message of ``room`` (None if they are unknown here); raises
        ``NoSuchMessage`` when it is not one, or was removed."""
        data = await self._broker.find_recent(room, message_id)
        async with self._db() as db:
            if data is not None:
                frame = msgpack.unpackb(data)
                if not isinstance(frame, dict) or frame.get("body") is None or frame.get("removed"):
                    raise NoSuchMessage("that message was removed")
                author = frame.get("author")
                author_id = author.get("id") if isinstance(author, dict) else None
                found = await unread.members_by_public_id(db, [author_id] if isinstance(author_id, str) else [])
                return found[0] if found else None
            stored = await store.stored_message(db, message_id, room)
            if stored is None or stored[1]:
                raise NoSuchMessage("no such message in this room")
            ids_ = await unread.public_ids(db, [stored[0]])
            found = await unread.members_by_public_id(db, list(ids_.values()))
            return found[0] if found else None

    async def _tell_author(self, author: Member, by: Member, room: str, message_id: str) -> None:
        async with self._db() as db:
            if any(b.id == by.id for b in await moderation_store.blocked_by(db, author.db_id)):
                return
            community = await communities.by_slug(db, room)
            name = community.name if community is not None else "a session"
            n = await store.count_by_others(db, message_id, author.db_id)
            text = (f"{by.handle} reacted to your message in “{name}”." if n <= 1
                    else f"{n} reactions to your message in “{name}”.")
            nid = await notifications.coalesce(db, author.db_id, Kind.REACTION.value, room, message_id,
                                               text, int(time.time() * 1000))
            await db.commit()
        if nid is not None:
            await self._notifier.tell(author.db_id, author.id, nid)
