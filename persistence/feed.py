"""Queries for the feed of the people a member follows (rooms/feed.py orders and pages it),
and for what two members have in common.

Every query takes the rooms the *viewer* may read (``rooms``), decided by the caller; nothing
here widens them. Removed messages, anonymous questions and questions not shown to members
(pending, dismissed, merged) are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.event_models import EventHost, EventOccurrence, EventSeries, EventSignup
from persistence.models import Block, Message
from persistence.question_models import QuestionRow
from rooms.feed import Bound
from rooms.questions import QuestionStatus
from rooms.sessions import State

SHOWN_QUESTIONS = (QuestionStatus.OPEN.value, QuestionStatus.ANSWERED.value)


def _cut(at: Any, key: Any, cut: Bound | None, below: Any = None) -> Any:
    """Rows after the cursor in the order ``(at, key)`` descending; ``below`` replaces
    ``key < cut.key_below`` when the key is made of several columns."""
    if cut is None:
        return True
    if cut.key_below is None:
        return at < cut.before_ms
    if cut.key_below == "":
        return at <= cut.before_ms
    return or_(at < cut.before_ms, and_(at == cut.before_ms, key < cut.key_below if below is None else below))


def message_key(seq: int, message_id: str) -> str:
    """A message's place among messages of the same millisecond: its seq (so a room's
    messages keep their order), then its id."""
    return f"{seq:019d}{message_id}"


def _below_message(key: str) -> Any:
    seq, message_id = int(key[:19]), key[19:]
    return or_(col(Message.seq) < seq, and_(col(Message.seq) == seq, col(Message.id) < message_id))


async def messages(
    db: AsyncSession, viewer_id: int, authors: Sequence[int], rooms: Sequence[str], cut: Bound | None,
    limit: int,
) -> list[Message]:
    """The authors' messages (not removed) in ``rooms``, newest first, none by a member the
    viewer blocked."""
    if not authors or not rooms:
        return []
    hidden = select(Block.blocked_id).where(Block.blocker_id == viewer_id)
    query = (select(Message)
             .where(col(Message.author_id).in_(list(authors)), col(Message.room).in_(list(rooms)),
                    col(Message.body).is_not(None), col(Message.deleted_ms).is_(None),
                    col(Message.author_id).not_in(hidden),
                    _cut(col(Message.created_ms), None, cut,
                         None if cut is None or not cut.key_below else _below_message(cut.key_below)))
             .order_by(col(Message.created_ms).desc(), col(Message.seq).desc(), col(Message.id).desc())
             .limit(limit))
    return list((await db.exec(query)).all())


async def questions(
    db: AsyncSession, viewer_id: int, authors: Sequence[int], rooms: Sequence[str], cut: Bound | None,
    limit: int,
) -> list[QuestionRow]:
    """The authors' questions shown to members (open or answered, not merged), never an
    anonymous one, whose room (a session's live room, or an Ask the Expert community) is in
    ``rooms``; newest first."""
    if not authors or not rooms:
        return []
    hidden = select(Block.blocked_id).where(Block.blocker_id == viewer_id)
    query = (select(QuestionRow)
             .where(col(QuestionRow.author_id).in_(list(authors)), col(QuestionRow.room).in_(list(rooms)),
                    col(QuestionRow.anonymous).is_(False), col(QuestionRow.status).in_(SHOWN_QUESTIONS),
                    col(QuestionRow.merged_into).is_(None), col(QuestionRow.author_id).not_in(hidden),
                    _cut(col(QuestionRow.created_ms), col(QuestionRow.public_id), cut))
             .order_by(col(QuestionRow.created_ms).desc(), col(QuestionRow.public_id).desc()).limit(limit))
    return list((await db.exec(query)).all())


async def hosted(
    db: AsyncSession, hosts: Sequence[int], communities: Sequence[str], cut: Bound | None, limit: int,
) -> list[tuple[EventSeries, list[int]]]:
    """Series in ``communities`` hosted by any of ``hosts`` with a date not cancelled, newest
    first, each with which of those hosts host it."""
    if not hosts or not communities:
        return []
    by_them = select(EventHost.series_id).where(col(EventHost.user_id).in_(list(hosts)))
    held = select(EventOccurrence.series_id).where(col(EventOccurrence.state) != State.CANCELLED.value)
    query = (select(EventSeries)
             .where(col(EventSeries.id).in_(by_them), col(EventSeries.id).in_(held),
                    col(EventSeries.community).in_(list(communities)),
                    _cut(col(EventSeries.created_ms), col(EventSeries.public_id), cut))
             .order_by(col(EventSeries.created_ms).desc(), col(EventSeries.public_id).desc()).limit(limit))
    series = list((await db.exec(query)).all())
    ids = [s.id for s in series if s.id is not None]
    if not ids:
        return []
    who = select(EventHost.series_id, EventHost.user_id).where(
        col(EventHost.series_id).in_(ids), col(EventHost.user_id).in_(list(hosts)))
    hosts_of: dict[int, list[int]] = {}
    for series_id, user_id in (await db.exec(who)).all():
        hosts_of.setdefault(int(series_id), []).append(int(user_id))
    return [(s, sorted(hosts_of.get(s.id or 0, []))) for s in series]


async def next_dates(db: AsyncSession, series_ids: Sequence[int], now: datetime) -> dict[int, EventOccurrence]:
    """Per series, the date worth showing: the next one not cancelled that has not ended,
    else the latest one not cancelled (series with every date cancelled are left out)."""
    if not series_ids:
        return {}
    query = (select(EventOccurrence)
             .where(col(EventOccurrence.series_id).in_(list(series_ids)),
                    col(EventOccurrence.state) != State.CANCELLED.value)
             .order_by(col(EventOccurrence.starts_at)))
    out: dict[int, EventOccurrence] = {}
    for occ in (await db.exec(query)).all():
        shown = out.get(occ.series_id)
        if shown is None or shown.ends_at <= now:
            out[occ.series_id] = occ
    return out


async def session_rooms_of(db: AsyncSession, viewer_id: int) -> list[tuple[str, str, str, str]]:
    """The live rooms of the sessions the viewer could enter (``rooms.sessions.check_enter``):
    those they host and those they have a place in (not the waiting list), never cancelled
    ones; as ``(live room, the series' community, its title, the date's public id)``."""
    hosted_series = select(EventHost.series_id).where(EventHost.user_id == viewer_id)
    placed = select(EventSignup.event_id).where(EventSignup.user_id == viewer_id, EventSignup.status == "in")
    query = (select(EventOccurrence.room, EventSeries.community, EventSeries.title, EventOccurrence.public_id)
             .join(EventSeries, col(EventSeries.id) == col(EventOccurrence.series_id))
             .where(col(EventOccurrence.state) != State.CANCELLED.value)
             .where(or_(col(EventOccurrence.series_id).in_(hosted_series), col(EventOccurrence.id).in_(placed))))
    return [(room, community, title, event) for room, community, title, event in (await db.exec(query)).all()]


async def rooms_in_common(db: AsyncSession, a_id: int, b_id: int, rooms: Sequence[str]) -> list[str]:
    """The rooms among ``rooms`` where both members have a message that was not removed: what
    anyone reading those rooms can see already."""
    if not rooms:
        return []

    def written(author: int) -> Any:
        return select(Message.room).where(
            col(Message.author_id) == author, col(Message.room).in_(list(rooms)),
            col(Message.body).is_not(None)).distinct()

    first = set((await db.exec(written(a_id))).all())
    if not first:
        return []
    second = set((await db.exec(written(b_id))).all())
    return [r for r in rooms if r in first and r in second]
