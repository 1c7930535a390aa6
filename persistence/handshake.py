"""What the gateway reads to accept a WebSocket: the session's member, whom they blocked and,
for staff, the national rooms they are assigned to.

This runs once per connection, so a reconnect storm runs it a thousand times at once. The
profile of one showed SQLAlchemy building ORM selects (operator overloading on annotated
columns) costing more than SQLite running them, and an ORM session per lookup. So: Core
statements built once per process and reused with bound parameters, one pooled connection,
one round trip for members (the blocks come back as outer-joined rows), a second only for
staff. ``handshakes`` reads many sessions in those same two round trips: the gateway batches
the handshakes that arrive together (chat_server/accounts/handshakes.py).

The batch goes in as one parameter (``= ANY($1)`` with an array on PostgreSQL, ``IN (SELECT
value FROM json_each(?))`` on SQLite), not an expanding ``IN``: that rendered a new SQL text for
each batch size, which SQLAlchemy compiled again and asyncpg prepared again on each pooled
connection. One text per dialect, compiled once and prepared once per connection.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Select, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
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


def _one_of(column: Any, name: str, postgres: bool) -> ColumnElement[bool]:
    """``column`` is one of the values bound as ``name``: an array on PostgreSQL, a JSON array
    text on SQLite (``_many`` makes either); the same SQL text whatever their number."""
    if postgres:
        item = Integer() if isinstance(column.type, Integer) else String()
        return cast(ColumnElement[bool], column == any_(bindparam(name, type_=ARRAY(item))))
    values = func.json_each(bindparam(name, type_=String())).table_valued("value")
    return cast(ColumnElement[bool], column.in_(select(values.c.value)))


def _many(values: list[Any], postgres: bool) -> Any:
    return values if postgres else json.dumps(values)


@functools.cache
def _member_query(postgres: bool) -> Select[Any]:
    users, sessions, blocks = _table(User), _table(Session), _table(Block)
    blocked = users.alias("blocked")
    return (
        select(sessions.c.token_digest, users.c.id, users.c.public_id, users.c.handle,
               users.c.role, users.c.org_id, blocked.c.public_id.label("blocked"))
        .select_from(
            sessions.join(users, users.c.id == sessions.c.user_id)
            .outerjoin(blocks, blocks.c.blocker_id == users.c.id)
            .outerjoin(blocked, blocked.c.id == blocks.c.blocked_id)
        )
        .where(
            _one_of(sessions.c.token_digest, "digests", postgres),
            sessions.c.expires_at > bindparam("now", type_=sessions.c.expires_at.type),
        )
    )


@functools.cache
def _assignments_query(postgres: bool) -> Select[Any]:
    staff = _table(StaffAssignment)
    return select(staff.c.user_id, staff.c.community).where(
        _one_of(staff.c.user_id, "users", postgres))


async def handshake(conn: AsyncConnection, token_digest: str, now: datetime) -> Handshake | None:
    """The member of a live session and their moderation context; None for an unknown,
    expired or signed-out session. ``now`` is naive UTC, like the stored timestamps."""
    return (await handshakes(conn, [token_digest], now)).get(token_digest)


async def handshakes(conn: AsyncConnection, digests: list[str], now: datetime) -> dict[str, Handshake]:
    """``handshake`` for many sessions at once, keyed by token digest: an unknown, expired or
    signed-out session is absent. Two round trips whatever the number (one without staff)."""
    if not digests:
        return {}
    postgres = conn.dialect.name == "postgresql"
    rows = (await conn.execute(
        _member_query(postgres), {"digests": _many(digests, postgres), "now": now})).all()
    members: dict[str, Member] = {}
    hidden: dict[str, set[str]] = {}
    for row in rows:
        if row.token_digest not in members:
            members[row.token_digest] = Member(
                id=row.public_id, handle=row.handle, role=Role(row.role), org_id=row.org_id,
                db_id=row.id)
            hidden[row.token_digest] = set()
        if row.blocked is not None:
            hidden[row.token_digest].add(row.blocked)
    staff = {m.db_id for m in members.values() if m.role.rank >= Role.NAVIGATOR.rank}
    assigned: dict[int, set[str]] = {user: set() for user in staff}
    if staff:
        found = await conn.execute(
            _assignments_query(postgres), {"users": _many(sorted(staff), postgres)})
        for user, community in found.all():
            assigned[user].add(community)
    return {
        digest: Handshake(member, frozenset(assigned.get(member.db_id, ())), frozenset(hidden[digest]))
        for digest, member in members.items()
    }
