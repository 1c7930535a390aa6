"""The transcript writers' batch path on both databases (issue 18): rows and the search index
land together, a batch stored twice leaves one row and one index entry per message, a
tombstone written before the late insert wins, and a row the database refuses is set aside
while the rest of its batch is committed (the writer must not retry it for ever).

Real SQLite files and a real PostgreSQL and redis-server; no speed is asserted.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.keys import COMMITS_STREAM, DEAD_STREAM
from chat_server.protocol.message import message_frame
from chat_server.transcripts.redis_writer import RedisWriter
from persistence import accounts, migrate, moderation, room_facts, transcripts, transcripts_postgres
from persistence.db import make_engine, session_factory
from persistence.transcripts import NewMessage
from support.procs import RedisServer
from support.sqlite_db import migrated_database
from support.writer import eventually

ROOM = "store-room"


@pytest.fixture(params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession], int]]:
    """(url, sessions, an author's storage key) on a freshly migrated database."""
    url = await migrated_database(request, tmp_path)
    engine = make_engine(url)
    db = session_factory(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with db() as session:
        org = await accounts.add_org(session, "Store", "store", uuid.uuid4().hex, [], now)
        assert org.id is not None
        user = await accounts.create_user(session, org.id, "storer", "storer", "s@example.org", "x", now)
    assert user.id is not None
    yield url, db, user.id
    await engine.dispose()


def _rows(author: int, first_seq: int, n: int, word: str) -> list[NewMessage]:
    return [
        NewMessage(uuid.uuid4().hex, ROOM, first_seq + i, author, f"{word}-{first_seq + i}",
                   f"a note about {word} number {first_seq + i}", None, 1_700_000_000_000 + i)
        for i in range(n)
    ]


async def _search(db: async_sessionmaker[AsyncSession], word: str) -> list[int]:
    async with db() as session:
        found = await transcripts.search(session, word, [ROOM], 500, 0)
    return sorted(m.seq for m in found)


def _fts_entries(url: str, word: str) -> int | None:
    """SQLite only: index entries for ``word`` (a duplicate entry would count twice)."""
    if not url.startswith("sqlite"):
        return None
    con = sqlite3.connect(url.split("///", 1)[1])
    try:
        return int(con.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (word,)).fetchone()[0])
    finally:
        con.close()


# PostgreSQL stores small batches as one multi-row INSERT (up to 8 rows as they are, then
# padded to a multiple of 8 with copies of the last row, which ON CONFLICT skips) and bigger
# ones with COPY (falling back to a staged INSERT when a row is already there): sizes exact
# and padded, on both sides of the line.
@pytest.mark.parametrize("n", [3, 25, 40, transcripts_postgres.VALUES_INSERT_MAX + 50])
async def test_a_batch_stored_twice_is_one_row_and_one_index_entry_each(
    database: tuple[str, async_sessionmaker[AsyncSession], int], n: int,
) -> None:
    url, db, author = database
    first = _rows(author, 1, n, "heron")
    async with db() as session:
        assert await transcripts.store(session, first) == n
    # The same batch again (a writer killed between commit and acknowledgement), with more.
    again = first + _rows(author, n + 1, 10, "heron")
    async with db() as session:
        assert await transcripts.store(session, again) == 10
    assert await _search(db, "heron") == list(range(1, n + 11))
    assert _fts_entries(url, "heron") in (None, n + 10)
    async with db() as session:
        assert await room_facts.stored_head(await session.connection(), ROOM) == n + 10


async def test_a_tombstone_written_first_wins_over_the_late_insert(
    database: tuple[str, async_sessionmaker[AsyncSession], int],
) -> None:
    """A navigator removed the message before the writer got to it: the tombstone row is
    written from the frame, and the writer's insert of the body then changes nothing."""
    url, db, author = database
    late = _rows(author, 1, 3, "otter")
    removed = late[1]
    async with db() as session:
        fallback = {"room": removed.room, "seq": removed.seq, "author_id": removed.author_id,
                    "cid": removed.cid, "reply_to": None, "thread_root": None,
                    "created_ms": removed.created_ms}
        await moderation.remove_body(session, removed.id, 1_800_000_000_000, fallback)
        await session.commit()
    async with db() as session:
        assert await transcripts.store(session, late) == 2
    assert await _search(db, "otter") == [1, 3]
    assert _fts_entries(url, "otter") in (None, 2)
    async with db() as session:
        stored = await transcripts.by_id(session, removed.id)
    assert stored is not None and stored.body is None and stored.deleted


async def test_a_refused_row_is_set_aside_and_the_rest_of_its_batch_committed(
    database: tuple[str, async_sessionmaker[AsyncSession], int], redis_server: RedisServer
) -> None:
    """One entry names an author that does not exist (a foreign-key violation): the writer
    commits the other rows, moves that entry to the dead stream and goes on. On PostgreSQL
    the driver's own error (asyncpg's, not SQLAlchemy's) once looked like an outage, and the
    writer retried the whole batch for ever."""
    url, db, author = database
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    rows = _rows(author, 1, 30, "wren")
    doomed = 17
    for row in rows:
        frame = message_frame(row.room, row.id, row.seq, {"id": "u", "handle": "h", "role": "member"},
                              row.body, None, row.created_ms, None)
        who = 999_999 if row.seq == doomed else author
        await redis.xadd(COMMITS_STREAM, {"r": row.room, "s": row.seq, "a": who, "c": row.cid, "f": frame})
    writer = RedisWriter(redis, db, batch=1000, claim_idle_s=60, consumer="store-test")
    writer.start()
    try:
        async def settled() -> bool:
            return writer.committed == 29 and await redis.xlen(DEAD_STREAM) == 1

        await eventually(settled, 30, "29 rows committed and one entry set aside")
        assert await redis.xlen(COMMITS_STREAM) == 0
    finally:
        await writer.stop()
        await redis.aclose()
    assert await _search(db, "wren") == [s for s in range(1, 31) if s != doomed]
    assert _fts_entries(url, "wren") in (None, 29)


async def test_two_writers_on_one_sqlite_file_wait_for_each_other(tmp_path: Path) -> None:
    """Two processes' writers (here: two engines) committing batches into one SQLite file at
    once: each waits for the other's write lock (busy_timeout) instead of failing with
    "database is locked", which a transaction begun on the temporary table could not do."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engines = [make_engine(url), make_engine(url)]
    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        async with session_factory(engines[0])() as session:
            org = await accounts.add_org(session, "Two", "two", uuid.uuid4().hex, [], now)
            assert org.id is not None
            user = await accounts.create_user(session, org.id, "two", "two", "t@example.org", "x", now)
        assert user.id is not None
        author = user.id

        async def writer(k: int) -> int:
            db = session_factory(engines[k])
            stored = 0
            for b in range(40):
                first = 1 + (b * 2 + k) * 100
                async with db() as session:
                    stored += await transcripts.store(session, _rows(author, first, 100, f"lark{k}"))
            return stored

        assert await asyncio.gather(writer(0), writer(1)) == [4000, 4000]
        async with session_factory(engines[0])() as session:
            assert await room_facts.stored_head(await session.connection(), ROOM) == 8000
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.parametrize("scale", [1, 2])  # batches of 100 rows (one INSERT) and 200 (COPY)
async def test_two_writers_storing_overlapping_batches_at_once_leave_each_row_once(
    database: tuple[str, async_sessionmaker[AsyncSession], int], scale: int,
) -> None:
    """A writer retrying what another took over: both batches hold the same rows, in opposite
    orders, committed at once. On PostgreSQL the batch is first COPYed straight in; the one
    that meets the other's rows must wait, then fall back to skipping them (never deadlock or
    fail), and every row is stored and searchable once."""
    url, db, author = database
    for round_ in range(5 // scale):
        size = 100 * scale
        shared = _rows(author, 1 + round_ * size, 60 * scale, "plover")
        own = [_rows(author, 1 + 60 * scale + round_ * size + k * 20 * scale, 20 * scale, "plover")
               for k in range(2)]

        async def write(rows: list[NewMessage]) -> int:
            async with db() as session:
                return await transcripts.store(session, rows)

        stored = await asyncio.gather(write(shared + own[0]), write(own[1] + shared[::-1]))
        assert sum(stored) == size and min(stored) >= 20 * scale
    total = 100 * scale * (5 // scale)
    assert await _search(db, "plover") == list(range(1, total + 1))  # _search shows at most 500
    assert _fts_entries(url, "plover") in (None, total)
