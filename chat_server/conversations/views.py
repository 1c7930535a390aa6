"""How a conversation looks to one of its participants (HTTP bodies): who else is in it, its
state as they see it, when it was last written in, and how much is new to them.

``state`` is ``open``, ``request`` or ``declined``; ``requested_by`` says who asked (so a
client tells "waiting for them" from "waiting for you"). The recipient of a request sees
only its first message (``request``), never the ones the requester wrote after it.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from persistence import conversations as store
from persistence import transcripts, unread
from persistence.conversations import Stored
from persistence.models import Block
from rooms import conversations as rules
from rooms.conversations import State
from rooms.model import Member


def is_listed(found: Stored, member: Member) -> bool:
    return found.has(member.db_id) and rules.listed(
        State(found.row.state), found.row.started_by == member.db_id, found.row.request_message is not None)


async def _blocked_with(db: AsyncSession, user_id: int) -> set[int]:
    """Everyone ``user_id`` blocked or was blocked by."""
    query = select(Block.blocker_id, Block.blocked_id).where(
        (col(Block.blocker_id) == user_id) | (col(Block.blocked_id) == user_id))
    return {b if a == user_id else a for a, b in (await db.exec(query)).all()}


async def of(db: AsyncSession, member: Member, found: list[Stored]) -> list[dict[str, Any]]:
    """The views of ``found`` for ``member`` (who is in each of them)."""
    rooms = [c.row.room for c in found]
    last = await store.last_activity(db, rooms)
    readable = [c.row.room for c in found
                if rules.may_read(State(c.row.state), c.row.started_by == member.db_id)]
    marks = await unread.read_marks(db, member.db_id, rooms)  # before the counts (social/inbox.py)
    counts = await unread.conversation_counts_at(db, member.db_id, readable, int(time.time() * 1000))
    marks |= {room: c.mark for room, c in counts.items()}
    blocked = await _blocked_with(db, member.db_id)
    out = []
    for c in found:
        others = c.others(member.db_id)
        starter = next((m for m in c.members if m.db_id == c.row.started_by), None)
        out.append({
            "id": c.row.public_id, "room": c.row.room, "with": [o.public() for o in others],
            "state": c.row.state, "group": c.row.is_group,
            "started_by": None if starter is None else starter.id,
            "requested_by": starter.id if starter is not None and c.row.state != State.OPEN else None,
            "last_activity": last.get(c.row.room, c.row.changed_ms or c.row.created_ms),
            "unread": counts[c.row.room].count if c.row.room in counts else 0,
            # What the count took in: a client keeps a newer count it heard of (protocol 1.3).
            "read_mark": marks.get(c.row.room, 0),
            "counted_to": unread.counted_to(marks.get(c.row.room, 0), counts.get(c.row.room)),
            # One to one with someone blocked either way: nobody writes here.
            "blocked": not c.row.is_group and any(o.db_id in blocked for o in others),
        })
    return out


async def listing(db: AsyncSession, member: Member) -> list[dict[str, Any]]:
    """The member's conversations, most recently active first; requests made to them by
    someone they blocked are left out."""
    found = [c for c in await store.of_member(db, member.db_id) if is_listed(c, member)]
    shown = await of(db, member, found)
    shown = [v for v in shown if not (v["blocked"] and v["state"] == State.REQUEST
                                     and v["requested_by"] != member.id)]
    shown.sort(key=lambda v: v["last_activity"] or 0, reverse=True)
    return shown


async def request_message(
    db: async_sessionmaker[AsyncSession], broker: Broker, found: Stored,
) -> dict[str, Any] | None:
    """The request's first message (the only one its recipient may read before accepting):
    from the transcript, or from the room's recent log while a writer has not stored it."""
    message_id = found.row.request_message
    if message_id is None:
        return None
    async with db() as session:
        stored = await transcripts.by_id(session, message_id)
    if stored is not None and stored.room == found.row.room:
        view = stored.view()
        return {k: view.get(k) for k in ("id", "seq", "author", "body", "ts")}
    data = await broker.find_recent(found.row.room, message_id)
    frame = msgpack.unpackb(data) if data is not None else None
    if not isinstance(frame, dict):
        return None
    return {k: frame.get(k) for k in ("id", "seq", "author", "body", "ts")}
