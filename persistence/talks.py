"""The private-talk queue in the database: the embedded mode's store (no Redis configured).

The same contract as the Redis store (``chat_server/private_talk/store.py``, ``TalkStore``),
kept by the database rather than by a script: each change is one statement whose ``WHERE``
says when it may happen, so of many callers at once exactly one changes the row.

- A member waits on one request at a time: the waiting request holds the member's public id in
  ``waiting_for``, a unique column, so a second insert fails and names nothing but the first.
  Only that constraint's refusal means "waiting already"; any other is raised.
- Settling sets ``outcome`` where it is still NULL: one caller wins, the others read the row.
- Showing the crisis resources sets ``resources_at`` where both it and ``outcome`` are NULL.

Rows older than the request's lapse plus a day are deleted by ``forget``, as the Redis
store's keys expire. The caller decides how often (``chat_server/private_talk/store.py``
sweeps at most once an hour: the delete reads every settled row, too much for every request).
Every function commits.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import case, delete, exists, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.refusals import unique_clash
from persistence.talk_models import TalkRow
from rooms.model import Member
from rooms.private_talk import TalkRequest
from rooms.roles import Role

_ADD_ATTEMPTS = 3  # a clash with a request settled meanwhile frees the member: insert again


def _row(request: TalkRequest) -> TalkRow:
    m = request.member
    return TalkRow(
        id=request.id, member_id=m.id, handle=m.handle, role=m.role.value, org_id=m.org_id,
        user_id=m.db_id, room=request.room, room_org=request.room_org, asked_at=request.asked_at,
        resources_at=request.resources_at, waiting_for=m.id,
    )


def _request(row: TalkRow) -> TalkRequest:
    member = Member(row.member_id, row.handle, Role(row.role), row.org_id, row.user_id)
    return TalkRequest(
        row.id, member, row.room, row.room_org, row.asked_at, resources_at=row.resources_at,
        outcome=row.outcome, navigator=json.loads(row.navigator) if row.navigator else None,
        settled_at=row.settled_at, conversation=row.conversation,
        conversation_room=row.conversation_room,
    )


async def _waiting_on(db: AsyncSession, member_id: str) -> str | None:
    query = select(TalkRow.id).where(col(TalkRow.waiting_for) == member_id)
    return (await db.exec(query)).first()


async def forget(db: AsyncSession, before: float) -> int:
    """Delete the requests made before ``before`` (seconds since the epoch), waiting or
    settled: how many went."""
    result: Any = await db.exec(delete(TalkRow).where(col(TalkRow.asked_at) < before))
    await db.commit()
    return int(result.rowcount)


async def add(db: AsyncSession, request: TalkRequest) -> str | None:
    """Store ``request`` as waiting: None when stored, or the id of the member's request that
    is waiting already (nothing stored then; ``request``'s own id when this very request was
    stored before, by an add retried). Raises ``IntegrityError`` for any other refusal (an id
    of another request's, a missing value)."""
    for attempt in range(_ADD_ATTEMPTS):
        db.add(_row(request))
        try:
            await db.commit()
            return None
        except IntegrityError as exc:
            await db.rollback()
            clash = _clash(exc)
            if clash == "id":
                stored = await db.get(TalkRow, request.id)
                same = stored is not None and _same(stored, request)
                await db.rollback()  # (which expires ``stored``: read before)
                if same:
                    return request.id
                raise
            if clash != "waiting_for":
                raise
            current = await _waiting_on(db, request.member.id)
            # End that read before writing again: a SQLite transaction that read first and
            # writes after another writer's commit fails at once instead of waiting its turn.
            await db.rollback()
            if current is not None:
                return current
            if attempt == _ADD_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _clash(exc: IntegrityError) -> str | None:
    """Which unique key of the table ``exc`` is about: "waiting_for" (the member waits on
    another request), "id", or None (any other refusal)."""
    return _KEYS.get(unique_clash(exc))


_KEYS = {frozenset({"private_talks.waiting_for"}): "waiting_for",
         frozenset({"private_talks.id"}): "id"}


def _same(row: TalkRow, request: TalkRequest) -> bool:
    """Whether ``row`` is ``request`` itself (stored by an earlier try), not another request
    that was given the same id."""
    m = request.member
    return (row.member_id == m.id and row.user_id == m.db_id and row.room == request.room
            and row.asked_at == request.asked_at)


async def waiting(db: AsyncSession, limit: int) -> list[TalkRequest]:
    """The waiting requests, oldest first (the id breaking a tie), at most ``limit``."""
    query = (select(TalkRow).where(col(TalkRow.outcome).is_(None))
             .order_by(col(TalkRow.asked_at), col(TalkRow.id)).limit(limit))
    return [_request(r) for r in (await db.exec(query)).all()]


async def get(db: AsyncSession, talk_id: str) -> TalkRequest | None:
    row = await db.get(TalkRow, talk_id)
    return None if row is None else _request(row)


async def settle(
    db: AsyncSession, talk_id: str, outcome: str, now: float, navigator: dict[str, str] | None,
) -> bool:
    """Settle the waiting request ``talk_id``: True for the one caller that did."""
    result: Any = await db.exec(
        update(TalkRow).where(col(TalkRow.id) == talk_id, col(TalkRow.outcome).is_(None))
        .values(outcome=outcome, navigator=json.dumps(navigator) if navigator else None,
                settled_at=now, waiting_for=None))
    await db.commit()
    return bool(result.rowcount)


async def reopen(db: AsyncSession, talk_id: str, member_id: str) -> None:
    """``talk_id`` waits again in its old place; it is the member's one request again unless
    they have made another meanwhile (that one stays theirs, as in the Redis store)."""
    other = aliased(TalkRow)
    taken = exists().where(col(other.waiting_for) == member_id, col(other.id) != talk_id)
    statement = (
        update(TalkRow).where(col(TalkRow.id) == talk_id)
        .values(outcome=None, navigator=None, settled_at=None,
                waiting_for=case((taken, None), else_=member_id))
    )
    try:
        await db.exec(statement)
        await db.commit()
    except IntegrityError:
        # The member's new request was inserted between the check and the write (PostgreSQL,
        # read committed): now the check sees it.
        await db.rollback()
        await db.exec(statement)
        await db.commit()


async def attach(db: AsyncSession, talk_id: str, conversation: str, conversation_room: str) -> None:
    await db.exec(update(TalkRow).where(col(TalkRow.id) == talk_id)
                  .values(conversation=conversation, conversation_room=conversation_room))
    await db.commit()


async def mark_resources(db: AsyncSession, talk_id: str, now: float) -> bool:
    """Claim showing the resources for the waiting ``talk_id``: True for exactly one caller."""
    result: Any = await db.exec(
        update(TalkRow).where(col(TalkRow.id) == talk_id, col(TalkRow.outcome).is_(None),
                              col(TalkRow.resources_at).is_(None))
        .values(resources_at=now))
    await db.commit()
    return bool(result.rowcount)
