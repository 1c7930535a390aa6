"""Queries for questions to experts: asking (a retried cid stored once), voting (exact under
concurrency), hosts' actions (with the moves they imply), lists and the answered archive.

Votes: the question's row is updated first (``votes = votes ± 1, version = version + 1``,
only while it is open), which takes its row lock on PostgreSQL (SQLite locks the database), and
then the vote row is inserted or deleted; if that changed nothing (a second vote, a withdrawal
of no vote) the transaction is rolled back. So each vote row is counted exactly once, whatever
gateways vote at the same moment, and the count never disagrees with the rows. The votes are
written by ``persistence/question_votes.py``, on the drivers directly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import to_member
from persistence.models import User
from persistence.question_models import QuestionRow, QuestionVote
from rooms.model import Member
from rooms.questions import Answer, Question, QuestionStatus


def new_question_id() -> str:
    return os.urandom(16).hex()


@dataclass(frozen=True, slots=True)
class Stored:
    """A question as the service works with it: the domain value plus its storage facts."""

    question: Question
    row: QuestionRow
    answered_by: Member | None = None

    @property
    def version(self) -> int:
        return self.row.version


async def _users(db: AsyncSession, ids: set[int]) -> dict[int, Member]:
    if not ids:
        return {}
    rows = (await db.exec(select(User).where(col(User.id).in_(list(ids))))).all()
    return {u.id: to_member(u) for u in rows if u.id is not None}


def _domain(row: QuestionRow, users: dict[int, Member]) -> Question:
    answer = None
    if row.answer is not None and row.answer_by is not None:
        by = users.get(row.answer_by)
        answer = Answer(row.answer, by.handle if by else "", row.answer_role or "", row.answer_ms or 0)
    return Question(
        id=row.public_id, venue=row.venue, author=users[row.author_id], anonymous=row.anonymous,
        body=row.body, status=QuestionStatus(row.status), votes=row.votes, pinned=row.pinned,
        answer=answer, merged_into=row.merged_into, dismiss_reason=row.dismiss_reason,
        created_ms=row.created_ms,
    )


async def stored(db: AsyncSession, rows: Sequence[QuestionRow]) -> list[Stored]:
    ids = {r.author_id for r in rows} | {r.answer_by for r in rows if r.answer_by is not None}
    users = await _users(db, ids)
    return [
        Stored(_domain(r, users), r, users.get(r.answer_by) if r.answer_by is not None else None)
        for r in rows
    ]


async def get(db: AsyncSession, public_id: str) -> Stored | None:
    row = (await db.exec(select(QuestionRow).where(QuestionRow.public_id == public_id))).first()
    return None if row is None else (await stored(db, [row]))[0]


async def get_by_row(db: AsyncSession, row_id: int) -> Stored | None:
    row = await db.get(QuestionRow, row_id, populate_existing=True)
    return None if row is None else (await stored(db, [row]))[0]


async def by_cid(db: AsyncSession, author_db_id: int, cid: str) -> Stored | None:
    query = select(QuestionRow).where(QuestionRow.author_id == author_db_id, QuestionRow.cid == cid)
    found = (await db.exec(query)).first()
    return None if found is None else (await stored(db, [found]))[0]


async def add(db: AsyncSession, row: QuestionRow) -> tuple[Stored, bool]:
    """Store a new question (commits); (question, created). A retried ``cid`` of the same
    author returns the question stored the first time, whichever gateway stored it."""
    query = select(QuestionRow).where(QuestionRow.author_id == row.author_id, QuestionRow.cid == row.cid)
    found = (await db.exec(query)).first()
    if found is not None:
        return (await stored(db, [found]))[0], False
    db.add(row)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        found = (await db.exec(query)).first()
        if found is None:  # refused for another reason than the (author, cid) stored first
            raise
        return (await stored(db, [found]))[0], False
    await db.refresh(row)
    return (await stored(db, [row]))[0], True


async def count_votes(db: AsyncSession, question_id: int) -> int:
    query = select(func.count()).select_from(QuestionVote).where(QuestionVote.question_id == question_id)
    return int((await db.exec(query)).one())


async def voted(db: AsyncSession, user_db_id: int, question_ids: Sequence[int]) -> set[int]:
    if not question_ids:
        return set()
    query = select(QuestionVote.question_id).where(
        QuestionVote.user_id == user_db_id, col(QuestionVote.question_id).in_(list(question_ids))
    )
    return set((await db.exec(query)).all())


async def lock(db: AsyncSession, question_id: int) -> QuestionRow | None:
    """Take the question's row lock for this transaction and read it as it now is."""
    await db.exec(
        update(QuestionRow).where(col(QuestionRow.id) == question_id).values(version=col(QuestionRow.version))
    )
    row = await db.get(QuestionRow, question_id, populate_existing=True)
    return row


