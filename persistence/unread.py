"""What is new to a member in each room since their last visit, and the lookups the
notifications need (members by handle, by storage key)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    String,
    Subquery,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import to_member
from persistence.models import Message, User
from persistence.notifications import insert_for
from persistence.social_models import RoomRead
from rooms.model import Member

MAX_COUNTED = 100  # a room shows "99+" past this; counting further costs and tells nothing
# A seq missing from a conversation's stored messages while the message after it was posted
# less than this long ago may still be stored (with Redis several writers commit out of order
# for milliseconds, a dead writer's entries are taken over after KINDRED_WRITER_CLAIM_IDLE_S,
# 15 s); an older gap never fills (a row set aside, seqs skipped after a Redis loss).
SETTLE_MS = 60_000


async def mark_room(db: AsyncSession, user_db_id: int, room: str, seq: int) -> int:
    """Record that the member saw ``room`` up to ``seq`` (never moving back); the seq kept.
    Committed."""
    statement = insert_for(db)(RoomRead).values(user_id=user_db_id, room=room, seq=seq)
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "room"], set_={"seq": func.max(statement.excluded.seq, RoomRead.seq)}
        if db.get_bind().dialect.name == "sqlite" else
        {"seq": func.greatest(statement.excluded.seq, RoomRead.seq)},
    )
    await db.exec(statement)
    await db.commit()
    kept = await db.get(RoomRead, (user_db_id, room))
    return seq if kept is None else kept.seq


async def room_counts(db: AsyncSession, user_db_id: int, rooms: Sequence[str]) -> dict[str, int]:
    """Per room, the messages of others not removed after the member's read mark (every one
    when they never visited), at most ``MAX_COUNTED``; rooms with none are left out."""
    return {room: c.count for room, c in (await room_counts_at(db, user_db_id, rooms)).items()}


@dataclass(frozen=True, slots=True)
class Counted:
    """A room's count as ``room_counts`` takes it, with what it took in: ``mark`` the read
    mark it counted after (0: none), ``newest`` the seq of the newest message it counted."""

    count: int
    mark: int
    newest: int


async def room_counts_at(db: AsyncSession, user_db_id: int, rooms: Sequence[str]) -> dict[str, Counted]:
    """``room_counts``, each with the read mark and the newest seq it counted (one query, so
    the three agree); rooms with none are left out."""
    if not rooms:
        return {}
    # Per room, the mark is read first and then bounds an index range on (room, seq), so a
    # room's history before the mark is never read (a join of messages with room_reads left
    # the mark a filter on every message of the room); past the mark ``_bounded`` reads about
    # MAX_COUNTED rows, so a room never visited (mark 0) reads about that many.
    listed = _listed(db, list(dict.fromkeys(rooms)))  # counted with _bounded
    marked = (
        select(listed.c.room, func.coalesce(col(RoomRead.seq), 0).label("mark"))
        .select_from(listed)
        .outerjoin(RoomRead, and_(col(RoomRead.user_id) == user_db_id, col(RoomRead.room) == listed.c.room))
        .subquery("marked")
    )
    after = and_(col(Message.room) == marked.c.room, col(Message.seq) > marked.c.mark,
                 _counted(user_db_id))
    count, newest = _bounded(after, marked)
    query = select(marked.c.room, count, newest, marked.c.mark)
    return {room: Counted(int(n), int(mark), int(top))
            for room, n, top, mark in (await db.exec(query)).all() if n}


def _counted(user_db_id: int) -> ColumnElement[bool]:
    """The messages a count takes in: others', not removed."""
    return and_(col(Message.author_id) != user_db_id, col(Message.body).is_not(None))


def _bounded(
    after: ColumnElement[bool], outer: Subquery | None = None,
) -> tuple[ScalarSelect[int], ScalarSelect[int]]:
    """The count (at most ``MAX_COUNTED``) and the newest seq of the messages ``after``
    selects (a range of one room's (room, seq) index from a mark), reading about
    ``MAX_COUNTED`` rows however many there are: the count takes the first ``MAX_COUNTED``
    rows in seq order (all it reports; the order keeps PostgreSQL on the index from the mark
    rather than a bitmap of the whole range) and the newest is the first from the top.
    ``outer`` is the FROM subquery ``after`` refers to, if any (it correlates only when told,
    else it would be joined again)."""
    first = select(literal_column("1", Integer).label("one")).where(after).order_by(col(Message.seq)) \
        .limit(MAX_COUNTED)
    if outer is not None:
        first = first.correlate(outer)
    count = select(func.count()).select_from(first.subquery("counted")).scalar_subquery()
    newest = select(Message.seq).where(after).order_by(col(Message.seq).desc()).limit(1).scalar_subquery()
    return count, newest


