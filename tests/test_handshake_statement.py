"""The handshakes' batched session read (persistence/handshake.py) sends one SQL text whatever
the batch's size, on SQLite and on PostgreSQL: the digests (and the staff's user ids) go in as
one parameter, not an expanding ``IN`` whose text, compiled and prepared again, changed with
every size. And the answers are still each session's own: its member, whom they blocked, its
staff rooms; an expired or unknown session absent. Real migrated databases, the join path's
own pool (persistence/hot_reads.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from chat_server.runtime import lean_handshakes
from persistence import migrate
from persistence.db import make_engine
from persistence.hot_reads import HotReads
from persistence.models import Block, Organization, Session, StaffAssignment, User
from rooms.roles import Role
from support.procs import Postgres
from support.sqlite_db import migrated_sqlite


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = await asyncio.to_thread(migrated_sqlite, tmp_path / "kindred.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.url
        await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _id(model: Any) -> Any:
    return model.__table__.c.id


async def _people(engine: AsyncEngine) -> dict[str, int]:
    """Ann (blocked Bea), Bea, Nav (a navigator of "nat-one"); live sessions a, b, n; an expired
    session e of Bea's. Their user ids by handle."""
    now = datetime.now(UTC).replace(tzinfo=None)
    async with engine.begin() as conn:
        org = (await conn.execute(insert(Organization).values(
            slug="hs-test", name="Handshake test", key_digest="-" * 64, created_at=now,
        ).returning(_id(Organization)))).scalar_one()
        ids: dict[str, int] = {}
        for handle, role in (("ann", Role.MEMBER), ("bea", Role.MEMBER), ("nav", Role.NAVIGATOR)):
            ids[handle] = (await conn.execute(insert(User).values(
                public_id=f"p-{handle}", org_id=org, handle=handle, handle_key=handle,
                email=f"{handle}@example.invalid", password_hash="-", role=role.value,
                created_at=now).returning(_id(User)))).scalar_one()
        await conn.execute(insert(Block).values(
            blocker_id=ids["ann"], blocked_id=ids["bea"], created_ms=1))
        await conn.execute(insert(StaffAssignment).values(user_id=ids["nav"], community="nat-one"))
        live, dead = now + timedelta(hours=1), now - timedelta(hours=1)
        await conn.execute(insert(Session), [
            {"token_digest": d * 64, "user_id": ids[who], "created_at": now, "expires_at": until}
            for d, who, until in (("a", "ann", live), ("b", "bea", live), ("n", "nav", live),
                                  ("e", "bea", dead))])
    return ids


async def test_every_batch_size_is_one_statement_with_each_sessions_own_answer(
    engine: AsyncEngine,
) -> None:
    await _people(engine)
    texts: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        texts.append(statement)

    hot = HotReads(engine)  # on PostgreSQL an engine (a pool) of its own
    event.listen(hot.engine.sync_engine, "before_cursor_execute", seen)
    batches = [["a" * 64], ["a" * 64, "b" * 64], ["a" * 64, "b" * 64, "n" * 64],
               ["b" * 64, "e" * 64, "u" * 64, "n" * 64, "a" * 64], ["n" * 64]]
    try:
        answers = [await lean_handshakes(hot, batch) for batch in batches]
    finally:
        event.remove(hot.engine.sync_engine, "before_cursor_execute", seen)
        await hot.close()

    sessions = {t for t in texts if "sessions" in t}
    staff = {t for t in texts if "staff_assignments" in t}
    assert len(sessions) == 1, sessions
    assert len(staff) == 1, staff  # read for Nav in three batches of different sizes
    assert sum("staff_assignments" in t for t in texts) == 3

    for batch, found in zip(batches, answers, strict=True):
        assert set(found) == {d for d in batch if d[0] in "abn"}
    everyone = answers[3]
    assert everyone["a" * 64].member.id == "p-ann"
    assert everyone["a" * 64].hidden == frozenset({"p-bea"})
    assert everyone["b" * 64].member.id == "p-bea" and everyone["b" * 64].hidden == frozenset()
    assert everyone["b" * 64].assigned == frozenset()
    assert everyone["n" * 64].member.role is Role.NAVIGATOR
    assert everyone["n" * 64].assigned == frozenset({"nat-one"})
