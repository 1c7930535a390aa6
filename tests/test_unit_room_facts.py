"""A room's facts read as one prebuilt statement (persistence/room_facts.py) are what the three
ORM queries read before it (the community with its organization, the room's state, the
restrictions in force), on a real migrated SQLite file and on PostgreSQL: bans, kicks and
mutes in force by member, the lifted and the expired left out, other rooms' and platform-wide
ones left out, a room without a state row, a national room, a room that does not exist."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import accounts, communities, migrate, room_facts
from persistence import moderation as store
from persistence.db import make_engine, session_factory
from persistence.models import Community
from support.procs import Postgres
from support.sqlite_db import migrated_sqlite

NOW_MS = 1_800_000_000_000
LOCAL, NATIONAL, OTHER = "t-local", "t-national", "t-other"


async def _before(db: AsyncSession, room: str, now_ms: int) -> Any:
    """The three queries StoredReads.room_facts made before."""
    community = await communities.by_slug(db, room)
    if community is None:
        return None
    state = await store.room_state(db, room)
    found = await store.active_restrictions(db, [room], now_ms)
    return (community, state.slow_mode_s, state.locked, state.pinned_id,
            {user: found[(r, user)] for r, user in found})


async def _after(engine: AsyncEngine, room: str, now_ms: int) -> Any:
    async with engine.connect() as conn:
        got = await room_facts.room_facts(conn, room, now_ms)
    if got is None:
        return None
    return (got.community, got.slow_mode_s, got.locked, got.pinned_id, got.restrictions)


async def _seed(engine: AsyncEngine) -> None:
    db_of = session_factory(engine)
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as stored
    async with db_of() as db:
        org = await accounts.add_org(db, "Facts Org", "facts", "digest", [], now)
        assert org.id is not None
        db.add(Community(slug=LOCAL, name="Local", kind="general", description="d", org_id=org.id))
        db.add(Community(slug=NATIONAL, name="National", kind="general", description=""))
        db.add(Community(slug=OTHER, name="Other", kind="general", description=""))
        await db.commit()
        users = [await accounts.create_user(db, org.id, f"U{i}", f"u{i}", f"u{i}@example.org", "x", now)
                 for i in range(5)]
        ids = [u.id for u in users]
        assert all(i is not None for i in ids)
        a, b, c, d, mod = (int(i) for i in ids if i is not None)
        restrict = [
            (LOCAL, a, "ban", None, "first"), (LOCAL, a, "mute", NOW_MS + 60_000, "quiet"),
            (LOCAL, a, "kick", NOW_MS + 1, "latest of a's"),
            (LOCAL, b, "kick", NOW_MS - 1, "expired"), (LOCAL, c, "ban", None, "lifted"),
            (OTHER, d, "ban", None, "another room"), ("*", d, "ban", None, "platform-wide"),
            (NATIONAL, d, "mute", None, "national"),
        ]
        for room, user, kind, until, reason in restrict:
            await store.add_restriction(db, room, user, kind, until, reason, mod, NOW_MS - 10)
        await db.commit()
        await store.lift(db, LOCAL, c, ["ban"], NOW_MS - 5)
        await store.set_room_state(db, LOCAL, store.RoomState(30, True, "m-pinned"), NOW_MS)
        await db.commit()


async def _check(engine: AsyncEngine) -> None:
    await _seed(engine)
    db_of = session_factory(engine)
    for room in (LOCAL, NATIONAL, OTHER, "t-none"):
        for now_ms in (NOW_MS, NOW_MS + 2, NOW_MS + 120_000):
            async with db_of() as db:
                before = await _before(db, room, now_ms)
            assert await _after(engine, room, now_ms) == before, (room, now_ms)
    got = await _after(engine, LOCAL, NOW_MS)
    assert got[1:4] == (30, True, "m-pinned")
    assert [r.reason for r in got[4][next(iter(got[4]))]] == ["first", "quiet", "latest of a's"]
    assert await _after(engine, "t-none", NOW_MS) is None


@pytest.mark.unit
async def test_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "facts.db"
    await asyncio.to_thread(migrated_sqlite, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await _check(engine)
    finally:
        await engine.dispose()


async def test_on_postgresql(postgres: Postgres) -> None:
    postgres.reset_database()
    await asyncio.to_thread(migrate.upgrade, postgres.url)
    engine = make_engine(postgres.url)
    try:
        await _check(engine)
    finally:
        await engine.dispose()
