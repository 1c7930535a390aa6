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


# A room's seqs are consecutive, one per message, and a removed message stays as a tombstone.
# In the Redis mode the writers share the commits stream, so a room's later message can be
# stored before an earlier one that another writer took (tens of ms: its gather wait and
# commit; up to ``writer_claim_idle_s`` if that writer died), and a page read between would
# skip the earlier one for good, the cursor having moved past it. So a page that finds seqs
# missing below a message posted in the last IN_FLIGHT_MS waits for them (up to
# ``history_gap_wait_s``, polling the room's primary index alone) and is read again. Gaps are
# judged on every stored seq, not on the rows the member is shown (the authors they blocked
# are left out of those), and a page's top edge is judged against the row at its ``before``,
# so a message missing just below the previous page is waited for too. The embedded mode
# commits in posting order, so a gap there never fills (a row the database refused): no wait.
GAP_POLL_S = 0.05
IN_FLIGHT_MS = 60_000
# More missing than a writer's batch at small-room rates is not a late commit: a seq counter
# raised after Redis lost its data leaves a hole that never fills.
MOST_LATE = 1000


def late_seqs(stored: dict[int, int], low: int, high: int, now_ms: int) -> list[int]:
    """The seqs from ``high`` down to ``low`` not in ``stored`` (seq: created_ms) with a stored
    seq above them posted within IN_FLIGHT_MS; empty when more than MOST_LATE are missing."""
    if high - low + 1 - len(stored) > MOST_LATE:
        return []
    late: list[int] = []
    newer_ms: int | None = None
    for seq in range(high, low - 1, -1):
        if seq in stored:
            newer_ms = stored[seq]
        elif newer_ms is not None and now_ms - newer_ms < IN_FLIGHT_MS:
            late.append(seq)
    return late


async def _answer(db: AsyncSession, found: list[StoredMessage], limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """A page's views with their reactions, and the ``before`` of the next (older) page."""
    next_before = found[-1].seq if len(found) == limit and found[-1].seq > 1 else None
    return await with_reactions(db, [m.view() for m in found]), next_before


class RoomHistory:
    def __init__(self, db: async_sessionmaker[AsyncSession], conversations: Conversations,
                 gap_wait_s: float = 0.0) -> None:
        self._db = db
        self._conversations = conversations
        self._gap_wait_s = gap_wait_s  # 0 in the embedded mode (above: late_seqs)

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
        async with self._db() as db:
            found = await transcripts.page(db, slug, before, limit, viewer=member.db_id)
            late: list[int] = []
            if self._gap_wait_s and found:
                high = before if before is not None else found[0].seq
                stored = await transcripts.stored_seqs(db, slug, found[-1].seq, high)
                late = late_seqs(stored, found[-1].seq, high, _now_ms())
            if not late:
                return await _answer(db, found, limit)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._gap_wait_s
        while late and loop.time() < give_up_at:
            await asyncio.sleep(GAP_POLL_S)
            async with self._db() as db:
                stored = await transcripts.stored_seqs(db, slug, late[-1], late[0])
            late = [seq for seq in late if seq not in stored]
        # Stored now, or given up on (read past): the page as it stands.
        async with self._db() as db:
            found = await transcripts.page(db, slug, before, limit, viewer=member.db_id)
            return await _answer(db, found, limit)

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
