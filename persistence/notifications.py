"""Queries for members' notifications, their notification settings, and calendar feeds.

``add`` is the one way a notification is stored (mentions, replies, answers, sessions, and
the friend and private-message requests of issue 17 part B); ``coalesce`` keeps one
notification per message for reactions. Both skip members who muted the kind."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pginsert_for
from sqlalchemy.dialects.sqlite import insert as sqliteinsert_for
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.event_models import CalendarFeed, Notification
from persistence.models import User
from persistence.social_models import NotificationSettings


async def add(
    db: AsyncSession, user_ids: Sequence[int], kind: str, event: str | None, text: str, now_ms: int,
    dedupe: str, room: str | None = None, ref: str | None = None,
) -> list[tuple[int, int]]:
    """One notification per member who has not muted ``kind``, at most once per ``dedupe`` key
    and member (a retry, or a second gateway, adds nothing). Returns ``(user id, notification
    id)`` of the rows this call added, so that only the caller that stored one tells the member
    live: exactly once however many try. Not committed."""
    if not user_ids:
        return []
    wanted = await unmuted(db, list(dict.fromkeys(user_ids)), kind)
    if not wanted:
        return []
    rows = [
        {"user_id": uid, "kind": kind, "event": event, "room": room, "ref": ref, "text": text[:300],
         "created_ms": now_ms, "dedupe": f"{dedupe}:{uid}"[:80]}
        for uid in wanted
    ]
    statement = insert_for(db)(Notification).values(rows).on_conflict_do_nothing(index_elements=["dedupe"])
    result = await db.exec(statement.returning(col(Notification.user_id), col(Notification.id)))
    return [(int(uid), int(nid)) for uid, nid in result.all()]


async def coalesce(
    db: AsyncSession, user_id: int, kind: str, room: str | None, ref: str, text: str, now_ms: int,
) -> int | None:
    """The one notification of ``kind`` about message ``ref`` for the member, created or
    brought up to date (new text, unread again); None when the member muted the kind. Not
    committed."""
    if not await unmuted(db, [user_id], kind):
        return None
    values = {"user_id": user_id, "kind": kind, "room": room, "ref": ref, "text": text[:300],
              "created_ms": now_ms, "dedupe": f"{kind}:{ref}:{user_id}"[:80]}
    statement = insert_for(db)(Notification).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["dedupe"], set_={"text": values["text"], "created_ms": now_ms, "read_ms": None},
    )
    result = await db.exec(statement.returning(col(Notification.id)))
    return int(result.one()[0])


def insert_for(db: AsyncSession) -> Any:
    return pginsert_for if db.get_bind().dialect.name == "postgresql" else sqliteinsert_for


def view(n: Notification) -> dict[str, Any]:
    out: dict[str, Any] = {"id": n.id, "kind": n.kind, "text": n.text, "at": n.created_ms,
                           "read": n.read_ms is not None}
    for name in ("event", "room", "ref"):
        value = getattr(n, name)
        if value is not None:
            out["message" if name == "ref" else name] = value
    return out


async def page(db: AsyncSession, user_db_id: int, offset: int, limit: int) -> list[dict[str, Any]]:
    """Unread first, then read; newest first within each."""
    unread_first = case((col(Notification.read_ms).is_(None), 0), else_=1)
    query = (select(Notification).where(Notification.user_id == user_db_id)
             .order_by(unread_first, col(Notification.id).desc()).offset(offset).limit(limit))
    return [view(n) for n in (await db.exec(query)).all()]


async def get(db: AsyncSession, notification_id: int) -> Notification | None:
    return await db.get(Notification, notification_id)


async def unread_count(db: AsyncSession, user_db_id: int) -> int:
    query = select(func.count()).select_from(Notification).where(
        Notification.user_id == user_db_id, col(Notification.read_ms).is_(None))
    return int((await db.exec(query)).one())


async def unread_by_kind(db: AsyncSession, user_db_id: int, since_ms: int) -> dict[str, int]:
    query = (select(Notification.kind, func.count()).where(
        Notification.user_id == user_db_id, col(Notification.read_ms).is_(None),
        Notification.created_ms > since_ms).group_by(Notification.kind))
    return {kind: int(n) for kind, n in (await db.exec(query)).all()}


async def mark_read(db: AsyncSession, user_db_id: int, ids: Sequence[int] | None, now_ms: int) -> list[int]:
    """Mark the member's notifications ``ids`` (None: all) read; the ids that changed. Others'
    ids are ignored. Committed."""
    query = select(Notification.id).where(
        Notification.user_id == user_db_id, col(Notification.read_ms).is_(None))
    if ids is not None:
        query = query.where(col(Notification.id).in_(list(ids)))
    changed = [int(i) for i in (await db.exec(query)).all() if i is not None]
    if changed:
        await db.exec(update(Notification).where(col(Notification.id).in_(changed)).values(read_ms=now_ms))
    await db.commit()
    return changed


# -- settings ---------------------------------------------------------------------------------


async def settings_of(db: AsyncSession, user_db_id: int) -> NotificationSettings:
    row = await db.get(NotificationSettings, user_db_id)
    return row if row is not None else NotificationSettings(user_id=user_db_id)


async def save_settings(db: AsyncSession, row: NotificationSettings) -> None:
    await db.merge(row)
    await db.commit()


async def unmuted(db: AsyncSession, user_ids: list[int], kind: str) -> list[int]:
    query = select(NotificationSettings).where(col(NotificationSettings.user_id).in_(user_ids))
    muted = {r.user_id for r in (await db.exec(query)).all() if kind in r.muted.split(",")}
    return [u for u in user_ids if u not in muted]


async def digest_due(db: AsyncSession, sent_before_ms: int) -> list[tuple[NotificationSettings, str]]:
    """Members with a daily digest whose last one went out before ``sent_before_ms``, with
    their email address (which only the mail to them carries)."""
    query = (select(NotificationSettings, User.email)
             .join(User, col(User.id) == col(NotificationSettings.user_id))
             .where(NotificationSettings.digest == "daily")
             .where(or_(col(NotificationSettings.digest_sent_ms).is_(None),
                        col(NotificationSettings.digest_sent_ms) < sent_before_ms)))
    return [(row, email) for row, email in (await db.exec(query)).all()]


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
