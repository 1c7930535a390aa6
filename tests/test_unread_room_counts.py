"""The room counts of ``GET /api/me/unread`` (``unread.room_counts_at``) read only the
messages after each room's read mark, and answer as the join they replace did
(``support.unread_join``), on real SQLite and PostgreSQL databases.

The join took the mark from ``room_reads`` row by row, so the mark filtered every message of
each room instead of bounding the index range: every page load read the whole history of
every room one sees. Now the mark bounds a range on (room, seq) and the count stops at
``MAX_COUNTED`` (all it reports), so a room never visited reads about that many rows.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import migrate, unread
from persistence.db import make_engine, session_factory
from persistence.models import Message
from support.procs import Postgres
from support.sqlite_db import migrated_database
from support.stored import org_members, store_messages
from support.unread_join import joined_room_counts


class Db:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.session = session_factory(self.engine)
        self.users: list[int] = []  # the reader first

    async def store(self, rows: list[tuple[str, int, int]]) -> None:
        """(room, seq, author) rows."""
        await store_messages(self.session, rows)

    async def statement_of(self, rooms: list[str]) -> tuple[str, Any]:
        """The SQL ``room_counts_at`` runs for ``rooms``, its values inline; and its answer."""
        return await self.statement_of_call(lambda db: unread.room_counts_at(db, self.users[0], rooms))

    async def statement_of_call(self, call: Callable[[AsyncSession], Awaitable[Any]]) -> tuple[str, Any]:
        """The one SQL statement ``call`` runs, its values inline; and its answer."""
        async with self.session() as db:
            captured: list[Any] = []
            real = db.exec

            async def capture(statement: Any, **kw: Any) -> Any:
                captured.append(statement)
                return await real(statement, **kw)

            db.exec = capture  # type: ignore[method-assign]
            answer = await call(db)
        assert len(captured) == 1
        sql = str(captured[0].compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        return sql, answer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    found = Db(await migrated_database(request, tmp_path))
    try:
        found.users = await org_members(found.session, ("reader", "maple", "birch"))
        yield found
    finally:
        await found.engine.dispose()


async def _agree(s: AsyncSession, reader: int, rooms: list[str]) -> dict[str, unread.Counted]:
    """The bounded counts, checked against the join's and, room by room, the count after the
    mark each reports (``counted_after``, the ``unread`` frame's)."""
    found = await unread.room_counts_at(s, reader, rooms)
    assert found == await joined_room_counts(s, reader, rooms)
    for room in set(rooms):
        mark = found[room].mark if room in found else (await unread.read_marks(s, reader, [room])).get(room, 0)
        assert await unread.counted_after(s, reader, room, mark, None) == found.get(room)
    return found


async def test_the_counts_agree_with_the_join_on_random_rooms(db: Db) -> None:
    reader = db.users[0]
    for seed in range(4):
        rng = random.Random(seed)
        rooms = [f"s{seed}-room-{i}" for i in range(8)]
        rows: list[tuple[str, int, int]] = []
        for room in rooms[:-1]:  # the last room has no messages
            size = rng.choice([0, 1, 3, 40, 99, 100, 101, 180, 260])
            seqs = sorted(rng.sample(range(1, size + 20), size))  # some seqs never stored
            # Mostly others, sometimes the reader (never counted); runs of one author.
            weights = rng.choice([[1, 3, 3], [0, 1, 0], [1, 0, 0], [5, 1, 1]])
            rows += [(room, seq, rng.choices(db.users, weights)[0]) for seq in seqs]
        rows += [(f"s{seed}-capped", seq, db.users[2]) for seq in range(1, 151)]  # past the cap, no mark
        rooms.append(f"s{seed}-capped")
        await db.store(rows)
        async with db.session() as s:
            removed = [(room, seq) for room, seq, _ in rows if rng.random() < 0.2]
            for room, seq in removed:
                await s.exec(update(Message).where(col(Message.room) == room, col(Message.seq) == seq)
                             .values(body=None))
            await s.commit()
            for room in rooms:  # no mark, 0, inside the room, at or past its newest
                if room.endswith("-capped"):
                    continue
                top = max([q for r, q, _ in rows if r == room], default=0)
                choice = rng.choice(["none", "zero", "inside", "inside", "top", "past"])
                if choice != "none":
                    seq = {"zero": 0, "inside": rng.randint(0, top + 1), "top": top, "past": top + 5}[choice]
                    await unread.mark_room(s, reader, room, seq)
        asked = [*rooms, rooms[0], rooms[3], f"s{seed}-nowhere"]  # repeats, a room of nothing
        rng.shuffle(asked)
        async with db.session() as s:
            found = await _agree(s, reader, asked)
            assert found[f"s{seed}-capped"].count == unread.MAX_COUNTED
            for room in rooms:
                await _agree(s, reader, [room])
            assert await unread.room_counts_at(s, reader, []) == {}
            # More rooms than SQLite takes in one compound SELECT (500): an admin sees them all.
            many = [*asked, *(f"s{seed}-empty-{i}" for i in range(600))]
            assert await unread.room_counts_at(s, reader, many) == await joined_room_counts(s, reader, many)
            # Another member's view of the same rooms (no marks; the reader's messages count).
            assert await unread.room_counts_at(s, db.users[1], asked) == await joined_room_counts(
                s, db.users[1], asked)


async def _long_rooms(db: Db) -> list[str]:
    """Two rooms of 1,000 messages of others: read up to 990 in one, never visited in the other."""
    rooms = ["long-read", "long-unvisited"]
    await db.store([(room, seq, db.users[1]) for room in rooms for seq in range(1, 1001)])
    async with db.session() as s:
        await unread.mark_room(s, db.users[0], rooms[0], 990)
    return rooms


async def test_sqlite_reads_the_range_after_each_mark(db: Db, request: pytest.FixtureRequest) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan of SQLite; PostgreSQL's rows read are the next test's")
    rooms = await _long_rooms(db)
    sql, answer = await db.statement_of(rooms)
    assert answer == {"long-read": unread.Counted(10, 990, 1000), "long-unvisited": unread.Counted(100, 0, 1000)}
    async with db.engine.connect() as conn:
        plan = [row[-1] for row in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)).all()]
    on_messages = [step for step in plan if " messages " in f" {step} "]
    assert on_messages, plan
    # Each read of messages is a search of the (room, seq) index from the mark: none of a
    # whole room (room=?) or of the table.
    assert all(step.startswith("SEARCH messages USING INDEX") and step.endswith("(room=? AND seq>?)")
               for step in on_messages), plan


