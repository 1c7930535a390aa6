"""The navigators' safety queue: crisis matches and members' reports, each about a message in
a room or a question to an expert, waiting for a navigator.

An item points at exactly one subject: ``message_id`` (a message) or ``question_id`` (a
question's public id). A question is shown as everyone who may see it is shown it: an
anonymous author stays ``{"anonymous": true, "handle": "a member"}`` here too, because
revealing who asked is its own audited act (``POST /api/questions/{id}/reveal``).

An item about a private message (a conversation's room) is for the staff of one
organization (``org_id``) and shows the snapshot taken when it was queued (``private``:
true), never the message as stored nor anything else of the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import sessions, topics
from persistence.accounts import to_member
from persistence.models import Message, SafetyItem, User
from persistence.question_models import QuestionRow
from persistence.questions import stored
from rooms.questions import public_author


@dataclass(frozen=True, slots=True)
class Subject:
    """What an item is about: a message (by id) or a question (by public id)."""

    message_id: str | None = None
    question_id: str | None = None

    def __post_init__(self) -> None:
        if (self.message_id is None) == (self.question_id is None):
            raise ValueError("a safety item is about one message or one question")

    @property
    def key(self) -> str:
        return f"m:{self.message_id}" if self.message_id is not None else f"q:{self.question_id}"


def _public(user: User | None) -> dict[str, str] | None:
    return to_member(user).public() if user is not None else None


async def _users(db: AsyncSession, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    rows = (await db.exec(select(User).where(col(User.id).in_(list(ids))))).all()
    return {u.id: u for u in rows if u.id is not None}


async def queue_add(
    db: AsyncSession, kind: str, room: str, subject: Subject, reporter_db_id: int | None,
    reason: str | None, now_ms: int, org_id: int | None = None, snapshot: str | None = None,
) -> tuple[int, bool]:
    """Queue a crisis match or a report (commits); (item id, created). The same member
    reporting the same message twice, or the same subject matching twice, is one item."""
    # Messages keep the key they always had, so items queued before questions could be still
    # deduplicate against new ones.
    about = subject.message_id if subject.message_id is not None else subject.key
    dedupe = f"{kind}:{about}:{reporter_db_id or ''}"
    existing = (await db.exec(select(SafetyItem.id).where(SafetyItem.dedupe == dedupe))).first()
    if existing is not None:
        return int(existing), False
    item = SafetyItem(
        kind=kind, room=room, message_id=subject.message_id, question_id=subject.question_id,
        reporter_id=reporter_db_id, reason=reason, created_ms=now_ms, dedupe=dedupe,
        org_id=org_id, snapshot=snapshot,
    )
    db.add(item)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        found = (await db.exec(select(SafetyItem.id).where(SafetyItem.dedupe == dedupe))).first()
        if found is None:  # refused for another reason than the same item queued first
            raise
        return int(found), False
    assert item.id is not None
    return item.id, True


async def _authored_by(db: AsyncSession, item: SafetyItem, viewer: int) -> bool:
    if item.message_id is not None:
        message = await db.get(Message, item.message_id)
        return message is not None and message.author_id == viewer
    query = select(QuestionRow.author_id).where(QuestionRow.public_id == item.question_id)
    return (await db.exec(query)).first() == viewer


async def queue_item(db: AsyncSession, item_id: int, viewer: int | None = None) -> SafetyItem | None:
    """The item, unless it is about ``viewer``'s own message or question."""
    item = await db.get(SafetyItem, item_id)
    if item is None or viewer is None:
        return item
    return None if await _authored_by(db, item, viewer) else item


