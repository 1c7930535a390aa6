"""What the gateway reads to accept a WebSocket: the session's member, whom they blocked and,
for staff, the national rooms they are assigned to.

This runs once per connection, so a reconnect storm runs it a thousand times at once. The
profile of one showed SQLAlchemy building ORM selects (operator overloading on annotated
columns) costing more than SQLite running them, and an ORM session per lookup. So: Core
statements built once per process and reused with bound parameters, one pooled connection,
one round trip for members (the blocks come back as outer-joined rows), a second only for
staff.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.models import Block, Session, StaffAssignment, User
from rooms.model import Member
from rooms.roles import Role


@dataclass(frozen=True, slots=True)
class Handshake:
    member: Member
    assigned: frozenset[str]  # national community slugs (or "*") they are staff of
    hidden: frozenset[str]  # public ids of the members they blocked


def _table(model: Any) -> Any:
    return model.__table__


@functools.cache
def _member_query() -> Select[Any]:
    users, sessions, blocks = _table(User), _table(Session), _table(Block)
    blocked = users.alias("blocked")
    return (
        select(users.c.id, users.c.public_id, users.c.handle, users.c.role, users.c.org_id,
               blocked.c.public_id.label("blocked"))
        .select_from(
            sessions.join(users, users.c.id == sessions.c.user_id)
            .outerjoin(blocks, blocks.c.blocker_id == users.c.id)
            .outerjoin(blocked, blocked.c.id == blocks.c.blocked_id)
        )
        .where(
            sessions.c.token_digest == bindparam("digest"),
            sessions.c.expires_at > bindparam("now", type_=sessions.c.expires_at.type),
        )
    )


@functools.cache
def _assignments_query() -> Select[Any]:
    staff = _table(StaffAssignment)
    return select(staff.c.community).where(staff.c.user_id == bindparam("user"))


async def handshake(conn: AsyncConnection, token_digest: str, now: datetime) -> Handshake | None:
    """The member of a live session and their moderation context; None for an unknown,
    expired or signed-out session. ``now`` is naive UTC, like the stored timestamps."""
    rows = (await conn.execute(_member_query(), {"digest": token_digest, "now": now})).all()
    if not rows:
        return None
    first = rows[0]
    member = Member(id=first.public_id, handle=first.handle, role=Role(first.role),
                    org_id=first.org_id, db_id=first.id)
    hidden = frozenset(r.blocked for r in rows if r.blocked is not None)
    assigned = frozenset[str]()
    if member.role.rank >= Role.NAVIGATOR.rank:
        found = await conn.execute(_assignments_query(), {"user": member.db_id})
        assigned = frozenset(found.scalars().all())
    return Handshake(member, assigned, hidden)
