"""Transcripts as a member may read them (``/api/rooms/{slug}/messages``, threads, search,
a session's archive): only rooms open to them; another organization's room is "not found",
and so is a private conversation to anyone but its participants (and to the recipient of a
request they have not accepted); a member kept out of a room (banned, kicked) may not read
it over HTTP either. Removed messages come back as tombstones."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.conversations.service import Conversations
from persistence import communities, moderation, reactions, transcripts
from persistence.transcripts import StoredMessage
from rooms import ids
from rooms.access import can_see
from rooms.catalog import is_slug
from rooms.errors import NotFound, RoomError
from rooms.model import Member
from rooms.moderation import Restriction


class KeptOut(RoomError):
    """403 ``banned`` or ``kicked``, with ``until`` (ms, or null) and the navigator's reason,
    as the WebSocket says it."""

    http_status = 403

    def __init__(self, restriction: Restriction) -> None:
        super().__init__("you may not read this room for now")
        self.code = "banned" if restriction.kind == "ban" else "kicked"
        self.until = None if restriction.until is None else int(restriction.until * 1000)
        self.reason = restriction.reason

    def fields(self) -> dict[str, object]:
        return {"until": self.until, "reason": self.reason}


async def with_reactions(db: AsyncSession, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each message's ``reactions`` (``{name: {count, by}}``), on those that have any."""
    found = await reactions.summaries(db, [str(v["id"]) for v in views if v.get("body") is not None])
    for view in views:
        if view["id"] in found:
            view["reactions"] = found[view["id"]]
    return views


def _now_ms() -> int:
    return int(time.time() * 1000)


# A room's seqs are consecutive, one per message, and a removed message stays as a tombstone,
# so a page with a seq missing between two of its rows is, when those rows are recent, a
# message not stored yet: in the Redis mode the writers share the commits stream, and a later
# batch of a room can commit before an earlier one that another writer took (tens of ms, the
# gather wait and a commit; up to ``writer_claim_idle_s`` if that writer died). The page waits
# for it up to GAP_WAIT_S; a seq still missing then ends the page above it, so the cursor it
# hands out still covers that seq and the next page gets another chance. An older gap is a
# seq never stored (a row the database refused, a counter raised after Redis lost data) and
# is read past at once.
GAP_WAIT_S = 1.0
GAP_POLL_S = 0.05
IN_FLIGHT_MS = 60_000


def _fresh_gap(found: list[StoredMessage], now_ms: int) -> int | None:
    """The index of the first row (newest first) below a seq missing between two rows, the
    newer of them posted within IN_FLIGHT_MS; or None."""
    for i in range(1, len(found)):
        if found[i - 1].seq - found[i].seq > 1 and now_ms - found[i - 1].created_ms < IN_FLIGHT_MS:
            return i
    return None


class RoomHistory:
    def __init__(self, db: async_sessionmaker[AsyncSession], conversations: Conversations) -> None:
        self._db = db
        self._conversations = conversations

    async def readable_conversation(self, member: Member, slug: str) -> bool:
        """True for a conversation's room the member may read; False for any other room (a
        conversation they may not read is then refused as a room that does not exist)."""
        return await self._conversations.readable(member, slug)

    async def visible(self, member: Member, slug: str) -> None:
        """``NotFound`` for a room the member cannot see; ``KeptOut`` while they are banned
        or kicked from it."""
        if not is_slug(slug):
            raise NotFound("no such room")
        if await self.readable_conversation(member, slug):
            return
        async with self._db() as db:
            community = await communities.by_slug(db, slug)
            if community is None or not can_see(member, community):
                raise NotFound("no such room")
            closed = await moderation.rooms_closed_to(db, member.db_id, _now_ms())
            if slug in closed:
                raise KeptOut(closed[slug])

    async def page(self, member: Member, slug: str, before: int | None,
                   limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first, and the ``before`` of the next (older) page, if any: seq cursors
        never skip or repeat a message, however many arrive meanwhile. The caller checked
        ``visible`` first (before reading its parameters, so a hidden room is 404 whatever
        they are)."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + GAP_WAIT_S
        while True:
            async with self._db() as db:
                found = await transcripts.page(db, slug, before, limit, viewer=member.db_id)
                gap = _fresh_gap(found, _now_ms())
                if gap is not None and loop.time() >= give_up_at:
                    views = await with_reactions(db, [m.view() for m in found[:gap]])
                    return views, found[gap - 1].seq
                if gap is None:
                    views = await with_reactions(db, [m.view() for m in found])
                    break
            await asyncio.sleep(GAP_POLL_S)
        next_before = found[-1].seq if len(found) == limit and found[-1].seq > 1 else None
        return views, next_before

    async def thread(self, member: Member, message_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The thread's root id and its messages in order; any message of it may be named. A
        message of a room the member may not read is "not found" too."""
        if not ids.is_message_id(message_id):
            raise NotFound("no such message")
        async with self._db() as db:
            found = await transcripts.by_id(db, message_id)
            if found is None:
                raise NotFound("no such message")
            try:
                await self.visible(member, found.room)
            except (NotFound, KeptOut):
                raise NotFound("no such message") from None
            root = found.thread_root or found.id
            messages = await with_reactions(db, [m.view() for m in await transcripts.thread(
                db, root, viewer=member.db_id)])
        return root, messages

    async def search(self, member: Member, q: str, room: str | None, limit: int,
                     offset: int) -> tuple[list[dict[str, Any]], bool]:
        """Best matches first over the rooms open to the member (or the one named), and
        whether there are more."""
        private = await self.readable_conversation(member, room) if room and is_slug(room) else False
        async with self._db() as db:
            if private:
                rooms = [room or ""]
            elif room:
                if not is_slug(room):
                    raise NotFound("no such room")
                community = await communities.by_slug(db, room)
                if community is None or not can_see(member, community):
                    raise NotFound("no such room")
                rooms = [room]
            else:
                rooms = [c.slug for c in await communities.visible_to(db, member)]
                # and my own conversations, the readable ones
                rooms += await self._conversations.readable_rooms(member)
            closed = await moderation.rooms_closed_to(db, member.db_id, _now_ms())
            if room and room in closed:
                raise KeptOut(closed[room])
            rooms = [r for r in rooms if r not in closed]
            found = await transcripts.search(db, q, rooms, limit + 1, offset, viewer=member.db_id)
            results = await with_reactions(db, [m.view() for m in found[:limit]])
        return results, len(found) > limit

    async def seq_range(self, room: str, after: int, limit: int) -> list[StoredMessage]:
        """At most ``limit`` messages of ``room`` after seq ``after``, oldest first (a
        session's archive; whether the caller may read it is the session's to say)."""
        async with self._db() as db:
            return await transcripts.seq_range(db, room, after, 2**62, limit)
