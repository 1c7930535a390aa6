"""Queries for moderation and safety: assignments, restrictions, room state, the audit log,
blocks, and removing a message's body (the safety queue is ``persistence.safety_queue``).

Writes do not commit unless they say so: the moderation service commits a state change and
its audit entry in one transaction, so an action is never carried out unaudited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import friends
from persistence.accounts import to_member
from persistence.models import (
    AuditEntry,
    Block,
    Message,
    Organization,
    RestrictionRow,
    RoomStateRow,
    StaffAssignment,
    User,
)
from persistence.refusals import unique_clash
from rooms.model import Member
from rooms.moderation import Restriction

PLATFORM = "*"


def _public(user: User | None) -> dict[str, str] | None:
    return to_member(user).public() if user is not None else None


# -- members and staff ---------------------------------------------------------------------


async def member_by_public_id(db: AsyncSession, public_id: str) -> Member | None:
    user = (await db.exec(select(User).where(User.public_id == public_id))).first()
    return to_member(user) if user else None


async def assignments(db: AsyncSession, user_db_id: int) -> frozenset[str]:
    """The national communities (slugs, or ``"*"``) the member is assigned to as staff."""
    rows = await db.exec(select(StaffAssignment.community).where(StaffAssignment.user_id == user_db_id))
    return frozenset(rows.all())


async def assign(db: AsyncSession, user_db_id: int, community: str) -> bool:
    """Assign (commits); False when already assigned."""
    db.add(StaffAssignment(user_id=user_db_id, community=community))
    try:
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        if unique_clash(exc) == {"staff_assignments.user_id", "staff_assignments.community"}:
            return False
        raise  # a member who does not exist, say: not "already assigned"
    return True


async def unassign(db: AsyncSession, user_db_id: int, community: str) -> bool:
    found = (
        await db.exec(
            select(StaffAssignment).where(
                StaffAssignment.user_id == user_db_id, StaffAssignment.community == community
            )
        )
    ).first()
    if found is None:
        return False
    await db.delete(found)
    await db.commit()
    return True


# -- restrictions --------------------------------------------------------------------------


def _active(now_ms: int) -> Any:
    return (col(RestrictionRow.lifted_ms).is_(None)) & (
        col(RestrictionRow.until_ms).is_(None) | (col(RestrictionRow.until_ms) > now_ms)
    )


def _restriction(row: RestrictionRow) -> Restriction:
    until = None if row.until_ms is None else row.until_ms / 1000
    return Restriction(row.kind, until, row.reason)  # type: ignore[arg-type]


async def active_restrictions(
    db: AsyncSession, rooms: Sequence[str], now_ms: int
) -> dict[tuple[str, str], list[Restriction]]:
    """Restrictions in force in ``rooms`` (``"*"`` for platform bans), by (room, public id)."""
    query: Any = (
        select(RestrictionRow, User.public_id)
        .join(User, col(RestrictionRow.user_id) == col(User.id))
        .where(col(RestrictionRow.room).in_(list(rooms)), _active(now_ms))
    )
    found: dict[tuple[str, str], list[Restriction]] = {}
    for row, public_id in (await db.exec(query)).all():
        found.setdefault((row.room, public_id), []).append(_restriction(row))
    return found


async def restrictions_view(db: AsyncSession, room: str, now_ms: int) -> list[dict[str, Any]]:
    """The restrictions in force in ``room``, for staff screens."""
    query: Any = select(RestrictionRow).where(RestrictionRow.room == room, _active(now_ms)).order_by(
        col(RestrictionRow.id).desc()
    )
    rows = (await db.exec(query)).all()
    users = await _users(db, {r.user_id for r in rows} | {r.actor_id for r in rows})
    return [
        {
            "user": _public(users.get(r.user_id)), "kind": r.kind, "until": r.until_ms,
            "reason": r.reason, "by": _public(users.get(r.actor_id)), "at": r.created_ms,
        }
        for r in rows
    ]


async def add_restriction(
    db: AsyncSession, room: str, user_db_id: int, kind: str, until_ms: int | None, reason: str,
    actor_db_id: int, now_ms: int,
) -> None:
    db.add(RestrictionRow(
        room=room, user_id=user_db_id, kind=kind, until_ms=until_ms, reason=reason,
        actor_id=actor_db_id, created_ms=now_ms,
    ))


async def lift(db: AsyncSession, room: str, user_db_id: int, kinds: Iterable[str], now_ms: int) -> int:
    """End the member's active restrictions of ``kinds`` in ``room``; how many were ended."""
    result = await db.exec(
        update(RestrictionRow)
        .where(
            col(RestrictionRow.room) == room, col(RestrictionRow.user_id) == user_db_id,
            col(RestrictionRow.kind).in_(list(kinds)), _active(now_ms),
        )
        .values(lifted_ms=now_ms)
    )
    return int(result.rowcount or 0)


async def rooms_closed_to(db: AsyncSession, user_db_id: int, now_ms: int) -> dict[str, Restriction]:
    """The rooms the member is banned or kicked from now (they may not read them either),
    each with the restriction that weighs most: a ban over a kick, then the latest end."""
    query: Any = select(RestrictionRow).where(
        RestrictionRow.user_id == user_db_id, col(RestrictionRow.kind).in_(["ban", "kick"]),
        _active(now_ms),
    )
    closed: dict[str, Restriction] = {}
    for row in (await db.exec(query)).all():
        found, new = closed.get(row.room), _restriction(row)
        if found is None or (found.kind, new.kind) == ("kick", "ban") or (
            found.kind == new.kind and found.until is not None
            and (new.until is None or new.until > found.until)
        ):
            closed[row.room] = new
    return closed