def _tally(user_db_id: int) -> list[ColumnElement[Any]]:
    """A conversation's one pass over the messages after the mark: how many are counted and
    the newest of those, and how many are stored and the newest of those (the seqs after the
    mark are all stored when the two agree: the member's own and removed messages are stored
    ones)."""
    counted = _counted(user_db_id)
    return [func.count(case((counted, 1))), func.max(case((counted, Message.seq))),
            func.count(), func.max(Message.seq)]


def _fence(mark: ColumnElement[int] | int, now_ms: int) -> ColumnElement[bool]:
    """A stored message after ``mark`` whose predecessor is not stored, posted in the last
    ``SETTLE_MS`` before ``now_ms``: the gap before it may still fill, so a conversation's
    count stops at the first such message (an index probe each)."""
    before = aliased(Message)
    missing = ~exists().where(col(before.room) == col(Message.room), col(before.seq) == col(Message.seq) - 1)
    return and_(col(Message.seq) > mark + 1, col(Message.created_ms) > now_ms - SETTLE_MS, missing)


def _listed(db: AsyncSession, rooms: list[str]) -> Subquery:
    """The rooms as a table of one column, ``room``, from one bound value whatever their
    number (a UNION ALL of one SELECT each fails on SQLite past 500 terms, and an admin sees
    every organization's rooms)."""
    if db.get_bind().dialect.name == "sqlite":
        each = func.json_each(json.dumps(rooms)).table_valued("value")
        return select(each.c.value.label("room")).subquery("listed")
    unnested = func.unnest(bindparam("rooms", rooms, type_=ARRAY(String))).table_valued("room").render_derived()
    return select(unnested.c.room).subquery("listed")


async def conversation_counts_at(
    db: AsyncSession, user_db_id: int, rooms: Sequence[str], now_ms: int
) -> dict[str, Counted]:
    """``room_counts_at`` for private conversations, whose counts a client completes with the
    messages it counted from frames above ``counted_to``: so a count stops before the first
    seq after the read mark not stored yet (one posted before a stored one, less than
    ``SETTLE_MS`` before ``now_ms``). Counting the stored messages beyond it would give a
    ``counted_to`` above a message the count does not hold, which the client then never adds."""
    if not rooms:
        return {}
    read = and_(col(RoomRead.user_id) == user_db_id, col(RoomRead.room) == col(Message.room))
    mark = func.coalesce(col(RoomRead.seq), 0)
    # One pass that also tells whether every seq after the mark is stored: almost always.
    query = (
        select(  # type: ignore[call-overload]  # sqlmodel types at most 4 columns
            Message.room, *_tally(user_db_id), func.max(mark),
        )
        .select_from(Message).outerjoin(RoomRead, read)
        .where(col(Message.room).in_(list(rooms)), col(Message.seq) > mark)
        .group_by(Message.room)
    )
    found: dict[str, Counted] = {}
    gapped: list[str] = []
    for room, n, newest, stored, top, m in (await db.exec(query)).all():
        if int(stored) != int(top) - int(m or 0):
            gapped.append(room)
        elif n:
            found[room] = Counted(min(int(n), MAX_COUNTED), int(m or 0), int(newest))
    if gapped:
        found |= await _fenced_counts(db, user_db_id, gapped, now_ms)
    return found


