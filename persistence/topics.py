"""Queries for Ask the Expert topics: creating, reading, listing per community, searching the
answered archive."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import to_member
from persistence.models import User
from persistence.question_models import (
    EventQuestionSettings,
    ExpertTopic,
    ExpertTopicExpert,
    QuestionRow,
)
from rooms.model import Member
from rooms.questions import QuestionStatus


@dataclass(frozen=True, slots=True)
class Topic:
    row: ExpertTopic
    experts: list[Member] = field(default_factory=list)

    @property
    def venue(self) -> str:
        return f"topic:{self.row.public_id}"

    @property
    def expert_ids(self) -> list[str]:
        return [m.id for m in self.experts]


async def create(db: AsyncSession, row: ExpertTopic, expert_db_ids: Sequence[int]) -> Topic:
    """Store a topic and its experts. Not committed (the audit entry joins the transaction)."""
    row.public_id = secrets.token_hex(8)
    db.add(row)
    await db.flush()
    for uid in dict.fromkeys(expert_db_ids):
        db.add(ExpertTopicExpert(topic_id=row.id or 0, user_id=uid))
    await db.flush()
    return (await _with_experts(db, [row]))[0]


async def _with_experts(db: AsyncSession, rows: Sequence[ExpertTopic]) -> list[Topic]:
    ids = [r.id for r in rows if r.id is not None]
    experts: dict[int, list[Member]] = {}
    if ids:
        query = (
            select(ExpertTopicExpert.topic_id, User)
            .join(User, col(User.id) == col(ExpertTopicExpert.user_id))
            .where(col(ExpertTopicExpert.topic_id).in_(ids)).order_by(col(User.handle))
        )
        for tid, user in (await db.exec(query)).all():
            experts.setdefault(tid, []).append(to_member(user))
    return [Topic(r, experts.get(r.id or 0, [])) for r in rows]


async def get(db: AsyncSession, public_id: str) -> Topic | None:
    row = (await db.exec(select(ExpertTopic).where(ExpertTopic.public_id == public_id))).first()
    return None if row is None else (await _with_experts(db, [row]))[0]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


async def listing(db: AsyncSession, rooms: Sequence[str], search: str | None, limit: int) -> list[Topic]:
    """Topics in ``rooms``, newest window first; with ``search``, those whose title or
    description, or one of whose answered questions or answers, contains the words."""
    query = select(ExpertTopic).where(col(ExpertTopic.room).in_(list(rooms)))
    if search:
        pattern = _like(search)
        venues = select(func.substr(QuestionRow.venue, 7)).where(
            QuestionRow.status == QuestionStatus.ANSWERED.value,
            col(QuestionRow.venue).startswith("topic:"),
            or_(func.lower(QuestionRow.body).like(pattern, escape="\\"),
                func.lower(func.coalesce(QuestionRow.answer, "")).like(pattern, escape="\\")),
        )
        query = query.where(or_(
            func.lower(ExpertTopic.title).like(pattern, escape="\\"),
            func.lower(ExpertTopic.description).like(pattern, escape="\\"),
            col(ExpertTopic.public_id).in_(venues),
        ))
    rows = (await db.exec(query.order_by(col(ExpertTopic.closes_at).desc(), col(ExpertTopic.id).desc()).limit(limit))).all()
    return await _with_experts(db, rows)


async def question_counts(db: AsyncSession, venues: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per venue: how many questions are open and answered (what everyone may see)."""
    if not venues:
        return {}
    query = select(QuestionRow.venue, QuestionRow.status, func.count()).where(
        col(QuestionRow.venue).in_(list(venues)),
        col(QuestionRow.status).in_([QuestionStatus.OPEN.value, QuestionStatus.ANSWERED.value]),
    ).group_by(col(QuestionRow.venue), col(QuestionRow.status))
    out: dict[str, dict[str, int]] = {v: {"open": 0, "answered": 0} for v in venues}
    for venue, status, n in (await db.exec(query)).all():
        out[venue][status] = int(n)
    return out


# -- a session's question settings ----------------------------------------------------------


async def moderated(db: AsyncSession, event_db_id: int) -> bool | None:
    row = await db.get(EventQuestionSettings, event_db_id)
    return None if row is None else row.moderated


async def set_moderated(db: AsyncSession, event_db_id: int, value: bool) -> None:
    """Not committed."""
    row = await db.get(EventQuestionSettings, event_db_id)
    if row is None:
        db.add(EventQuestionSettings(event_id=event_db_id, moderated=value))
    else:
        row.moderated = value
        db.add(row)
    await db.flush()
