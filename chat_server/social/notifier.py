"""Notifications: stored once, then told live to every open connection of the member.

``Notifier.notify`` is the one function every feature calls to ask for a member's attention
(mentions and replies here; answers and sessions store theirs with ``persistence.notifications.add``
inside their own transactions and tell members over the control channel; the friend and
private-message requests of issue 17 part B call ``notify`` with ``Kind.FRIEND_REQUEST`` or
``Kind.DM_REQUEST``). The row's ``dedupe`` key makes it exactly once: the caller whose insert
stored the row is the only one that sends the live ``notification`` frame.

Mentions (``@handle``) are resolved only against members who can see the room, never the
author, never a member who blocked the author. Nothing here logs a body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import msgpack
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.protocol.social import Notification, NotificationsRead, Unread
from chat_server.social.delivery import Delivery
from persistence import communities, notifications, unread
from persistence import moderation as moderation_store
from persistence import sessions as sessions_store
from rooms.access import can_see
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.notifications import Kind, mentioned
from rooms.sessions import ROOM_PREFIX, Signup

log = logging.getLogger(__name__)


def _handles(author: Member, body: str) -> list[str]:
    """The handles ``body`` mentions, but its author's; the one place both ``needs_on_post``
    and the notifications read them, so the two cannot disagree."""
    return [h for h in mentioned(body) if h != author.handle.lower()] if "@" in body else []


class Notifier:
    def __init__(self, db: async_sessionmaker[AsyncSession], delivery: Delivery, broker: Broker) -> None:
        self._db = db
        self._delivery = delivery
        self._broker = broker

    async def notify(
        self, user_db_ids: Sequence[int], kind: Kind, text: str, dedupe: str, *,
        room: str | None = None, ref: str | None = None, event: str | None = None,
    ) -> int:
        """Store a notification of ``kind`` for each member (unless muted, or stored before
        under ``dedupe``) and tell each of their open connections once. Returns how many
        were stored. ``text`` is read by the member alone: a handle may be in it, a body never."""
        now_ms = int(time.time() * 1000)
        async with self._db() as db:
            added = await notifications.add(db, user_db_ids, kind.value, event, text, now_ms, dedupe, room, ref)
            await db.commit()
            ids = await unread.public_ids(db, [u for u, _ in added])
        for user_db_id, notification_id in added:
            await self.tell(user_db_id, ids[user_db_id], notification_id)
        return len(added)

    async def tell(self, user_db_id: int, user_id: str, notification_id: int) -> None:
        """The ``notification`` frame for one stored notification, with the member's unread count."""
        async with self._db() as db:
            row = await notifications.get(db, notification_id)
            count = await notifications.unread_count(db, user_db_id)
        if row is not None:
            await self._delivery.send(user_id, Notification(notifications.view(row), count))

    async def tell_read(self, member: Member, ids: list[int]) -> None:
        """Notifications marked read on one device: every connection of the member hears it."""
        async with self._db() as db:
            count = await notifications.unread_count(db, member.db_id)
        await self._delivery.send(member.id, NotificationsRead(ids, count))

    async def tell_room_read(self, member: Member, room: str, seq: int, remaining: int, counted_to: int) -> None:
        """The member's read mark in ``room`` is now ``seq``, with ``remaining`` messages of
        others after it (those up to ``counted_to``): every connection of theirs hears it."""
        await self._delivery.send(member.id, Unread(room, 0, seq, remaining, counted_to))

    @staticmethod
    def needs_on_post(author: Member, body: str, fresh: bool, reply_to: str | None) -> bool:
        """Whether ``on_post`` has anything to do: a fresh message that replies to one, or
        mentions a handle other than its author's. Synchronous and cheap (no ``@``, no
        parse), so a post that needs nothing costs no task (issue 18)."""
        return fresh and (reply_to is not None or bool(_handles(author, body)))

    async def on_post(
        self, author: Member, room: str, message_id: str, body: str, fresh: bool, reply_to: str | None,
    ) -> None:
        """After a message is acknowledged: mention and reply notifications. Never raises.
        Does nothing unless ``needs_on_post``."""
        if not fresh:
            return  # a retried send: told the first time
        try:
            await self._mentions_and_reply(author, room, message_id, body, reply_to)
        except Exception:
            log.exception("notifications for a message in %s failed", room)

    async def _mentions_and_reply(
        self, author: Member, room: str, message_id: str, body: str, reply_to: str | None,
    ) -> None:
        handles = _handles(author, body)
        if not handles and reply_to is None:
            return
        async with self._db() as db:
            community = await communities.by_slug(db, room)
            name = community.name if community is not None else "a session"
            candidates = [m for m in await unread.members_by_handle(db, handles) if m.id != author.id]
            told = [m for m in await self._readers(db, room, community, candidates)
                    if not await self._blocks(db, m, author)]
            replied: Member | None = None
            if reply_to is not None:
                replied = await self._author(db, room, reply_to)
                if replied is not None and (replied.id == author.id or await self._blocks(db, replied, author)
                                            or not await self._readers(db, room, community, [replied])):
                    replied = None
        if told:
            await self.notify([m.db_id for m in told], Kind.MENTION,
                              f"{author.handle} mentioned you in “{name}”.", f"mention:{message_id}",
                              room=room, ref=message_id)
        if replied is not None:
            await self.notify([replied.db_id], Kind.REPLY,
                              f"{author.handle} replied to your message in “{name}”.", f"reply:{message_id}",
                              room=room, ref=message_id)

    async def _readers(
        self, db: AsyncSession, room: str, community: Community | None, members: list[Member],
    ) -> list[Member]:
        """Those of ``members`` who may read ``room`` now: it is told only to them."""
        if room.startswith(ROOM_PREFIX):
            # A session's live room: only those who may enter it (hosts, staff of its
            # community, members signed up with a place), never everyone who sees the
            # community: a mention must not reach someone the room would turn away.
            members = await self._may_enter(db, room, members)
        elif community is None:
            return []
        else:
            members = [m for m in members if can_see(m, community)]
        # Nor a member banned or kicked from the room (or, for a session's room, from its
        # community): they cannot read it (red team: a mention or a reply reached a banned
        # member, with the room and the message's id; the feed and profiles already left
        # such rooms out).
        closed_rooms = {room}
        if room.startswith(ROOM_PREFIX) and members:
            closed_rooms.update(await self._parent(db, room))
        now_ms = int(time.time() * 1000)
        return [m for m in members
                if not closed_rooms & set(await moderation_store.rooms_closed_to(db, m.db_id, now_ms))]

    @staticmethod
    async def _may_enter(db: AsyncSession, room: str, candidates: list[Member]) -> list[Member]:
        occ = await sessions_store.by_room(db, room) if candidates else None
        parent = None if occ is None else await communities.by_slug(db, occ.series.community)
        if occ is None or parent is None:
            return []
        allowed = []
        for m in candidates:
            if not can_see(m, parent):
                continue
            runs = m.id in occ.host_ids or may_moderate_room(
                m, parent, await moderation_store.assignments(db, m.db_id))
            signup = None if runs else await sessions_store.signup_of(db, occ.row.id or 0, m.db_id)
            if runs or (signup is not None and Signup(signup.status) is Signup.IN):
                allowed.append(m)
        return allowed

    @staticmethod
    async def _parent(db: AsyncSession, room: str) -> list[str]:
        """The community a session's live room belongs to (none when it is unknown)."""
        occ = await sessions_store.by_room(db, room)
        return [] if occ is None else [occ.series.community]

    @staticmethod
    async def _blocks(db: AsyncSession, member: Member, author: Member) -> bool:
        return any(b.id == author.id for b in await moderation_store.blocked_by(db, member.db_id))

    async def _author(self, db: AsyncSession, room: str, message_id: str) -> Member | None:
        frame = await self._recent(room, message_id)
        author = None if frame is None else frame.get("author")
        if isinstance(author, dict) and isinstance(author.get("id"), str):
            found = await unread.members_by_public_id(db, [author["id"]])
            return found[0] if found else None
        stored = await unread.author_of(db, message_id)
        if stored is None:
            return None
        found = await unread.members_by_public_id(db, [stored[1]])
        return found[0] if found else None

    async def _recent(self, room: str, message_id: str) -> dict[str, Any] | None:
        data = await self._broker.find_recent(room, message_id)
        if data is None:
            return None
        frame = msgpack.unpackb(data)
        return frame if isinstance(frame, dict) else None