async def save(db: AsyncSession, row: QuestionRow, question: Question, answered_by: int | None) -> None:
    """Write a host's action's outcome to ``row`` (locked), one version on. Not committed."""
    row.status = question.status.value
    row.pinned = question.pinned
    row.merged_into = question.merged_into
    row.dismiss_reason = question.dismiss_reason
    if question.answer is not None and answered_by is not None:
        row.answer, row.answer_by = question.answer.body, answered_by
        row.answer_role, row.answer_ms = question.answer.by_role, question.answer.at_ms
    row.version += 1
    db.add(row)
    await db.flush()


async def unpin_others(db: AsyncSession, venue: str, keep_id: int) -> list[QuestionRow]:
    """Unpin every other pinned question of the venue (one pinned at a time). Not committed."""
    query = select(QuestionRow).where(
        QuestionRow.venue == venue, col(QuestionRow.pinned).is_(True), col(QuestionRow.id) != keep_id
    )
    rows = list((await db.exec(query)).all())
    for row in rows:
        locked = await lock(db, row.id or 0)
        if locked is not None and locked.pinned:
            locked.pinned = False
            locked.version += 1
            db.add(locked)
    await db.flush()
    return rows


async def move_votes(db: AsyncSession, source: QuestionRow, target: QuestionRow, now_ms: int) -> None:
    """A merge: the duplicate's voters vote for the target (minus its author and those who
    already did); the target's count is recounted from its rows. Both rows are locked.
    Not committed."""
    voters = select(QuestionVote.user_id).where(QuestionVote.question_id == source.id)
    have = select(QuestionVote.user_id).where(QuestionVote.question_id == target.id)
    moving = (await db.exec(
        voters.where(col(QuestionVote.user_id).not_in(have), QuestionVote.user_id != target.author_id)
    )).all()
    for uid in moving:
        db.add(QuestionVote(question_id=target.id or 0, user_id=uid, created_ms=now_ms))
    await db.flush()
    target.votes = await count_votes(db, target.id or 0)
    target.version += 1
    db.add(target)
    await db.flush()


_ORDERS = {
    "votes": (col(QuestionRow.pinned).desc(), col(QuestionRow.votes).desc(), col(QuestionRow.id).desc()),
    "recent": (col(QuestionRow.id).desc(),),
}


async def page(
    db: AsyncSession, venue: str, statuses: Sequence[str], viewer_db_id: int, manages: bool,
    order: str, offset: int, limit: int,
) -> list[Stored]:
    """The venue's questions in ``statuses`` the viewer may see (pending and dismissed ones:
    their own, unless they manage the venue), in ``order``, from ``offset``."""
    query = select(QuestionRow).where(QuestionRow.venue == venue, col(QuestionRow.status).in_(list(statuses)))
    if not manages:
        public = col(QuestionRow.status).in_([QuestionStatus.OPEN.value, QuestionStatus.ANSWERED.value])
        query = query.where(or_(public, col(QuestionRow.author_id) == viewer_db_id))
    rows = (await db.exec(query.order_by(*_ORDERS[order]).offset(offset).limit(limit))).all()
    return await stored(db, rows)


async def answered(db: AsyncSession, venue: str, limit: int = 1000) -> list[Stored]:
    query = select(QuestionRow).where(
        QuestionRow.venue == venue, QuestionRow.status == QuestionStatus.ANSWERED.value
    ).order_by(col(QuestionRow.answer_ms), col(QuestionRow.id)).limit(limit)
    return await stored(db, (await db.exec(query)).all())


async def authors_of(db: AsyncSession, venue: str, status: str) -> list[tuple[str, int]]:
    """(question public id, author's storage id) of the venue's questions in ``status``."""
    query = select(QuestionRow.public_id, QuestionRow.author_id).where(
        QuestionRow.venue == venue, QuestionRow.status == status
    )
    return [(str(p), int(a)) for p, a in (await db.exec(query)).all()]