async def platform_banned(db: AsyncSession, user_db_id: int, now_ms: int) -> bool:
    query = select(RestrictionRow.id).where(
        RestrictionRow.room == PLATFORM, RestrictionRow.user_id == user_db_id,
        RestrictionRow.kind == "ban", _active(now_ms),
    )
    return (await db.exec(query)).first() is not None


# -- room state ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomState:
    slow_mode_s: int = 0
    locked: bool = False
    pinned_id: str | None = None


async def room_state(db: AsyncSession, room: str) -> RoomState:
    row = await db.get(RoomStateRow, room)
    if row is None:
        return RoomState()
    return RoomState(row.slow_mode_s, row.locked, row.pinned_id)


async def set_room_state(db: AsyncSession, room: str, state: RoomState, now_ms: int) -> None:
    row = await db.get(RoomStateRow, room)
    if row is None:
        row = RoomStateRow(room=room, updated_ms=now_ms)
    row.slow_mode_s, row.locked, row.pinned_id = state.slow_mode_s, state.locked, state.pinned_id
    row.updated_ms = now_ms
    db.add(row)


# -- messages ------------------------------------------------------------------------------


async def remove_body(
    db: AsyncSession, message_id: str, now_ms: int, fallback: dict[str, Any] | None
) -> None:
    """Make the message a tombstone: body gone, place kept. If the row is not written yet (a
    transcript writer lags behind Redis), write the tombstone now from ``fallback`` (the
    row's columns): the writer's own insert then finds the id taken and does nothing. Either
    order ends with no body, because both writes meet on the primary key."""
    if fallback is None:
        await db.exec(
            update(Message).where(col(Message.id) == message_id).values(body=None, deleted_ms=now_ms)
        )
        return
    values = {**fallback, "id": message_id, "body": None, "deleted_ms": now_ms}
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Message).values(**values).on_conflict_do_update(
        index_elements=["id"], set_={"body": None, "deleted_ms": now_ms}
    )
    await db.exec(statement)


# -- audit ---------------------------------------------------------------------------------


async def audit(
    db: AsyncSession, at_ms: int, actor_db_id: int, action: str, room: str,
    target_db_id: int | None = None, message_id: str | None = None, reason: str = "",
    duration_s: int | None = None, detail: str = "",
) -> None:
    db.add(AuditEntry(
        at_ms=at_ms, actor_id=actor_db_id, action=action, room=room, target_id=target_db_id,
        message_id=message_id, reason=reason, duration_s=duration_s, detail=detail[:200],
    ))


async def audit_page(
    db: AsyncSession, rooms: Sequence[str] | None, before: int | None, limit: int,
    actor: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``rooms`` None means every room (admins); ``actor`` adds that member's
    own entries wherever they are."""
    query: Any = select(AuditEntry)
    if rooms is not None:
        where: Any = col(AuditEntry.room).in_(list(rooms))
        if actor is not None:
            where = where | (col(AuditEntry.actor_id) == actor)
        query = query.where(where)
    if before is not None:
        query = query.where(col(AuditEntry.id) < before)
    rows = (await db.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))).all()
    users = await _users(db, {r.actor_id for r in rows} | {r.target_id for r in rows if r.target_id})
    return [
        {
            "id": r.id, "at": r.at_ms, "actor": _public(users.get(r.actor_id)), "action": r.action,
            "room": r.room, "user": _public(users.get(r.target_id)) if r.target_id else None,
            "message": r.message_id, "reason": r.reason, "duration_s": r.duration_s,
            "detail": r.detail,
        }
        for r in rows
    ]


async def _users(db: AsyncSession, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    rows = (await db.exec(select(User).where(col(User.id).in_(list(ids))))).all()
    return {u.id: u for u in rows if u.id is not None}


# -- blocks --------------------------------------------------------------------------------


async def blocked_by(db: AsyncSession, blocker_db_id: int) -> list[Member]:
    query: Any = select(User).join(Block, col(Block.blocked_id) == col(User.id)).where(
        Block.blocker_id == blocker_db_id
    )
    return [to_member(u) for u in (await db.exec(query)).all()]


async def set_block(
    db: AsyncSession, blocker_db_id: int, blocked_db_id: int, on: bool, now_ms: int,
) -> tuple[int, int] | None:
    """Block or unblock (commits); idempotent. A block ends the pair's friendship (or pending
    friend request) and their follows either way, in the same transaction. Returns ``(member
    asked, notification id)`` when a pending request's notification was marked handled."""
    found = await db.get(Block, (blocker_db_id, blocked_db_id))
    handled = None
    try:
        if on and found is None:
            db.add(Block(blocker_id=blocker_db_id, blocked_id=blocked_db_id, created_ms=now_ms))
            # (The insert is flushed by sever's first statement: a clash is raised there.)
            handled = await friends.sever(db, blocker_db_id, blocked_db_id, now_ms)
        elif not on and found is not None:
            await db.delete(found)
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        if on and unique_clash(exc) == {"blocks.blocker_id", "blocks.blocked_id"}:
            return None  # blocked twice at once: it is blocked either way
        raise  # a member who does not exist, say
    return handled


def not_blocked_by(blocker_db_id: int) -> Any:
    """A clause for message queries: leave out authors the member blocked."""
    hidden = select(Block.blocked_id).where(Block.blocker_id == blocker_db_id)
    return col(Message.author_id).not_in(hidden)


# -- organizations -------------------------------------------------------------------------


async def org_resources(db: AsyncSession, org_id: int | None) -> str | None:
    if org_id is None:
        return None
    org = await db.get(Organization, org_id)
    return org.crisis_resources if org else None


async def set_org_resources(db: AsyncSession, org: Organization, stored: str | None) -> None:
    org.crisis_resources = stored
    db.add(org)
    await db.commit()
