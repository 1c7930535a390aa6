"""The room counts as ``unread.room_counts_at`` took them before it bounded its reads by the
read marks: one join of ``messages`` with ``room_reads``, whose mark filters every message of
each room. Kept as the reference the bounded form must agree with (tests/test_unread_room_counts.py)
and as the "before" of ``python -m bench.unread_counts``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.models import Message
from persistence.social_models import RoomRead
from persistence.unread import MAX_COUNTED, Counted


async def joined_room_counts(db: AsyncSession, user_db_id: int, rooms: Sequence[str]) -> dict[str, Counted]:
    if not rooms:
        return {}
    read = and_(col(RoomRead.user_id) == user_db_id, col(RoomRead.room) == col(Message.room))
    query = (
        select(Message.room, func.count(), func.max(Message.seq), func.max(func.coalesce(col(RoomRead.seq), 0)))
        .select_from(Message).outerjoin(RoomRead, read)
        .where(col(Message.room).in_(list(rooms)), col(Message.author_id) != user_db_id,
               col(Message.body).is_not(None),
               col(Message.seq) > func.coalesce(col(RoomRead.seq), 0))
        .group_by(Message.room)
    )
    return {room: Counted(min(int(n), MAX_COUNTED), int(mark or 0), int(newest))
            for room, n, newest, mark in (await db.exec(query)).all() if n}
