"""Queries for members' notifications and calendar feeds."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.event_models import CalendarFeed, Notification


async def add(
    db: AsyncSession, user_ids: Sequence[int], kind: str, event: str | None, text: str, now_ms: int,
    dedupe: str,
) -> None:
    """One notification per member, at most once per ``dedupe`` key and member (a retry, or
    a second gateway, adds nothing). Not committed."""
    if not user_ids:
        return
    rows = [
        {"user_id": uid, "kind": kind, "event": event, "text": text[:300], "created_ms": now_ms,
         "dedupe": f"{dedupe}:{uid}"[:80]}
        for uid in dict.fromkeys(user_ids)
    ]
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Notification).values(rows).on_conflict_do_nothing(index_elements=["dedupe"])
    await db.exec(statement)


async def page(db: AsyncSession, user_db_id: int, before: int | None, limit: int) -> list[dict[str, Any]]:
    query = select(Notification).where(Notification.user_id == user_db_id)
    if before is not None:
        query = query.where(col(Notification.id) < before)
    rows = (await db.exec(query.order_by(col(Notification.id).desc()).limit(limit))).all()
    return [
        {"id": n.id, "kind": n.kind, "event": n.event, "text": n.text, "at": n.created_ms,
         "read": n.read_ms is not None}
        for n in rows
    ]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def set_feed(db: AsyncSession, user_db_id: int, secret: str, tz: str, now_ms: int) -> None:
    """Replace the member's feed secret (the old URL stops working)."""
    await db.exec(delete(CalendarFeed).where(col(CalendarFeed.user_id) == user_db_id))
    db.add(CalendarFeed(user_id=user_db_id, secret_digest=digest(secret), tz=tz, created_ms=now_ms))
    await db.commit()


async def revoke_feed(db: AsyncSession, user_db_id: int) -> bool:
    result = await db.exec(delete(CalendarFeed).where(col(CalendarFeed.user_id) == user_db_id))
    await db.commit()
    return bool(result.rowcount)


async def feed(db: AsyncSession, secret: str) -> CalendarFeed | None:
    query = select(CalendarFeed).where(CalendarFeed.secret_digest == digest(secret))
    return (await db.exec(query)).first()
