"""What the gateway reads of a room to admit joins and enforce moderation: the community (with
its organization's name), its state (slow mode, lock, pin) and the restrictions in force.

Read on a room's first join and again whenever the gateway's copy expires, so in a reconnect
storm once per room, all rooms at once. Through the ORM it was three queries (three round
trips, each with statements built per call, an ORM session with BEGIN and ROLLBACK around
them). Here, as for the handshake (persistence/handshake.py): one Core statement built once per
process, bound parameters, one round trip on a pooled connection. The restrictions come back
as outer-joined rows, oldest first, so the last of a kind is the latest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.models import Community, Message, Organization, RestrictionRow, RoomStateRow, User
from rooms.model import Community as RoomCommunity
from rooms.moderation import Restriction


@dataclass(slots=True)
class StoredFacts:
    community: RoomCommunity
    slow_mode_s: int = 0
    locked: bool = False
    pinned_id: str | None = None
    restrictions: dict[str, list[Restriction]] = field(default_factory=dict)  # by public id


def _table(model: Any) -> Any:
    return model.__table__


@functools.cache
def _facts_query() -> Select[Any]:
    rooms, orgs, states = _table(Community), _table(Organization), _table(RoomStateRow)
    restrictions, users = _table(RestrictionRow), _table(User)
    now = bindparam("now_ms", type_=restrictions.c.until_ms.type)
    in_force = and_(
        restrictions.c.room == rooms.c.slug,
        restrictions.c.lifted_ms.is_(None),
        or_(restrictions.c.until_ms.is_(None), restrictions.c.until_ms > now),
    )
    return (
        select(rooms.c.slug, rooms.c.name, rooms.c.kind, rooms.c.description, rooms.c.org_id,
               orgs.c.name.label("org_name"), states.c.slow_mode_s, states.c.locked,
               states.c.pinned_id, restrictions.c.kind.label("r_kind"), restrictions.c.until_ms,
               restrictions.c.reason, users.c.public_id)
        .select_from(
            rooms.outerjoin(orgs, orgs.c.id == rooms.c.org_id)
            .outerjoin(states, states.c.room == rooms.c.slug)
            .outerjoin(restrictions.join(users, users.c.id == restrictions.c.user_id), in_force)
        )
        .where(rooms.c.slug == bindparam("room"))
        .order_by(restrictions.c.id)
    )


async def room_facts(conn: AsyncConnection, room: str, now_ms: int) -> StoredFacts | None:
    """The room's community, state and restrictions in force at ``now_ms`` (its own, not
    platform-wide bans); None for a room that does not exist."""
    rows = (await conn.execute(_facts_query(), {"room": room, "now_ms": now_ms})).all()
    if not rows:
        return None
    first = rows[0]
    found = StoredFacts(
        RoomCommunity(slug=first.slug, name=first.name, kind=first.kind,
                      description=first.description, org_id=first.org_id, org_name=first.org_name),
        first.slow_mode_s or 0, bool(first.locked), first.pinned_id,
    )
    for row in rows:
        if row.r_kind is not None:
            until = None if row.until_ms is None else row.until_ms / 1000
            found.restrictions.setdefault(row.public_id, []).append(
                Restriction(row.r_kind, until, row.reason))
    return found


@functools.cache
def _head_query() -> Select[Any]:
    messages = _table(Message)
    return select(func.max(messages.c.seq)).where(messages.c.room == bindparam("room"))


async def stored_head(conn: AsyncConnection, room: str) -> int:
    """The room's highest stored seq (0 when it has none): what a gateway's seq counter must
    not fall behind, read on the room's first join there (on the join path's pool,
    chat_server/readers.py), and what the archive waits for (chat_server/events/lifecycle.py,
    on its ORM session's connection). The statement built once per process, one round trip."""
    found = (await conn.execute(_head_query(), {"room": room})).scalar()
    return int(found or 0)