async def queue_page(
    db: AsyncSession, rooms: Sequence[str] | None, status: str | None, limit: int,
    viewer: int | None = None, org_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first. ``viewer``: leave out items about that member's own messages and
    questions (staff do not triage items about themselves, and never learn who reported them).
    ``rooms`` None: every item (admins); otherwise the items of those rooms, and the private
    items of organization ``org_id`` (the caller's, when they are its staff)."""
    query: Any = select(SafetyItem)
    if viewer is not None:
        own_messages = select(Message.id).where(Message.author_id == viewer)
        own_questions = select(QuestionRow.public_id).where(QuestionRow.author_id == viewer)
        # NULL NOT IN (...) is NULL, not true: each clause lets the other kind of item through.
        query = query.where(
            or_(col(SafetyItem.message_id).is_(None), col(SafetyItem.message_id).not_in(own_messages)),
            or_(col(SafetyItem.question_id).is_(None), col(SafetyItem.question_id).not_in(own_questions)),
        )
    if rooms is not None:
        where: Any = col(SafetyItem.room).in_(list(rooms))
        if org_id is not None:
            where = where | ((col(SafetyItem.org_id) == org_id) & col(SafetyItem.snapshot).is_not(None))
        query = query.where(where)
    if status is not None:
        query = query.where(SafetyItem.status == status)
    rows = (await db.exec(query.order_by(col(SafetyItem.id).desc()).limit(limit))).all()
    return await _items_view(db, rows)


async def _messages(db: AsyncSession, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    query: Any = select(Message, User).join(User, col(Message.author_id) == col(User.id)).where(
        col(Message.id).in_(ids)
    )
    return {
        m.id: {"id": m.id, "body": m.body, "author": _public(author), "ts": m.created_ms,
               "removed": m.body is None}
        for m, author in (await db.exec(query)).all()
    }


async def _venue_title(db: AsyncSession, venue: str) -> str:
    kind, _, public_id = venue.partition(":")
    if kind == "event":
        occ = await sessions.get(db, public_id)
        return occ.series.title if occ is not None else ""
    topic = await topics.get(db, public_id)
    return topic.row.title if topic is not None else ""


async def _questions(db: AsyncSession, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = (await db.exec(select(QuestionRow).where(col(QuestionRow.public_id).in_(ids)))).all()
    titles: dict[str, str] = {}
    out: dict[str, dict[str, Any]] = {}
    for found in await stored(db, rows):
        q = found.question
        if q.venue not in titles:
            titles[q.venue] = await _venue_title(db, q.venue)
        kind, _, venue_id = q.venue.partition(":")
        out[q.id] = {"id": q.id, "body": q.body, "author": public_author(q), "ts": q.created_ms,
                     "status": q.status.value, kind: venue_id, "title": titles[q.venue]}
    return out


async def _items_view(db: AsyncSession, rows: Sequence[SafetyItem]) -> list[dict[str, Any]]:
    messages = await _messages(db, list({r.message_id for r in rows
                                         if r.message_id is not None and r.snapshot is None}))
    questions = await _questions(db, list({r.question_id for r in rows if r.question_id is not None}))
    users = await _users(
        db, {r.reporter_id for r in rows if r.reporter_id} | {r.resolved_by for r in rows if r.resolved_by}
    )
    out = []
    for r in rows:
        view: dict[str, Any] = {
            "id": r.id, "kind": r.kind, "room": r.room, "message": None, "question": None,
            "reason": r.reason, "reporter": _public(users.get(r.reporter_id)) if r.reporter_id else None,
            "at": r.created_ms, "status": r.status,
            "resolved_by": _public(users.get(r.resolved_by)) if r.resolved_by else None,
            "note": r.note,
        }
        if r.snapshot is not None:
            view["message"] = {**json.loads(r.snapshot), "removed": False}
            view["private"] = True
        elif r.message_id is not None:
            view["message"] = messages.get(r.message_id, {"id": r.message_id, "body": None, "author": None,
                                                          "ts": None, "removed": False})
        else:
            view["question"] = questions.get(r.question_id or "", {"id": r.question_id, "body": None,
                                                                   "author": None, "ts": None})
        out.append(view)
    return out


async def queue_resolve(db: AsyncSession, item: SafetyItem, by_db_id: int, note: str | None, now_ms: int) -> dict[str, Any]:
    item.status, item.resolved_by, item.resolved_ms, item.note = "resolved", by_db_id, now_ms, note
    db.add(item)
    return (await _items_view(db, [item]))[0]