async def _fenced_counts(db: AsyncSession, user_db_id: int, rooms: list[str], now_ms: int) -> dict[str, Counted]:
    """The counts of conversations with a seq missing after the mark: up to the fence, the
    first stored message after the mark that ``_fence`` finds."""
    read = and_(col(RoomRead.user_id) == user_db_id, col(RoomRead.room) == col(Message.room))
    mark = func.coalesce(col(RoomRead.seq), 0)
    fences = (
        select(col(Message.room).label("room"), func.min(Message.seq).label("fence"))
        .select_from(Message).outerjoin(RoomRead, read)
        .where(col(Message.room).in_(rooms), _fence(mark, now_ms))
        .group_by(col(Message.room))
        .subquery()
    )
    n, newest, _, _ = _tally(user_db_id)
    query = (
        select(Message.room, n, newest, func.max(mark))
        .select_from(Message).outerjoin(RoomRead, read)
        .outerjoin(fences, fences.c.room == col(Message.room))
        .where(col(Message.room).in_(rooms), col(Message.seq) > mark,
               or_(fences.c.fence.is_(None), col(Message.seq) < fences.c.fence))
        .group_by(Message.room)
    )
    return {room: Counted(min(int(n), MAX_COUNTED), int(m or 0), int(newest))
            for room, n, newest, m in (await db.exec(query)).all() if n}


async def counted_after(
    db: AsyncSession, user_db_id: int, room: str, mark: int, now_ms: int | None
) -> Counted | None:
    """One room's count after a read mark the caller knows (one just set), as
    ``room_counts_at`` counts it or, given ``now_ms`` (a private conversation), as
    ``conversation_counts_at`` does; None when nothing is counted. The mark bounds an index
    range: a room reads about ``MAX_COUNTED`` rows after it (``_bounded``); a conversation
    reads every message after it, which its gap check needs (a conversation is short)."""
    after = and_(col(Message.room) == room, col(Message.seq) > mark)
    if now_ms is None:
        count, top_counted = _bounded(and_(after, _counted(user_db_id)))
        n, newest = (await db.exec(select(count, top_counted))).one()
        return Counted(int(n), mark, int(newest)) if n else None
    tally = _tally(user_db_id)
    n, newest, stored, top = (await db.exec(select(*tally).where(after))).one()
    if stored and int(stored) != int(top) - mark:
        fence = (await db.exec(select(func.min(Message.seq)).where(after, _fence(mark, now_ms)))).one()
        if fence is not None:
            n, newest = (await db.exec(select(*tally[:2]).where(after, col(Message.seq) < fence))).one()
    return Counted(min(int(n), MAX_COUNTED), mark, int(newest)) if n else None


def counted_to(mark: int, counted: Counted | None) -> int:
    """The newest seq a room's count took in: its newest counted message, else the read mark.
    A message with a higher seq was not stored yet (or is not counted: one's own, removed);
    for a conversation (``conversation_counts_at``) also one stored beyond a seq not stored yet."""
    return max(mark, counted.newest) if counted is not None else mark


async def read_marks(db: AsyncSession, user_db_id: int, rooms: Sequence[str]) -> dict[str, int]:
    """The member's read mark in each of ``rooms`` that has one."""
    if not rooms:
        return {}
    query = select(RoomRead.room, RoomRead.seq).where(
        col(RoomRead.user_id) == user_db_id, col(RoomRead.room).in_(list(rooms)))
    return {room: int(seq) for room, seq in (await db.exec(query)).all()}


async def members_by_handle(db: AsyncSession, handle_keys: Sequence[str]) -> list[Member]:
    if not handle_keys:
        return []
    query = select(User).where(col(User.handle_key).in_(list(handle_keys)))
    return [to_member(u) for u in (await db.exec(query)).all()]


async def public_ids(db: AsyncSession, user_db_ids: Sequence[int]) -> dict[int, str]:
    if not user_db_ids:
        return {}
    query = select(User.id, User.public_id).where(col(User.id).in_(list(user_db_ids)))
    return {int(i): p for i, p in (await db.exec(query)).all() if i is not None}


async def author_of(db: AsyncSession, message_id: str) -> tuple[int, str] | None:
    """(storage key, public id) of a stored message's author."""
    query = select(User.id, User.public_id).join(Message, col(Message.author_id) == col(User.id)).where(
        Message.id == message_id)
    row = (await db.exec(query)).first()
    return None if row is None or row[0] is None else (int(row[0]), row[1])


async def members_by_public_id(db: AsyncSession, ids: Sequence[str]) -> list[Member]:
    if not ids:
        return []
    query = select(User).where(col(User.public_id).in_(list(ids)))
    return [to_member(u) for u in (await db.exec(query)).all()]