def _messages_rows_read(node: dict[str, Any]) -> int:
    """Rows PostgreSQL's plan nodes took from ``messages`` (its table or its index), every loop."""
    total = 0
    loops = int(node.get("Actual Loops", 1))
    if node.get("Relation Name") == "messages" or str(node.get("Index Name", "")).startswith(("uq_messages", "messages")):
        taken = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) \
            + node.get("Rows Removed by Index Recheck", 0)
        total += int(taken) * loops
    return total + sum(_messages_rows_read(child) for child in node.get("Plans", []))


@pytest.mark.postgres
async def test_postgres_reads_about_the_rows_after_each_mark(postgres: Postgres, tmp_path: Path) -> None:
    await asyncio.to_thread(postgres.reset_database)
    await asyncio.to_thread(migrate.upgrade, postgres.url)
    db = Db(postgres.url)
    try:
        db.users = await org_members(db.session, ("reader", "maple"))
        rooms = await _long_rooms(db)
        async with db.engine.begin() as conn:  # committed: a rolled back ANALYZE keeps no statistics
            await conn.exec_driver_sql("ANALYZE")
        sql, answer = await db.statement_of(rooms)
        assert answer == {"long-read": unread.Counted(10, 990, 1000), "long-unvisited": unread.Counted(100, 0, 1000)}
        async with db.engine.connect() as conn:
            raw = (await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar_one()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        read = _messages_rows_read(plan)
        # The read room: its 10 after the mark, twice (the count, the newest from the top);
        # the unvisited one: the first 100 and its newest. The join read all 2,000.
        assert read <= 2 * 10 + 100 + 1, (read, json.dumps(plan, indent=1))

        # The ``unread`` frame's count after a mark just set (``counted_after``) is bounded
        # the same way: about MAX_COUNTED rows, not every message after the mark (1,000).
        sql, answer = await db.statement_of_call(
            lambda s: unread.counted_after(s, db.users[0], "long-unvisited", 0, None))
        assert answer == unread.Counted(100, 0, 1000)
        async with db.engine.connect() as conn:
            raw = (await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar_one()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        read = _messages_rows_read(plan)
        assert read <= 100 + 1, (read, json.dumps(plan, indent=1))
    finally:
        await db.engine.dispose()
